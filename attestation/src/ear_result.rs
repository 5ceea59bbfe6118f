//! Appraisals as IETF EAT Attestation Results (EAR, draft-ietf-rats-ear), the result format
//! Confidential Containers' Trustee speaks: one submodule per GPU (`gpu-0`, …), per NVSwitch
//! (`switch-0`, …) with one for the PPCIe topology (`topology`), and one for the CPU (`cpu`), each with an AR4SI trust tier (`affirming`, `warning`, `contraindicated`) and a trust vector.
//!
//! Built with the `ear` crate. Nothing here reads the clock: the issue time is an argument. Signing (JWT,
//! ES384) takes an operator-provided key; unsigned, the EAR is plain JSON.

use std::collections::BTreeMap;

use ::ear::{Appraisal, Ear, Extensions, Nonce, RawValue, TrustTier, TrustVector, VerifierID};

use crate::appraisal::{Check, Checks, Verdict};
use crate::bundle::CompositeAppraisal;
use crate::gpu::{GpuAppraisal, GpuCheck};
use crate::ppcie::TopologyAppraisal;
use crate::snp::{SnpAppraisal, SnpCheck};
use crate::switch::{SwitchAppraisal, SwitchCheck};

/// The EAR profile we emit.
pub const EAR_PROFILE: &str = ::ear::EAR_PROFILE;

/// AR4SI values used (per draft-ietf-rats-ar4si): 2 affirming, 96 contraindicated.
const AFFIRMING: i8 = 2;
const CONTRAINDICATED: i8 = 96;
/// `executables` 33: "unrecognized" (a measurement that matches no golden value).
const UNRECOGNIZED_EXECUTABLES: i8 = 33;

fn all_passed<C: Check>(checks: &Checks<C>, of: &[C]) -> Option<bool> {
    let seen: Vec<bool> = of.iter().filter_map(|c| checks.get(*c).map(|o| !o.blocks())).collect();
    (!seen.is_empty()).then(|| seen.iter().all(|x| *x))
}

fn claim(v: Option<bool>, bad: i8) -> i8 {
    match v {
        Some(true) => AFFIRMING,
        Some(false) => bad,
        None => 0,
    }
}

fn gpu_submod(a: &GpuAppraisal, policy_id: &str) -> Appraisal {
    let c = &a.checks;
    let mut tv = TrustVector::new();
    tv.instance_identity.set(claim(
        all_passed(c, &[GpuCheck::DeviceChain, GpuCheck::Fwid, GpuCheck::DeviceChainOcsp]),
        CONTRAINDICATED,
    ));
    tv.hardware.set(claim(
        all_passed(c, &[GpuCheck::Arch, GpuCheck::ReportSignature, GpuCheck::DeviceChain]),
        CONTRAINDICATED,
    ));
    tv.executables
        .set(claim(all_passed(c, &[GpuCheck::Measurements, GpuCheck::IndexConflict]), UNRECOGNIZED_EXECUTABLES));
    tv.configuration.set(claim(
        all_passed(
            c,
            &[
                GpuCheck::Policy,
                GpuCheck::DriverRimIdentity,
                GpuCheck::VbiosRimIdentity,
                GpuCheck::DriverRimChain,
                GpuCheck::VbiosRimChain,
            ],
        ),
        CONTRAINDICATED,
    ));
    let status = tier(a.verdict);
    let mut verifier_claims = BTreeMap::new();
    verifier_claims.insert(
        "failures".to_owned(),
        RawValue::Array(c.failures().iter().map(|f| RawValue::String(f.name().into())).collect()),
    );
    // Which RIMs this verdict used: a relay that swapped in another signed RIM (NVIDIA has signed RIMs with
    // one identity and different golden values) is caught by an attester comparing these with what it sent.
    for (claim, digest) in [("driver_rim_sha384", &a.rim_digests.0), ("vbios_rim_sha384", &a.rim_digests.1)] {
        if let Some(d) = digest {
            verifier_claims.insert(claim.to_owned(), RawValue::String(d.clone()));
        }
    }
    for (k, v) in a.nvidia_claims() {
        if let Some(raw) = json_to_raw(&v) {
            verifier_claims.insert(k, raw);
        }
    }
    submod(status, tv, policy_id, &a.nonce, verifier_claims)
}

fn switch_submod(a: &SwitchAppraisal, policy_id: &str) -> Appraisal {
    let c = &a.checks;
    let mut tv = TrustVector::new();
    tv.instance_identity.set(claim(
        all_passed(c, &[SwitchCheck::DeviceChain, SwitchCheck::Pdi, SwitchCheck::DeviceChainOcsp]),
        CONTRAINDICATED,
    ));
    tv.hardware.set(claim(
        all_passed(c, &[SwitchCheck::Arch, SwitchCheck::ReportSignature, SwitchCheck::DeviceChain]),
        CONTRAINDICATED,
    ));
    tv.executables.set(claim(all_passed(c, &[SwitchCheck::Measurements]), UNRECOGNIZED_EXECUTABLES));
    tv.configuration
        .set(claim(all_passed(c, &[SwitchCheck::VbiosRimIdentity, SwitchCheck::VbiosRimChain]), CONTRAINDICATED));
    let mut verifier_claims = BTreeMap::new();
    verifier_claims.insert(
        "failures".to_owned(),
        RawValue::Array(c.failures().iter().map(|f| RawValue::String(f.name().into())).collect()),
    );
    if let Some(pdi) = a.established_pdi() {
        verifier_claims.insert("pdi".to_owned(), RawValue::String(pdi.hex()));
    }
    if let Some(d) = &a.rim_digest {
        verifier_claims.insert("vbios_rim_sha384".to_owned(), RawValue::String(d.clone()));
    }
    if let Some(v) = &a.identity.vbios_version {
        verifier_claims.insert("vbios_version".to_owned(), RawValue::String(v.clone()));
    }
    submod(tier(a.verdict), tv, policy_id, &a.nonce, verifier_claims)
}

fn topology_submod(t: &TopologyAppraisal, policy_id: &str, nonce: &str) -> Appraisal {
    let mut tv = TrustVector::new();
    tv.instance_identity.set(if t.verdict == Verdict::Affirming { AFFIRMING } else { CONTRAINDICATED });
    let mut claims = BTreeMap::new();
    claims.insert(
        "failures".to_owned(),
        RawValue::Array(t.checks.failures().iter().map(|f| RawValue::String(f.name().into())).collect()),
    );
    let pdis = |list: &[Option<crate::nvidia::spdm::Pdi>]| {
        RawValue::Array(list.iter().map(|p| p.map_or(RawValue::Null, |p| RawValue::String(p.hex()))).collect())
    };
    claims.insert("gpu_pdis".to_owned(), pdis(&t.gpus));
    claims.insert("switch_pdis".to_owned(), pdis(&t.switches));
    submod(tier(t.verdict), tv, policy_id, nonce, claims)
}

fn cpu_submod(a: &SnpAppraisal, policy_id: &str, nonce: &str) -> Appraisal {
    let c = &a.checks;
    let mut tv = TrustVector::new();
    tv.hardware.set(claim(
        all_passed(c, &[SnpCheck::Ark, SnpCheck::Ask, SnpCheck::Vek, SnpCheck::ReportSignature, SnpCheck::Product]),
        CONTRAINDICATED,
    ));
    tv.instance_identity.set(claim(all_passed(c, &[SnpCheck::ReportData, SnpCheck::ChipId]), CONTRAINDICATED));
    tv.executables
        .set(claim(all_passed(c, &[SnpCheck::Measurement, SnpCheck::VekTcb, SnpCheck::MinTcb]), CONTRAINDICATED));
    tv.configuration
        .set(claim(all_passed(c, &[SnpCheck::GuestPolicy, SnpCheck::Vmpl, SnpCheck::HostData]), CONTRAINDICATED));
    let mut verifier_claims = BTreeMap::new();
    verifier_claims.insert(
        "failures".to_owned(),
        RawValue::Array(c.failures().iter().map(|f| RawValue::String(f.name().into())).collect()),
    );
    if let Some(m) = &a.identity.measurement {
        verifier_claims.insert("measurement".into(), RawValue::String(m.clone()));
    }
    if !a.warnings.is_empty() {
        verifier_claims.insert(
            "warnings".into(),
            RawValue::Array(a.warnings.iter().map(|w| RawValue::String(w.clone())).collect()),
        );
    }
    submod(tier(a.verdict), tv, policy_id, nonce, verifier_claims)
}

fn submod(
    status: TrustTier,
    trust_vector: TrustVector,
    policy_id: &str,
    nonce: &str,
    verifier_claims: BTreeMap<String, RawValue>,
) -> Appraisal {
    let mut a = Appraisal::new();
    a.status = status;
    a.trust_vector = trust_vector;
    a.policy_ids = vec![policy_id.to_owned()];
    a.nonce = nonce_of(nonce);
    a.verifier_claims = verifier_claims;
    a
}

/// The EAR nonce: the nonce's bytes (the `ear` crate encodes them as base64url), not its hex text.
fn nonce_of(hex_nonce: &str) -> Option<Nonce> {
    hex::decode(hex_nonce).ok().and_then(|bytes| Nonce::try_from(bytes.as_slice()).ok())
}

fn tier(verdict: Verdict) -> TrustTier {
    match verdict {
        Verdict::Affirming => TrustTier::Affirming,
        Verdict::Warning => TrustTier::Warning,
        Verdict::Contraindicated => TrustTier::Contraindicated,
    }
}

fn json_to_raw(v: &serde_json::Value) -> Option<RawValue> {
    Some(match v {
        serde_json::Value::Null => RawValue::Null,
        serde_json::Value::Bool(b) => RawValue::Bool(*b),
        serde_json::Value::Number(n) => RawValue::Integer(n.as_i64()?),
        serde_json::Value::String(s) => RawValue::String(s.clone()),
        serde_json::Value::Array(a) => RawValue::Array(a.iter().filter_map(json_to_raw).collect()),
        serde_json::Value::Object(o) => {
            RawValue::Map(o.iter().filter_map(|(k, v)| Some((RawValue::String(k.clone()), json_to_raw(v)?))).collect())
        }
    })
}

fn ear(submods: BTreeMap<String, Appraisal>, issued_at: i64, verifier_build: &str, nonce: &str) -> Ear {
    let worst = submods.values().map(|a| a.status).max().unwrap_or(TrustTier::None);
    Ear {
        profile: EAR_PROFILE.to_owned(),
        iat: issued_at,
        exp: None,
        vid: VerifierID { build: verifier_build.to_owned(), developer: "https://github.com/ccgpu/ccgpu".to_owned() },
        submods,
        nonce: nonce_of(nonce),
        status: Some(worst),
        raw_evidence: None,
        topology: None,
        extensions: Extensions::new(),
    }
}

/// `policy_id` for the EAR: the policy digest.
fn policy_id(digest: &str) -> String {
    format!("sha384:{digest}")
}

impl GpuAppraisal {
    /// This appraisal as an EAR with one submodule, `gpu-0`.
    pub fn to_ear(&self, issued_at: i64, verifier_build: &str) -> Ear {
        let mut submods = BTreeMap::new();
        submods.insert("gpu-0".to_owned(), gpu_submod(self, &policy_id(&self.policy_digest)));
        ear(submods, issued_at, verifier_build, &self.nonce)
    }
}

impl CompositeAppraisal {
    /// This appraisal as an EAR: `gpu-N` per GPU in binding order, `switch-N` per NVSwitch and `topology`
    /// (protected PCIe), `cpu` for the SNP report, and `bundle` for the bundle-level checks.
    pub fn to_ear(&self, issued_at: i64, verifier_build: &str) -> Ear {
        let pid = policy_id(&self.policy_digest);
        let mut submods = BTreeMap::new();
        for (i, g) in self.gpus.iter().enumerate() {
            let mut submod = gpu_submod(&g.appraisal, &pid);
            // Which evidence this verdict is about: a relying party's verdict must be checkable against
            // the evidence the attester sent, or a relay could swap in another VM's evidence.
            submod.verifier_claims.insert("evidence_sha384".to_owned(), RawValue::String(g.evidence_digest.clone()));
            submods.insert(format!("gpu-{i}"), submod);
        }
        for (i, s) in self.switches.iter().enumerate() {
            let mut submod = switch_submod(&s.appraisal, &pid);
            submod.verifier_claims.insert("evidence_sha384".to_owned(), RawValue::String(s.evidence_digest.clone()));
            submods.insert(format!("switch-{i}"), submod);
        }
        if let Some(t) = &self.topology {
            submods.insert("topology".to_owned(), topology_submod(t, &pid, &self.nonce));
        }
        if let Some(cpu) = &self.cpu {
            let mut submod = cpu_submod(cpu, &pid, &self.nonce);
            submod.verifier_claims.insert("report_sha384".to_owned(), RawValue::String(cpu.report_digest.clone()));
            submods.insert("cpu".to_owned(), submod);
        }
        let mut tv = TrustVector::new();
        tv.instance_identity.set(if self.checks.verdict() == Verdict::Affirming { AFFIRMING } else { CONTRAINDICATED });
        let mut claims = BTreeMap::new();
        claims.insert(
            "failures".to_owned(),
            RawValue::Array(self.failures().into_iter().map(RawValue::String).collect()),
        );
        claims.insert("expected_report_data".to_owned(), RawValue::String(self.expected_report_data.clone()));
        submods.insert("bundle".to_owned(), submod(tier(self.checks.verdict()), tv, &pid, &self.nonce, claims));
        ear(submods, issued_at, verifier_build, &self.nonce)
    }
}
