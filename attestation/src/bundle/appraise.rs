//! Appraising a composite bundle: every GPU with the GPU verifier, every NVSwitch with the switch verifier
//! and, in protected-PCIe mode, the board's topology; the CPU report with the SEV-SNP verifier against the
//! recomputed REPORT_DATA binding; one verdict for the whole.
//!
//! PPCIe (a GPU reports the protected-PCIe mode, or the bundle carries switches) requires a full,
//! consistent switch set: the `bundle-topology` check runs [`crate::appraise_topology`] over the PDIs of
//! the devices whose chains validated, and fails when the switches are missing or do not match.

use serde::Serialize;
use time::OffsetDateTime;

use super::check::BundleCheck;
use super::{EvidenceBundle, SwitchBundleEvidence};
use crate::appraisal::{Checks, Verdict};
use crate::cache::VerifierCache;
use crate::gpu::{GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, Revocation, appraise_gpu};
use crate::nvidia::anchors::Anchors;
use crate::nvidia::spdm::{AttestationReport, FeatureFlag};
use crate::ocsp::{OcspRequirement, OcspResponse};
use crate::policy::Policy;
use crate::ppcie::{DeviceLinks, TopologyAppraisal, appraise_topology};
use crate::snp::{AmdRoots, SnpAppraisal, SnpAppraise, SnpEvidence, SnpRevocation, appraise_snp};
use crate::switch::{SwitchAppraisal, SwitchEvidence, appraise_switch, device_pdi};
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

/// One NVSwitch's result inside a composite appraisal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchEntry {
    /// UUID as the bundle states it (not trusted).
    pub uuid: Option<String>,
    /// SHA-384 of the switch's evidence as bound into REPORT_DATA, hex.
    pub evidence_digest: String,
    /// The switch's appraisal.
    pub appraisal: SwitchAppraisal,
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
    /// Per NVSwitch, in binding order (protected PCIe).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<SwitchEntry>,
    /// The board's topology, when the bundle is protected PCIe and carries switches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<TopologyAppraisal>,
    /// The CPU appraisal.
    pub cpu: Option<SnpAppraisal>,
    /// SHA-384 of the effective policy, hex.
    pub policy_digest: String,
    /// Verification time.
    pub verified_at: String,
}

impl CompositeAppraisal {
    /// Names of every failing check, prefixed by its submodule (`gpu-0:`, `switch-0:`, `topology:`, `cpu:`,
    /// `bundle:`).
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.checks.failures().iter().map(|c| format!("bundle:{c}")).collect();
        if let Some(cpu) = &self.cpu {
            out.extend(cpu.checks.failures().iter().map(|c| format!("cpu:{c}")));
        }
        for (i, g) in self.gpus.iter().enumerate() {
            out.extend(g.appraisal.checks.failures().iter().map(|c| format!("gpu-{i}:{c}")));
        }
        for (i, s) in self.switches.iter().enumerate() {
            out.extend(s.appraisal.checks.failures().iter().map(|c| format!("switch-{i}:{c}")));
        }
        if let Some(t) = &self.topology {
            out.extend(t.checks.failures().iter().map(|c| format!("topology:{c}")));
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
/// drivers) are not counted. Reports that do not parse are judged by their own appraisal. The mode, when
/// any GPU states one.
fn gpu_mode(bundle: &EvidenceBundle) -> Result<Option<FeatureFlag>, String> {
    let modes: Vec<(usize, FeatureFlag)> = bundle
        .gpus
        .iter()
        .enumerate()
        .filter_map(|(i, g)| AttestationReport::parse(&g.report).ok()?.opaque().feature_flag.map(|f| (i, f)))
        .collect();
    match modes.split_first() {
        None => Ok(None),
        Some(((_, first), rest)) => match rest.iter().find(|(_, m)| m != first) {
            None => Ok(Some(*first)),
            Some((i, m)) => Err(format!(
                "GPU {i} reports topology {m:?} but GPU {} reports {first:?}: one VM, one mode",
                modes[0].0
            )),
        },
    }
}

/// Protected PCIe requires a full, consistent switch set: the `bundle-topology` check, and the topology
/// appraisal when there was one to run. Not recorded when the VM is not PPCIe and carries no switch.
fn ppcie_topology(
    checks: &mut Checks<BundleCheck>,
    mode: Option<FeatureFlag>,
    bundle: &EvidenceBundle,
    gpus: &[GpuEntry],
    switches: &[SwitchEntry],
) -> Option<TopologyAppraisal> {
    let check = BundleCheck::Topology;
    match (mode, switches.len()) {
        (Some(FeatureFlag::ProtectedPcie), 0) => {
            checks.fail(
                check,
                "the GPUs report protected-PCIe (PPCIe) mode, but the bundle carries no NVSwitch evidence: PPCIe \
                 requires a full, consistent switch set (the GPUs' isolation rests on the switches)",
            );
            return None;
        }
        (None, 0) | (Some(_), 0) => return None,
        (Some(m @ (FeatureFlag::SinglePassthrough | FeatureFlag::MultiPassthrough)), n) => {
            checks.fail(check, format!("the bundle carries {n} NVSwitch(es) but the GPUs report {m:?} mode"));
            return None;
        }
        _ => {}
    }
    let gpu_links: Vec<DeviceLinks> = bundle
        .gpus
        .iter()
        .zip(gpus)
        .map(|(g, e)| DeviceLinks {
            pdi: e.appraisal.checks.passed(GpuCheck::DeviceChain).then(|| device_pdi(&g.chain)).flatten(),
            peers: AttestationReport::parse(&g.report).ok().and_then(|r| r.opaque().connected_switch_pdis()),
        })
        .collect();
    let switch_links: Vec<DeviceLinks> = switches
        .iter()
        .map(|s| DeviceLinks { pdi: s.appraisal.established_pdi(), peers: s.appraisal.identity.gpu_pdis.clone() })
        .collect();
    let t = appraise_topology(&gpu_links, &switch_links);
    let failed: Vec<String> =
        t.checks.iter().filter(|r| r.outcome.blocks()).map(|r| format!("{}: {}", r.check, r.outcome.text())).collect();
    if failed.is_empty() {
        checks.pass(
            check,
            format!(
                "protected PCIe: {} GPUs and {} NVSwitches describe one another exactly",
                gpus.len(),
                switches.len()
            ),
        );
    } else {
        checks.fail(check, format!("protected PCIe topology: {}", failed.join("; ")));
    }
    Some(t)
}

/// Appraises a bundle without NVSwitches.
pub fn appraise_bundle(bundle: &EvidenceBundle, ctx: &BundleAppraise<'_>) -> CompositeAppraisal {
    appraise_bundle_with_switches(bundle, &[], ctx)
}

/// Appraises a bundle and its NVSwitches (protected PCIe).
pub fn appraise_bundle_with_switches(
    bundle: &EvidenceBundle,
    switches: &[SwitchBundleEvidence],
    ctx: &BundleAppraise<'_>,
) -> CompositeAppraisal {
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
    let mode = gpu_mode(bundle);
    match (bundle.gpus.len(), repeated_device(bundle), &mode) {
        (0, _, _) => checks.fail(BundleCheck::Gpus, "the bundle carries no GPU evidence"),
        (_, Some((j, i)), _) => checks.fail(
            BundleCheck::Gpus,
            format!("GPU {i} has the same device identity key as GPU {j}: one GPU cannot be counted twice"),
        ),
        (_, None, Err(mixed)) => checks.fail(BundleCheck::Gpus, mixed.clone()),
        (n, None, Ok(None)) => checks.pass(BundleCheck::Gpus, format!("{n} distinct GPU(s)")),
        (n, None, Ok(Some(m))) => checks.pass(BundleCheck::Gpus, format!("{n} distinct GPU(s), all in {m:?} mode")),
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

    let switch_digests: Vec<[u8; 48]> = switches.iter().map(SwitchBundleEvidence::digest).collect();
    let mut switch_entries = Vec::with_capacity(switches.len());
    for (s, digest) in switches.iter().zip(&switch_digests) {
        let mut responses: Vec<OcspResponse> = s.ocsp.iter().filter_map(|der| OcspResponse::parse(der).ok()).collect();
        let revocation = match ctx.revocation {
            BundleRevocation::NotChecked => Revocation::NotChecked,
            BundleRevocation::Responses { extra, device_at, rim_at } => {
                responses.extend_from_slice(extra);
                Revocation::Responses { responses: &responses, device_at, rim_at }
            }
        };
        let appraisal = appraise_switch(
            &SwitchEvidence { report: &s.report, chain: &s.chain, vbios_rim: s.vbios_rim.as_deref() },
            &GpuAppraise {
                nonce: &bundle.nonce,
                at: ctx.at,
                anchors: ctx.anchors,
                policy: ctx.policy,
                revocation,
                cache: Some(cache),
            },
        );
        switch_entries.push(SwitchEntry { uuid: s.uuid.clone(), evidence_digest: hex::encode(digest), appraisal });
    }
    let topology = ppcie_topology(&mut checks, mode.ok().flatten(), bundle, &gpus, &switch_entries);

    let expected = bundle.expected_report_data_with(switches);
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
            .chain(switch_entries.iter().map(|s| s.appraisal.verdict))
            .chain(topology.as_ref().map(|t| t.verdict))
            .chain(cpu.as_ref().map(|c| c.verdict)),
    );
    CompositeAppraisal {
        verdict,
        checks,
        nonce: hex::encode(bundle.nonce),
        expected_report_data: hex::encode(expected),
        gpus,
        switches: switch_entries,
        topology,
        cpu,
        policy_digest: ctx.policy.digest(),
        verified_at: rfc3339(ctx.at),
    }
}
