//! NVIDIA's per-GPU claim set (claims version 3.0): a GPU appraisal as NVIDIA's verifier or NRAS would
//! state it, so their consumers can switch to ccgpu without changes; and the appraisal's one-object JSON.
//!
//! Mapping: a check that passed is `true`, one that failed is `false`, one that did not run (or was
//! skipped by policy) is `null` — as NVIDIA's v3 claims are `null` for steps not reached. Revocation that
//! was not checked is `null` in `x-nvidia-cert-ocsp-status` and stated in `x-ccgpu-ocsp-status`, so no
//! consumer can mistake it for `good`. `secboot`/`dbgstat` appear only when the measurements matched.

use serde_json::{Map, Value, json};

use crate::appraisal::Outcome;
use crate::gpu::{ChainSummary, GpuAppraisal, GpuCheck, RevocationMode};

impl GpuAppraisal {
    /// The appraisal as NVIDIA v3 claims (plus `x-ccgpu-*` additions).
    pub fn nvidia_claims(&self) -> Map<String, Value> {
        let b = |check: GpuCheck| match self.checks.get(check) {
            Some(Outcome::Passed { .. }) => Value::Bool(true),
            Some(Outcome::Failed { .. }) => Value::Bool(false),
            _ => Value::Null,
        };
        let chain = |summary: Option<&ChainSummary>| match summary {
            Some(s) => json!({
                "x-nvidia-cert-expiration-date": s.expiration,
                "x-nvidia-cert-status": s.status,
                "x-nvidia-cert-ocsp-status": s.ocsp_status,
                "x-nvidia-cert-revocation-reason": s.revocation_reason,
            }),
            None => Value::Null,
        };
        let measres = match self.checks.get(GpuCheck::Measurements) {
            Some(Outcome::Passed { .. }) => json!("success"),
            Some(Outcome::Failed { .. }) => json!("fail"),
            _ => Value::Null,
        };
        let rim_available = |structure: GpuCheck, signature: GpuCheck, rim_chain: GpuCheck| {
            Value::Bool(self.checks.passed(structure) && self.checks.passed(signature) && self.checks.passed(rim_chain))
        };
        let mut c = Map::new();
        let mut put = |k: &str, v: Value| {
            c.insert(k.to_owned(), v);
        };
        put("measres", measres.clone());
        put("x-nvidia-gpu-arch-check", b(GpuCheck::Arch));
        put("x-nvidia-gpu-driver-version", json!(self.identity.driver_version));
        put("x-nvidia-gpu-vbios-version", json!(self.identity.vbios_version));
        put("x-nvidia-gpu-attestation-report-parsed", b(GpuCheck::ReportParsed));
        put("x-nvidia-gpu-attestation-report-nonce-match", b(GpuCheck::Nonce));
        put("x-nvidia-gpu-attestation-report-signature-verified", b(GpuCheck::ReportSignature));
        put("x-nvidia-gpu-attestation-report-cert-chain", chain(Some(&self.device_chain)));
        put("x-nvidia-gpu-attestation-report-cert-chain-fwid-match", b(GpuCheck::Fwid));
        put("x-nvidia-gpu-driver-rim-fetched", b(GpuCheck::DriverRimPresent));
        put("x-nvidia-gpu-driver-rim-schema-validated", b(GpuCheck::DriverRimStructure));
        put("x-nvidia-gpu-driver-rim-signature-verified", b(GpuCheck::DriverRimSignature));
        put("x-nvidia-gpu-driver-rim-cert-chain", chain(self.driver_rim_chain.as_ref()));
        put("x-nvidia-gpu-driver-rim-version-match", b(GpuCheck::DriverRimIdentity));
        put(
            "x-nvidia-gpu-driver-rim-measurements-available",
            rim_available(GpuCheck::DriverRimStructure, GpuCheck::DriverRimSignature, GpuCheck::DriverRimChain),
        );
        put("x-nvidia-gpu-vbios-rim-fetched", b(GpuCheck::VbiosRimPresent));
        put("x-nvidia-gpu-vbios-rim-schema-validated", b(GpuCheck::VbiosRimStructure));
        put("x-nvidia-gpu-vbios-rim-signature-verified", b(GpuCheck::VbiosRimSignature));
        put("x-nvidia-gpu-vbios-rim-cert-chain", chain(self.vbios_rim_chain.as_ref()));
        put("x-nvidia-gpu-vbios-rim-version-match", b(GpuCheck::VbiosRimIdentity));
        put(
            "x-nvidia-gpu-vbios-rim-measurements-available",
            rim_available(GpuCheck::VbiosRimStructure, GpuCheck::VbiosRimSignature, GpuCheck::VbiosRimChain),
        );
        put("x-nvidia-gpu-vbios-index-no-conflict", b(GpuCheck::IndexConflict));
        if measres == json!("success") {
            put("secboot", Value::Bool(true));
            put("dbgstat", json!("disabled"));
        }
        put("eat_nonce", json!(self.nonce));
        put("hwmodel", json!(self.identity.hwmodel));
        put("ueid", json!(self.identity.ueid));
        put("oemid", json!(self.oemid));
        put(
            "x-nvidia-attestation-warning",
            if self.warnings.is_empty() { Value::Null } else { json!(self.warnings.join("; ")) },
        );
        put(
            "x-ccgpu-ocsp-status",
            json!(match self.revocation {
                RevocationMode::NotChecked => "not-checked",
                RevocationMode::Checked => "checked",
            }),
        );
        c
    }

    /// The one-object JSON form: verdict, claims, failures, checks, identity and digests.
    pub fn to_json(&self) -> Value {
        json!({
            "verdict": self.verdict,
            "claims": self.nvidia_claims(),
            "failures": self.checks.failures().iter().map(|c| c.name()).collect::<Vec<_>>(),
            "checks": self.checks,
            "identity": self.identity,
            "rim_ids": self.rim_ids,
            "measurements": self.measurements,
            "nonce": self.nonce,
            "verified_at": self.verified_at,
            "warnings": self.warnings,
            "policy_sha384": self.policy_digest,
            "report_sha384": self.report_digest,
            "driver_rim_sha384": self.rim_digests.0,
            "vbios_rim_sha384": self.rim_digests.1,
        })
    }
}
