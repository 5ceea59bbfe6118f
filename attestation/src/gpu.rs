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
use crate::policy::GpuPolicy;
use crate::rim::{self, RimChainError, RimIds, RimVerification};
use crate::spdm::{AttestationReport, Nvdec0Status};
use crate::x509::{CertChain, ChainRule, ValidatedChain, leaf_fwid, parse_one, rfc3339};

/// How revocation was established for this appraisal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Revocation {
    /// OCSP explicitly turned off: revocation is recorded as not checked.
    NotChecked,
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
    pub policy: &'a GpuPolicy,
    /// How revocation is handled.
    pub revocation: Revocation,
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
    pub revocation: Revocation,
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
    let ctx = &match ctx.cache {
        Some(_) => *ctx,
        None => {
            local = VerifierCache::new();
            Appraise { cache: Some(&local), ..*ctx }
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
    let device_chain = summarize(&device, evidence.chain);
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
    revocation_check(&mut checks, Check::DeviceChainOcsp, ctx.revocation);

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
            (Ok(_), None) if ctx.policy.allow_missing_fwid => {
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
    let driver = appraise_rim(
        &mut checks,
        RimKind::Driver,
        evidence.driver_rim,
        ctx,
        identity.chip.as_deref(),
        expected_driver.as_deref(),
    );
    let vbios = appraise_rim(
        &mut checks,
        RimKind::Vbios,
        evidence.vbios_rim,
        ctx,
        identity.chip.as_deref(),
        expected_vbios.as_deref(),
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

    GpuAppraisal {
        verdict: checks.verdict(),
        checks,
        identity,
        rim_ids,
        measurements: comparison,
        device_chain,
        driver_rim_chain: driver.as_ref().map(rim_chain_summary),
        vbios_rim_chain: vbios.as_ref().map(rim_chain_summary),
        oemid: driver_verified.and_then(|d| d.identity.firmware_manufacturer_id.clone()),
        nonce: hex::encode(ctx.nonce),
        verified_at: rfc3339(ctx.at),
        revocation: ctx.revocation,
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

fn appraise_rim(
    checks: &mut Checks,
    kind: RimKind,
    xml: Option<&[u8]>,
    ctx: &Appraise<'_>,
    chip: Option<&str>,
    expected_version: Option<&str>,
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
    revocation_check(checks, ocsp, ctx.revocation);
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

fn revocation_check(checks: &mut Checks, check: Check, revocation: Revocation) {
    match revocation {
        Revocation::NotChecked => checks.skip(check, "OCSP off: revocation not checked"),
    }
}

fn summarize(result: &Result<ValidatedChain, crate::x509::ChainError>, chain: &CertChain) -> ChainSummary {
    match result {
        Ok(v) => ChainSummary { status: "valid", expiration: Some(rfc3339(v.valid_until)) },
        Err(e) => ChainSummary {
            status: if e.is_expired() { "expired" } else { "invalid" },
            expiration: earliest_expiry(chain),
        },
    }
}

fn rim_chain_summary(v: &RimVerification) -> ChainSummary {
    match &v.chain {
        Ok(c) => ChainSummary { status: "valid", expiration: Some(rfc3339(c.valid_until)) },
        Err(RimChainError::Invalid(e)) => {
            ChainSummary { status: if e.is_expired() { "expired" } else { "invalid" }, expiration: None }
        }
        Err(RimChainError::Unavailable(_)) => ChainSummary { status: "invalid", expiration: None },
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
