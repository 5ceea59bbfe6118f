//! Appraisal of one GPU's evidence: report, device chain, RIMs and measurements, each as its own check.
//!
//! Inputs are everything the decision depends on — evidence bytes, the expected nonce, the verification
//! time, the trust anchors and the policy — and the output is a [`GpuAppraisal`] recording every check.
//! Nothing is read from the environment. Checks that can run independently do, so an appraisal names
//! every problem, not just the first; a check whose inputs are untrustworthy is recorded as not run.

use serde::Serialize;
use time::OffsetDateTime;

use crate::anchors::Anchors;
use crate::appraisal::{Check, Checks, Verdict};
use crate::arch::{GpuArch, chip_from_common_name};
use crate::cache::VerifierCache;
use crate::crypto;
use crate::measurements::{self, Comparison};
use crate::ocsp::{
    self, CertRevocation, OcspError, OcspOptions, OcspQuery, OcspRequirement, OcspResponse, check_certificate,
};
use crate::policy::Policy;
use crate::rim::{self, RimChainError, RimIds, RimVerification};
use crate::spdm::{AttestationReport, Nvdec0Status};
use crate::x509::{CertChain, ChainRule, TrustAnchor, ValidatedChain, describe, leaf_fwid, parse_one, rfc3339};

/// How revocation is to be established for this appraisal.
#[derive(Debug, Clone, Copy)]
pub enum Revocation<'a> {
    /// OCSP explicitly turned off: revocation is recorded as not checked (refused when the policy
    /// requires OCSP).
    NotChecked,
    /// Judge these responses (recorded, or fetched by the caller), at the given times: `device_at` for the
    /// device chain, `rim_at` for the RIM chains (recorded responses are not all fresh at one instant).
    Responses {
        /// Every available response; each certificate uses the one that names it.
        responses: &'a [OcspResponse],
        /// OCSP time for the device chain.
        device_at: OffsetDateTime,
        /// OCSP time for the RIM signing chains.
        rim_at: OffsetDateTime,
    },
}

/// How revocation was handled, as recorded in an appraisal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationMode {
    /// Not checked (`--ocsp off`).
    NotChecked,
    /// Checked against OCSP responses.
    Checked,
}

/// One GPU's evidence and the RIMs to appraise it against.
#[derive(Debug, Clone, Copy)]
pub struct GpuEvidence<'a> {
    /// The attestation report as received (binary).
    pub report: &'a [u8],
    /// The device certificate chain, leaf first.
    pub chain: &'a CertChain,
    /// The driver RIM document, if available.
    pub driver_rim: Option<&'a [u8]>,
    /// The VBIOS RIM document, if available.
    pub vbios_rim: Option<&'a [u8]>,
}

/// Everything else a verification depends on.
#[derive(Debug, Clone, Copy)]
pub struct Appraise<'a> {
    /// The nonce the verifier asked the GPU to sign.
    pub nonce: &'a [u8; 32],
    /// The time at which certificates must be valid.
    pub at: OffsetDateTime,
    /// Trust anchors.
    pub anchors: &'a Anchors,
    /// Policy.
    pub policy: &'a Policy,
    /// How revocation is handled.
    pub revocation: Revocation<'a>,
    /// Optional cache of verified certificate links and RIM signatures (never changes a verdict).
    pub cache: Option<&'a VerifierCache>,
}

/// Who the GPU says it is (from the report and chain; trustworthy only if the verdict is affirming).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GpuIdentity {
    /// Architecture.
    pub arch: Option<GpuArch>,
    /// Common name of chain certificate 1 (NVIDIA's `hwmodel`), e.g. `GH100 A01 GSP BROM`.
    pub hwmodel: Option<String>,
    /// Chip family, e.g. `GH100`.
    pub chip: Option<String>,
    /// Attestation certificate serial, decimal (NVIDIA's `ueid`).
    pub ueid: Option<String>,
    /// Driver version from the report.
    pub driver_version: Option<String>,
    /// VBIOS version from the report, dotted upper case.
    pub vbios_version: Option<String>,
    /// Project / project SKU / chip SKU from the report.
    pub board: Option<String>,
    /// FWID from the report, hex.
    pub fwid: Option<String>,
    /// NVDEC0 status.
    pub nvdec0: Option<Nvdec0Status>,
}

/// Summary of one certificate chain for claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    /// `valid`, `expired` or `invalid` (NVIDIA's cert-status values).
    pub status: &'static str,
    /// Earliest notAfter along the path, RFC 3339, when the chain could be read.
    pub expiration: Option<String>,
    /// Worst OCSP status established (`good`, `revoked`, `unknown`); `None` when not established.
    pub ocsp_status: Option<&'static str>,
    /// Revocation reason, when a revoked status was accepted (certificateHold) or refused.
    pub revocation_reason: Option<String>,
}

impl ChainSummary {
    fn new(status: &'static str, expiration: Option<String>) -> Self {
        Self { status, expiration, ocsp_status: None, revocation_reason: None }
    }
}

/// The full appraisal of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuAppraisal {
    /// Affirming only when every check passed (or was skipped by explicit policy).
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks,
    /// The GPU's identity as claimed by the evidence.
    pub identity: GpuIdentity,
    /// RIM ids the report implies.
    pub rim_ids: Option<RimIds>,
    /// Measurement comparison, when it ran.
    pub measurements: Option<Comparison>,
    /// Device chain summary.
    pub device_chain: ChainSummary,
    /// Driver RIM chain summary.
    pub driver_rim_chain: Option<ChainSummary>,
    /// VBIOS RIM chain summary.
    pub vbios_rim_chain: Option<ChainSummary>,
    /// `oemid` from the driver RIM (TCG FirmwareManufacturerId).
    pub oemid: Option<String>,
    /// Expected nonce, hex.
    pub nonce: String,
    /// Verification time, RFC 3339.
    pub verified_at: String,
    /// How revocation was handled.
    pub revocation: RevocationMode,
    /// Things accepted only because the policy tolerates them (held or unknown certificates).
    pub warnings: Vec<String>,
    /// SHA-384 of the effective policy (canonical JSON), hex.
    pub policy_digest: String,
    /// SHA-384 of the report bytes, hex.
    pub report_digest: String,
    /// SHA-384 of each RIM document, hex: (driver, VBIOS).
    pub rim_digests: (Option<String>, Option<String>),
}

impl GpuAppraisal {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
}

/// The RIM ids a report implies, for locating RIM files before verification. The chip family is read
/// from the (not yet validated) device chain; nothing here is trusted.
pub fn implied_rim_ids(report: &AttestationReport, chain: &CertChain) -> Option<RimIds> {
    let chip = chain_chip(chain)?;
    let arch = GpuArch::from_chip(&chip)?;
    Some(RimIds::from_report(report.opaque(), &chip, arch))
}

/// Every certificate whose revocation status an appraisal of `evidence` needs — device chain positions
/// 1..n-2, each RIM signing chain's positions 0..n-2 — without duplicates (the RIM chains share their
/// upper certificates). For fetching responses at the edge before appraising; pass the cache the
/// appraisal will use, so each RIM is inspected once.
pub fn revocation_queries(evidence: &GpuEvidence<'_>, anchors: &Anchors, cache: &VerifierCache) -> Vec<OcspQuery> {
    let mut out: Vec<OcspQuery> =
        ocsp::queries(evidence.chain, &anchors.device, 1..=evidence.chain.len().saturating_sub(2));
    for xml in [evidence.driver_rim, evidence.vbios_rim].into_iter().flatten() {
        let inspection = cache.inspect_rim(xml);
        if let Some(chain) = inspection.signing_chain() {
            for q in ocsp::queries(chain, &anchors.rim, rim_ocsp_positions(chain, &anchors.rim)) {
                if !out.iter().any(|o| o.cert_id == q.cert_id) {
                    out.push(q);
                }
            }
        }
    }
    out
}

/// RIM chain positions whose revocation is checked: every certificate below the root (NVIDIA's reference
/// checks 0..2 of its 4-certificate chains); the root is the pinned anchor whether or not it is embedded.
fn rim_ocsp_positions(chain: &CertChain, anchor: &TrustAnchor) -> std::ops::RangeInclusive<usize> {
    let ends_with_anchor = chain.ders().last().is_some_and(|d| d.as_slice() == anchor.der());
    let below_root = if ends_with_anchor { chain.len().saturating_sub(1) } else { chain.len() };
    0..=below_root.saturating_sub(1)
}

fn chain_hwmodel(chain: &CertChain) -> Option<String> {
    let der = chain.ders().get(1)?;
    let cert = parse_one(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(cn)
}

fn chain_chip(chain: &CertChain) -> Option<String> {
    chip_from_common_name(&chain_hwmodel(chain)?).map(str::to_owned)
}

/// Appraises one GPU.
pub fn appraise_gpu(evidence: &GpuEvidence<'_>, ctx: &Appraise<'_>) -> GpuAppraisal {
    // Without a caller's cache, a per-call one still verifies each certificate link once: the two RIM
    // chains share their upper links.
    let local;
    let with_local;
    let ctx = match ctx.cache {
        Some(_) => ctx,
        None => {
            local = VerifierCache::new();
            with_local = Appraise { cache: Some(&local), ..*ctx };
            &with_local
        }
    };
    let mut checks = Checks::default();
    let mut identity = GpuIdentity::default();

    // 1. Report structure.
    let report = match AttestationReport::parse(evidence.report) {
        Ok(r) => {
            checks.pass(
                Check::ReportParsed,
                format!("SPDM 1.1 report, {} measurement blocks", r.response().blocks.len()),
            );
            Some(r)
        }
        Err(e) => {
            checks.fail(Check::ReportParsed, e.to_string());
            None
        }
    };
    if let Some(r) = &report {
        let o = r.opaque();
        identity.driver_version = o.driver_version.clone();
        identity.vbios_version = o.vbios_version.map(|v| v.dotted_upper());
        identity.board = match (&o.project, &o.project_sku, &o.chip_sku) {
            (Some(p), Some(ps), Some(cs)) => Some(format!("{p}/{ps}/{cs}")),
            _ => None,
        };
        identity.fwid = o.fwid.map(hex::encode);
        identity.nvdec0 = o.nvdec0_status;
    }

    // 2. Architecture, from the chain's device certificate.
    identity.hwmodel = chain_hwmodel(evidence.chain);
    identity.chip = chain_chip(evidence.chain);
    identity.arch = identity.chip.as_deref().and_then(GpuArch::from_chip);
    match (identity.arch, &identity.hwmodel) {
        (Some(arch), _) => checks.pass(Check::Arch, format!("{arch} ({})", identity.chip.as_deref().unwrap_or("?"))),
        (None, Some(hw)) => checks.fail(Check::Arch, format!("unknown GPU architecture for device certificate {hw:?}")),
        (None, None) => checks.fail(Check::Arch, "the device chain has no readable device certificate (position 1)"),
    }

    // 3. Device chain to the pinned root.
    let expected_len = identity.arch.map_or(5, GpuArch::device_chain_len);
    let device = crate::x509::validate_cached(
        evidence.chain,
        &ctx.anchors.device,
        ctx.at,
        ChainRule::ExactWithAnchor(expected_len),
        ctx.cache,
    );
    let mut warnings = Vec::new();
    let mut device_chain = summarize(&device, evidence.chain);
    match &device {
        Ok(v) => {
            identity.ueid = Some(v.leaf_serial_decimal.clone());
            checks.pass(
                Check::DeviceChain,
                format!(
                    "{} certificates to {}, valid until {}",
                    evidence.chain.len(),
                    ctx.anchors.device.name(),
                    rfc3339(v.valid_until)
                ),
            );
        }
        Err(e) => checks.fail(Check::DeviceChain, e.to_string()),
    }
    let device_positions = 1..=evidence.chain.len().saturating_sub(2);
    revocation_check(
        &mut checks,
        Check::DeviceChainOcsp,
        ctx,
        Some(evidence.chain),
        &ctx.anchors.device,
        device_positions,
        |r| match r {
            Revocation::Responses { device_at, .. } => Some(device_at),
            Revocation::NotChecked => None,
        },
        &mut device_chain,
        &mut warnings,
    );

    // 4. FWID binding between the attestation certificate and the report.
    let leaf = evidence.chain.ders().first().and_then(|d| parse_one(d).ok());
    match (&report, &leaf) {
        (Some(r), Some(leaf)) => match (leaf_fwid(leaf), r.opaque().fwid) {
            (Err(e), _) => checks.fail(Check::Fwid, e.to_string()),
            (Ok(Some(cert)), Some(rep)) if cert == rep => {
                checks.pass(Check::Fwid, format!("certificate and report FWID {}", hex::encode(rep)))
            }
            (Ok(Some(cert)), Some(rep)) => checks.fail(
                Check::Fwid,
                format!("certificate FWID {} differs from report FWID {}", hex::encode(cert), hex::encode(rep)),
            ),
            (Ok(None), Some(_)) => {
                checks.fail(Check::Fwid, "the report carries an FWID but the attestation certificate has none")
            }
            (Ok(_), None) if ctx.policy.gpu.allow_missing_fwid => {
                checks.skip(Check::Fwid, "the report carries no FWID; policy allow_missing_fwid accepts that")
            }
            (Ok(_), None) => checks
                .fail(Check::Fwid, "the report carries no FWID, so it cannot be bound to the attestation certificate"),
        },
        (None, _) => checks.not_run(Check::Fwid, "the report did not parse"),
        (_, None) => checks.not_run(Check::Fwid, "no readable attestation certificate"),
    }

    // 5. Report signature with the attestation key (authoritative only if the chain validated above).
    match (&report, &leaf) {
        (Some(r), Some(leaf)) => match crate::x509::leaf_public_key(leaf) {
            Ok(key) => match r.verify_signature(&key) {
                Ok(()) => checks.pass(
                    Check::ReportSignature,
                    format!("ECDSA P-384/SHA-384 over {} bytes, key of chain certificate 0", r.signed_bytes().len()),
                ),
                Err(e) => checks.fail(Check::ReportSignature, format!("{e} (key of chain certificate 0)")),
            },
            Err(e) => checks.fail(Check::ReportSignature, format!("attestation certificate key: {e}")),
        },
        (None, _) => checks.not_run(Check::ReportSignature, "the report did not parse"),
        (_, None) => checks.not_run(Check::ReportSignature, "no readable attestation certificate"),
    }

    // 6. Freshness.
    match &report {
        Some(r) if &r.request().nonce == ctx.nonce => {
            checks.pass(Check::Nonce, "request nonce equals the expected nonce")
        }
        Some(r) => checks.fail(
            Check::Nonce,
            format!(
                "report nonce {} differs from the expected {}",
                hex::encode(r.request().nonce),
                hex::encode(ctx.nonce)
            ),
        ),
        None => checks.not_run(Check::Nonce, "the report did not parse"),
    }

    // 7. RIMs.
    let rim_ids = report.as_ref().and_then(|r| {
        let chip = identity.chip.as_deref()?;
        Some(RimIds::from_report(r.opaque(), chip, identity.arch?))
    });
    let expected_driver = identity.driver_version.clone();
    let expected_vbios = identity.vbios_version.clone();
    let mut driver_rim_chain = None;
    let mut vbios_rim_chain = None;
    let driver = appraise_rim(
        &mut checks,
        RimKind::Driver,
        evidence.driver_rim,
        ctx,
        identity.chip.as_deref(),
        expected_driver.as_deref(),
        &mut driver_rim_chain,
        &mut warnings,
    );
    let vbios = appraise_rim(
        &mut checks,
        RimKind::Vbios,
        evidence.vbios_rim,
        ctx,
        identity.chip.as_deref(),
        expected_vbios.as_deref(),
        &mut vbios_rim_chain,
        &mut warnings,
    );

    // 8. Golden measurements.
    let driver_verified = driver.as_ref().and_then(|v| v.verified.as_ref());
    let vbios_verified = vbios.as_ref().and_then(|v| v.verified.as_ref());
    let mut comparison = None;
    match (driver_verified, vbios_verified) {
        (Some(d), Some(v)) => {
            let conflicts = measurements::index_conflicts(d, v);
            if conflicts.is_empty() {
                checks.pass(Check::IndexConflict, "no golden index is active in both RIMs");
                match &report {
                    Some(r) => {
                        let c = measurements::compare(r, d, v);
                        if c.mismatches.is_empty() {
                            checks.pass(Check::Measurements, c.summary());
                        } else {
                            let list: Vec<String> =
                                c.mismatches.iter().map(|m| format!("{} ({})", m.index, m.source)).collect();
                            checks.fail(
                                Check::Measurements,
                                format!("{}; mismatching golden indexes: {}", c.summary(), list.join(", ")),
                            );
                        }
                        comparison = Some(c);
                    }
                    None => checks.not_run(Check::Measurements, "the report did not parse"),
                }
            } else {
                checks.fail(
                    Check::IndexConflict,
                    format!("golden indexes active in both the driver and the VBIOS RIM: {conflicts:?}"),
                );
                checks.not_run(Check::Measurements, "the golden values are contradictory (index conflict)");
            }
        }
        _ => {
            let missing: Vec<&str> = [(driver_verified.is_none(), "driver"), (vbios_verified.is_none(), "VBIOS")]
                .iter()
                .filter(|(m, _)| *m)
                .map(|(_, n)| *n)
                .collect();
            let reason =
                format!("no verified {} RIM: golden values are only read from verified RIMs", missing.join(" or "));
            checks.not_run(Check::IndexConflict, reason.clone());
            checks.not_run(Check::Measurements, reason);
        }
    }

    // 9. The policy's own rules.
    match &report {
        Some(_) => {
            match ctx.policy.judge_gpu_versions(identity.driver_version.as_deref(), identity.vbios_version.as_deref()) {
                Ok(detail) => checks.pass(Check::Policy, detail),
                Err(reason) => checks.fail(Check::Policy, reason),
            }
        }
        None => checks.not_run(Check::Policy, "the report did not parse"),
    }

    GpuAppraisal {
        verdict: checks.verdict(),
        checks,
        identity,
        rim_ids,
        measurements: comparison,
        device_chain,
        driver_rim_chain,
        vbios_rim_chain,
        oemid: driver_verified.and_then(|d| d.identity.firmware_manufacturer_id.clone()),
        nonce: hex::encode(ctx.nonce),
        verified_at: rfc3339(ctx.at),
        revocation: match ctx.revocation {
            Revocation::NotChecked => RevocationMode::NotChecked,
            Revocation::Responses { .. } => RevocationMode::Checked,
        },
        warnings,
        policy_digest: ctx.policy.digest(),
        report_digest: hex::encode(crypto::sha384(evidence.report)),
        rim_digests: (driver.as_ref().map(|d| hex::encode(d.digest)), vbios.as_ref().map(|v| hex::encode(v.digest))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RimKind {
    Driver,
    Vbios,
}

impl RimKind {
    fn checks(self) -> [Check; 6] {
        match self {
            Self::Driver => [
                Check::DriverRimPresent,
                Check::DriverRimStructure,
                Check::DriverRimSignature,
                Check::DriverRimChain,
                Check::DriverRimOcsp,
                Check::DriverRimIdentity,
            ],
            Self::Vbios => [
                Check::VbiosRimPresent,
                Check::VbiosRimStructure,
                Check::VbiosRimSignature,
                Check::VbiosRimChain,
                Check::VbiosRimOcsp,
                Check::VbiosRimIdentity,
            ],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Driver => "driver",
            Self::Vbios => "VBIOS",
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn appraise_rim(
    checks: &mut Checks,
    kind: RimKind,
    xml: Option<&[u8]>,
    ctx: &Appraise<'_>,
    chip: Option<&str>,
    expected_version: Option<&str>,
    summary: &mut Option<ChainSummary>,
    warnings: &mut Vec<String>,
) -> Option<RimVerification> {
    let [present, structure, signature, chain, ocsp, identity] = kind.checks();
    let Some(xml) = xml else {
        checks.fail(present, format!("no {} RIM was provided", kind.name()));
        for c in [structure, signature, chain, ocsp, identity] {
            checks.not_run(c, format!("no {} RIM", kind.name()));
        }
        return None;
    };
    checks.pass(present, format!("{} bytes", xml.len()));
    let v = match ctx.cache {
        Some(cache) => cache.inspect_rim(xml).appraise(&ctx.anchors.rim, ctx.at, Some(cache)),
        None => rim::verify(xml, &ctx.anchors.rim, ctx.at),
    };
    match &v.identity {
        Ok(id) => checks.pass(structure, format!("SWID tag {} {} ({} edition)", id.product, id.version, id.edition)),
        Err(e) => checks.fail(structure, e.to_string()),
    }
    match &v.signature {
        Ok(()) => checks.pass(
            signature,
            "enveloped XML-DSig, C14N 1.1, ECDSA P-384/SHA-384, key of the embedded signing certificate",
        ),
        Err(e) => checks.fail(signature, e.to_string()),
    }
    match &v.chain {
        Ok(c) => checks.pass(
            chain,
            format!("signing chain to {}, valid until {}", ctx.anchors.rim.name(), rfc3339(c.valid_until)),
        ),
        Err(e) => checks.fail(chain, e.to_string()),
    }
    let mut chain_summary = rim_chain_summary(&v);
    let positions = v.signing_chain.as_ref().map_or(0..=0, |c| rim_ocsp_positions(c, &ctx.anchors.rim));
    revocation_check(
        checks,
        ocsp,
        ctx,
        v.signing_chain.as_ref(),
        &ctx.anchors.rim,
        positions,
        |r| match r {
            Revocation::Responses { rim_at, .. } => Some(rim_at),
            Revocation::NotChecked => None,
        },
        &mut chain_summary,
        warnings,
    );
    *summary = Some(chain_summary);
    match (&v.identity, chip, expected_version) {
        (Ok(id), Some(chip), Some(expected)) => {
            let version_ok = match kind {
                RimKind::Driver => id.version.eq_ignore_ascii_case(expected),
                RimKind::Vbios => id.version.to_ascii_uppercase() == expected,
            };
            if id.edition != "GPU" {
                checks.fail(identity, format!("RIM edition is {:?}, not GPU", id.edition));
            } else if id.product != chip || id.name != chip {
                checks.fail(identity, format!("RIM is for {} (name {}), the GPU is a {chip}", id.product, id.name));
            } else if !version_ok {
                checks.fail(
                    identity,
                    format!("RIM is for {} version {}, the report says {expected}", kind.name(), id.version),
                );
            } else {
                checks.pass(identity, format!("{chip} {} {}", kind.name(), id.version));
            }
        }
        (Err(_), _, _) => checks.not_run(identity, "the RIM structure is unreadable"),
        (_, None, _) => checks.not_run(identity, "the GPU's chip family is unknown"),
        (_, _, None) => checks.not_run(identity, format!("the report does not state a {} version", kind.name())),
    }
    Some(v)
}

/// Establishes revocation for `positions` of `chain` (each certificate's issuer is the next one, or the
/// anchor after the last), records the check and fills the chain summary's OCSP fields.
#[allow(clippy::too_many_arguments)]
fn revocation_check(
    checks: &mut Checks,
    check: Check,
    ctx: &Appraise<'_>,
    chain: Option<&CertChain>,
    anchor: &TrustAnchor,
    positions: std::ops::RangeInclusive<usize>,
    time_of: impl Fn(Revocation<'_>) -> Option<OffsetDateTime>,
    summary: &mut ChainSummary,
    warnings: &mut Vec<String>,
) {
    let policy = &ctx.policy.ocsp;
    let (responses, at) = match (ctx.revocation, time_of(ctx.revocation)) {
        (Revocation::Responses { responses, .. }, Some(at)) => (responses, at),
        _ => {
            match policy.require {
                OcspRequirement::Optional => checks.skip(check, "OCSP off: revocation not checked"),
                OcspRequirement::Required => {
                    checks.fail(check, "revocation was not checked (OCSP off) but the policy requires OCSP")
                }
            }
            return;
        }
    };
    let Some(chain) = chain else {
        checks.not_run(check, "no readable certificate chain");
        return;
    };
    let options = OcspOptions {
        at,
        tolerance: policy.tolerance(),
        max_age: policy.max_age(),
        allow_hold: policy.allow_hold,
        allow_unknown: policy.allow_unknown,
    };
    match chain_revocation(chain, anchor, positions.clone(), responses, &options) {
        Ok(results) => {
            let worst = results.iter().map(|(_, r)| r.status).max_by_key(|s| match *s {
                "good" => 0,
                "unknown" => 1,
                _ => 2,
            });
            summary.ocsp_status = worst;
            for (subject, r) in &results {
                if r.status != "good" {
                    let what = match r.reason {
                        Some(reason) => format!("{subject} is {} ({reason}), accepted by the policy", r.status),
                        None => format!("{subject} is {}, accepted by the policy", r.status),
                    };
                    summary.revocation_reason = r.reason.map(|x| x.to_string());
                    warnings.push(what);
                }
            }
            let produced: Vec<&str> = results.iter().map(|(_, r)| r.produced_at.as_str()).collect();
            checks.pass(
                check,
                format!(
                    "certificates {}-{} {} at {} (responses produced {})",
                    positions.start(),
                    positions.end(),
                    worst.unwrap_or("good"),
                    rfc3339(at),
                    produced.join(", ")
                ),
            );
        }
        Err((position, subject, e)) => {
            if let OcspError::Revoked { reason, .. } = &e {
                summary.ocsp_status = Some("revoked");
                summary.revocation_reason = reason.map(|r| r.to_string());
            } else if matches!(e, OcspError::Held { .. }) {
                summary.ocsp_status = Some("revoked");
                summary.revocation_reason = Some("certificateHold".into());
            } else if e == OcspError::Unknown {
                summary.ocsp_status = Some("unknown");
            }
            checks.fail(check, format!("certificate {position} ({subject}): {e}"));
        }
    }
}

fn chain_revocation(
    chain: &CertChain,
    anchor: &TrustAnchor,
    positions: std::ops::RangeInclusive<usize>,
    responses: &[OcspResponse],
    options: &OcspOptions,
) -> Result<Vec<(String, CertRevocation)>, (usize, String, OcspError)> {
    let anchor_cert = parse_one(anchor.der()).map_err(|e| (0, anchor.name().to_owned(), OcspError::Format(e)))?;
    let mut out = Vec::new();
    for i in positions {
        let bad = |e: String| (i, "?".to_owned(), OcspError::Format(e));
        let cert = parse_one(chain.ders().get(i).ok_or_else(|| bad("no such certificate".into()))?).map_err(bad)?;
        let issuer = match chain.ders().get(i + 1) {
            Some(d) => parse_one(d).map_err(bad)?,
            None => anchor_cert.clone(),
        };
        let subject = describe(&cert);
        let r = check_certificate(&cert, &issuer, responses, options).map_err(|e| (i, subject.clone(), e))?;
        out.push((subject, r));
    }
    Ok(out)
}

fn summarize(result: &Result<ValidatedChain, crate::x509::ChainError>, chain: &CertChain) -> ChainSummary {
    match result {
        Ok(v) => ChainSummary::new("valid", Some(rfc3339(v.valid_until))),
        Err(e) => ChainSummary::new(if e.is_expired() { "expired" } else { "invalid" }, earliest_expiry(chain)),
    }
}

fn rim_chain_summary(v: &RimVerification) -> ChainSummary {
    match &v.chain {
        Ok(c) => ChainSummary::new("valid", Some(rfc3339(c.valid_until))),
        Err(RimChainError::Invalid(e)) => ChainSummary::new(if e.is_expired() { "expired" } else { "invalid" }, None),
        Err(RimChainError::Unavailable(_)) => ChainSummary::new("invalid", None),
    }
}

/// Earliest notAfter of any readable certificate (for the claim even when the chain failed).
fn earliest_expiry(chain: &CertChain) -> Option<String> {
    chain
        .ders()
        .iter()
        .filter_map(|d| parse_one(d).ok().map(|c| c.validity().not_after.to_datetime()))
        .min()
        .map(rfc3339)
}
