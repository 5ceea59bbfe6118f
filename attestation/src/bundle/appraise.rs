//! Appraising a composite bundle: every GPU with the GPU verifier, the CPU report with the SEV-SNP
//! verifier against the recomputed REPORT_DATA binding, one verdict for the whole.

use serde::Serialize;
use time::OffsetDateTime;

use super::EvidenceBundle;
use super::check::BundleCheck;
use crate::appraisal::{Checks, Verdict};
use crate::cache::VerifierCache;
use crate::gpu::{GpuAppraisal, GpuAppraise, GpuEvidence, Revocation, appraise_gpu};
use crate::nvidia::anchors::Anchors;
use crate::nvidia::spdm::{AttestationReport, FeatureFlag};
use crate::ocsp::{OcspRequirement, OcspResponse};
use crate::policy::Policy;
use crate::snp::{AmdRoots, SnpAppraisal, SnpAppraise, SnpEvidence, SnpRevocation, appraise_snp};
use crate::x509::rfc3339;

/// How revocation is handled for a bundle.
#[derive(Debug, Clone, Copy)]
pub enum BundleRevocation<'a> {
    /// Not checked (`--ocsp off`).
    NotChecked,
    /// Judge each GPU's bundled responses plus `extra` (fetched or recorded by the caller).
    Responses {
        /// Additional responses for every GPU.
        extra: &'a [OcspResponse],
        /// OCSP time for device chains.
        device_at: OffsetDateTime,
        /// OCSP time for RIM chains.
        rim_at: OffsetDateTime,
    },
}

/// Everything a bundle appraisal depends on besides the bundle.
#[derive(Debug, Clone, Copy)]
pub struct BundleAppraise<'a> {
    /// The nonce the verifier (or whoever it answers to) issued for this evidence. `None` only when the
    /// nonce's issuer checks freshness itself (it receives `eat_nonce` in the result); the policy's
    /// `bundle.require_nonce` decides whether that is acceptable.
    pub expected_nonce: Option<&'a [u8; 32]>,
    /// Verification time.
    pub at: OffsetDateTime,
    /// NVIDIA anchors.
    pub anchors: &'a Anchors,
    /// AMD roots.
    pub amd_roots: &'a AmdRoots,
    /// Policy.
    pub policy: &'a Policy,
    /// Revocation.
    pub revocation: BundleRevocation<'a>,
    /// Optional cache.
    pub cache: Option<&'a VerifierCache>,
}

/// One GPU's result inside a composite appraisal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuEntry {
    /// UUID as the bundle states it (not trusted).
    pub uuid: Option<String>,
    /// BDF as the bundle states it (not trusted).
    pub bdf: Option<String>,
    /// SHA-384 of the GPU's evidence as bound into REPORT_DATA, hex.
    pub evidence_digest: String,
    /// The GPU's appraisal.
    pub appraisal: GpuAppraisal,
}

/// The appraisal of a whole bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompositeAppraisal {
    /// Affirming only when every GPU, the CPU and the bundle-level checks are.
    pub verdict: Verdict,
    /// Bundle-level checks (CPU evidence present, at least one GPU).
    pub checks: Checks<BundleCheck>,
    /// The nonce, hex.
    pub nonce: String,
    /// The REPORT_DATA the CPU report must carry, hex.
    pub expected_report_data: String,
    /// Per GPU, in binding order.
    pub gpus: Vec<GpuEntry>,
    /// The CPU appraisal.
    pub cpu: Option<SnpAppraisal>,
    /// SHA-384 of the effective policy, hex.
    pub policy_digest: String,
    /// Verification time.
    pub verified_at: String,
}

impl CompositeAppraisal {
    /// Names of every failing check, prefixed by its submodule (`gpu-0:`, `cpu:`, `bundle:`).
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.checks.failures().iter().map(|c| format!("bundle:{c}")).collect();
        if let Some(cpu) = &self.cpu {
            out.extend(cpu.checks.failures().iter().map(|c| format!("cpu:{c}")));
        }
        for (i, g) in self.gpus.iter().enumerate() {
            out.extend(g.appraisal.checks.failures().iter().map(|c| format!("gpu-{i}:{c}")));
        }
        out
    }
}

/// The first pair of GPUs presenting the same device: the same device identity key (the public key of
/// chain position 1, NVIDIA's per-GPU "GSP BROM" certificate; the whole chain if it has no readable
/// position 1). Two reports from one GPU differ in every signed byte, so comparing evidence digests would
/// not catch a GPU counted twice; nor would comparing certificate bytes, which an ECDSA signature's
/// malleability (`s` → `n − s`) lets a host re-encode while the certificate still verifies.
fn repeated_device(bundle: &EvidenceBundle) -> Option<(usize, usize)> {
    let ids: Vec<Vec<u8>> = bundle
        .gpus
        .iter()
        .map(|g| g.chain.public_key(1).map_or_else(|| g.chain.ders().concat(), <[u8]>::to_vec))
        .collect();
    ids.iter().enumerate().find_map(|(i, d)| ids[..i].iter().position(|e| e == d).map(|j| (j, i)))
}

/// The GPUs' topology mode (opaque feature flag: single-GPU passthrough, multi-GPU passthrough, protected
/// PCIe) must be one mode for the whole VM, as NVIDIA's verifier requires; GPUs without the flag (older
/// drivers) are not counted. Protected PCIe is refused: its security rests on NVSwitch evidence, which a
/// bundle does not carry (the verifier refuses it itself, not only the guest's PCI scan). Reports that do
/// not parse are judged by their own appraisal.
fn topology(bundle: &EvidenceBundle) -> Result<String, String> {
    let modes: Vec<(usize, FeatureFlag)> = bundle
        .gpus
        .iter()
        .enumerate()
        .filter_map(|(i, g)| AttestationReport::parse(&g.report).ok()?.opaque().feature_flag.map(|f| (i, f)))
        .collect();
    match modes.split_first() {
        None => Ok(String::new()),
        Some(((i, FeatureFlag::ProtectedPcie), _)) => Err(format!(
            "GPU {i} reports protected-PCIe (PPCIe) mode, but the bundle carries no NVSwitch evidence: in PPCIe \
             mode the GPUs' isolation rests on the switches, which nothing here attests"
        )),
        Some(((_, first), rest)) => match rest.iter().find(|(_, m)| m != first) {
            None => Ok(format!(", all in {first:?} mode")),
            Some((i, m)) => Err(format!(
                "GPU {i} reports topology {m:?} but GPU {} reports {first:?}: one VM, one mode",
                modes[0].0
            )),
        },
    }
}

/// Appraises a bundle.
pub fn appraise_bundle(bundle: &EvidenceBundle, ctx: &BundleAppraise<'_>) -> CompositeAppraisal {
    let local;
    let cache = match ctx.cache {
        Some(c) => c,
        None => {
            local = VerifierCache::new();
            &local
        }
    };
    let mut checks = Checks::default();
    let digests: Vec<[u8; 48]> = bundle.gpus.iter().map(|g| g.digest()).collect();
    match (bundle.gpus.len(), repeated_device(bundle), topology(bundle)) {
        (0, _, _) => checks.fail(BundleCheck::Gpus, "the bundle carries no GPU evidence"),
        (_, Some((j, i)), _) => checks.fail(
            BundleCheck::Gpus,
            format!("GPU {i} has the same device identity key as GPU {j}: one GPU cannot be counted twice"),
        ),
        (_, None, Err(mixed)) => checks.fail(BundleCheck::Gpus, mixed),
        (n, None, Ok(mode)) => checks.pass(BundleCheck::Gpus, format!("{n} distinct GPU(s){mode}")),
    }

    match ctx.expected_nonce {
        Some(n) if n == &bundle.nonce => checks.pass(BundleCheck::Nonce, "the bundle carries the expected nonce"),
        Some(n) => checks.fail(
            BundleCheck::Nonce,
            format!(
                "the bundle carries nonce {}, not the expected {}: stale or replayed",
                hex::encode(bundle.nonce),
                hex::encode(n)
            ),
        ),
        None if ctx.policy.bundle.require_nonce => checks.fail(
            BundleCheck::Nonce,
            "no expected nonce was given, so this bundle could be a replay (policy bundle.require_nonce)",
        ),
        None => checks.skip(BundleCheck::Nonce, "freshness is left to the nonce's issuer (eat_nonce in the result)"),
    }

    let mut gpus = Vec::with_capacity(bundle.gpus.len());
    for g in &bundle.gpus {
        let mut responses: Vec<OcspResponse> = g.ocsp.iter().filter_map(|der| OcspResponse::parse(der).ok()).collect();
        let revocation = match ctx.revocation {
            BundleRevocation::NotChecked => Revocation::NotChecked,
            BundleRevocation::Responses { extra, device_at, rim_at } => {
                responses.extend_from_slice(extra);
                Revocation::Responses { responses: &responses, device_at, rim_at }
            }
        };
        let evidence = GpuEvidence {
            report: &g.report,
            chain: &g.chain,
            driver_rim: g.driver_rim.as_deref(),
            vbios_rim: g.vbios_rim.as_deref(),
        };
        let appraisal = appraise_gpu(
            &evidence,
            &GpuAppraise {
                nonce: &bundle.nonce,
                at: ctx.at,
                anchors: ctx.anchors,
                policy: ctx.policy,
                revocation,
                cache: Some(cache),
            },
        );
        gpus.push(GpuEntry {
            uuid: g.uuid.clone(),
            bdf: g.bdf.clone(),
            evidence_digest: hex::encode(digests[gpus.len()]),
            appraisal,
        });
    }

    let expected = bundle.expected_report_data();
    let cpu = match &bundle.cpu {
        Some(c) => {
            checks.pass(BundleCheck::Cpu, "SEV-SNP evidence present");
            Some(appraise_snp(
                &SnpEvidence { report: &c.report, vek: &c.vek, ask_ark: c.ask_ark.as_deref() },
                &SnpAppraise {
                    at: ctx.at,
                    expected_report_data: Some(&expected),
                    policy: &ctx.policy.snp,
                    roots: ctx.amd_roots,
                    cache: Some(cache),
                    // A bundle carries no CRL: AMD's CRL is checked by `verify snp --crl`.
                    revocation: SnpRevocation::NotChecked {
                        required: ctx.policy.ocsp.require == OcspRequirement::Required,
                    },
                },
            ))
        }
        None if ctx.policy.bundle.require_cpu_evidence => {
            checks.fail(
                BundleCheck::Cpu,
                "no CPU TEE evidence: nothing binds the GPU reports to this VM (policy bundle.require_cpu_evidence)",
            );
            None
        }
        None => {
            checks.skip(BundleCheck::Cpu, "no CPU TEE evidence; policy bundle.require_cpu_evidence is false");
            None
        }
    };

    // The worst part decides: one contraindicated part makes the bundle contraindicated, one warning
    // (and nothing worse) makes it a warning.
    let verdict = Verdict::worst(
        std::iter::once(checks.verdict())
            .chain(gpus.iter().map(|g| g.appraisal.verdict))
            .chain(cpu.as_ref().map(|c| c.verdict)),
    );
    CompositeAppraisal {
        verdict,
        checks,
        nonce: hex::encode(bundle.nonce),
        expected_report_data: hex::encode(expected),
        gpus,
        cpu,
        policy_digest: ctx.policy.digest(),
        verified_at: rfc3339(ctx.at),
    }
}
