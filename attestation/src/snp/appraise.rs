//! The SEV-SNP appraisal: every check, in order, each with its own outcome.
//!
//! Checks that can run independently do, so an appraisal names every problem; a check whose inputs are
//! missing or untrustworthy is recorded as not run. The verdict is affirming only when every check passed
//! or was skipped (a VLEK or a masked CHIP_ID skips the hwID binding; a policy that sets no reference value
//! skips the comparison with it).

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::chain::{self, AmdCertError, Role};
use super::policy::SnpPolicy;
use super::product::Product;
use super::report::{self, SIG_ALGO_ECDSA_P384_SHA384, SnpReport, key_info, offset, policy_bit};
use super::roots::{AmdRoots, Intermediate, ProductRoots};
use super::tcb::Tcb;
use super::vek::{VekExtensions, vek_der};
use crate::appraisal::{Check, Checks, Verdict};
use crate::cache::VerifierCache;
use crate::crypto;
use crate::x509::{describe, parse_one, rfc3339};

/// Most certificates accepted in an ASK/ARK bundle (AMD's has 2; trustee's ASK+ARK+ASVK files have 3).
const MAX_BUNDLE: usize = 4;

/// One guest's SEV-SNP evidence, as received.
#[derive(Debug, Clone, Copy)]
pub struct SnpEvidence<'a> {
    /// The 1184-byte attestation report.
    pub report: &'a [u8],
    /// The VCEK or VLEK certificate, DER or PEM.
    pub vek: &'a [u8],
    /// AMD's `cert_chain` (ASK or ASVK, then ARK; PEM), when the evidence carries one. Its ARK must be the
    /// pinned one; its ASK/ASVK replaces the shipped one and is verified under the pinned ARK.
    pub ask_ark: Option<&'a [u8]>,
}

/// Everything else an SNP appraisal depends on.
#[derive(Debug, Clone, Copy)]
pub struct SnpAppraise<'a> {
    /// The time at which every certificate must be valid.
    pub at: OffsetDateTime,
    /// The REPORT_DATA the guest was asked to bind (nonce or composite digest).
    pub expected_report_data: Option<&'a [u8; 64]>,
    /// Policy.
    pub policy: &'a SnpPolicy,
    /// Trust anchors.
    pub roots: &'a AmdRoots,
    /// Optional cache of verified certificate links (never changes a verdict).
    pub cache: Option<&'a VerifierCache>,
}

/// Which kind of endorsement key signed the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VekKind {
    /// Versioned Chip Endorsement Key: one chip, one TCB.
    Vcek,
    /// Versioned Loaded Endorsement Key: one cloud provider, one TCB.
    Vlek,
}

impl VekKind {
    /// "VCEK" or "VLEK".
    pub fn name(self) -> &'static str {
        match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        }
    }

    fn of(intermediate: Intermediate) -> Self {
        match intermediate {
            Intermediate::Ask => Self::Vcek,
            Intermediate::Asvk => Self::Vlek,
        }
    }

    fn signing_key_value(self) -> u32 {
        match self {
            Self::Vcek => key_info::SIGNING_KEY_VCEK,
            Self::Vlek => key_info::SIGNING_KEY_VLEK,
        }
    }
}

/// Who the guest says it is (from the report and VCEK/VLEK; trustworthy only if the verdict is affirming).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SnpIdentity {
    /// Product line, from the chain when it was anchored, else from the VCEK/VLEK's productName.
    pub product: Option<Product>,
    /// VCEK/VLEK productName, e.g. `Milan-B0`.
    pub product_name: Option<String>,
    /// Which key signed.
    pub signing_key: Option<VekKind>,
    /// VLEK cspID (the cloud provider).
    pub csp_id: Option<String>,
    /// Report version.
    pub report_version: Option<u32>,
    /// CHIP_ID, hex; `None` when masked.
    pub chip_id: Option<String>,
    /// True when CHIP_ID is masked (all zero).
    pub chip_id_masked: bool,
    /// REPORTED_TCB (the TCB the VCEK/VLEK certifies).
    pub reported_tcb: Option<Tcb>,
    /// CURRENT_TCB.
    pub current_tcb: Option<Tcb>,
    /// COMMITTED_TCB.
    pub committed_tcb: Option<Tcb>,
    /// LAUNCH_TCB.
    pub launch_tcb: Option<Tcb>,
    /// Current SNP firmware version, `major.minor.build`.
    pub firmware: Option<String>,
    /// MEASUREMENT, hex.
    pub measurement: Option<String>,
    /// HOST_DATA, hex.
    pub host_data: Option<String>,
    /// REPORT_DATA, hex.
    pub report_data: Option<String>,
    /// POLICY, raw.
    pub policy: Option<u64>,
    /// POLICY bit 19.
    pub debug_allowed: Option<bool>,
    /// POLICY bit 18.
    pub migration_agent_allowed: Option<bool>,
    /// POLICY bit 16.
    pub smt_allowed: Option<bool>,
    /// VMPL the report was requested from.
    pub vmpl: Option<u32>,
    /// GUEST_SVN.
    pub guest_svn: Option<u32>,
    /// FAMILY_ID, hex.
    pub family_id: Option<String>,
    /// IMAGE_ID, hex.
    pub image_id: Option<String>,
    /// ID_KEY_DIGEST, hex.
    pub id_key_digest: Option<String>,
    /// AUTHOR_KEY_DIGEST, hex.
    pub author_key_digest: Option<String>,
    /// REPORT_ID, hex.
    pub report_id: Option<String>,
    /// PLATFORM_INFO, raw.
    pub platform_info: Option<u64>,
}

/// The full appraisal of one guest's SNP evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpAppraisal {
    /// Affirming only when every check passed (or was skipped).
    pub verdict: Verdict,
    /// Every check's outcome, in order.
    pub checks: Checks,
    /// The guest's identity as claimed by the evidence.
    pub identity: SnpIdentity,
    /// Verification time, RFC 3339.
    pub verified_at: String,
    /// Earliest notAfter of ARK, ASK/ASVK and VCEK/VLEK, when all three were readable.
    pub chain_valid_until: Option<String>,
    /// SHA-384 of the report bytes, hex.
    pub report_digest: String,
    /// SHA-384 of the VCEK/VLEK DER, hex, when it was readable.
    pub vek_digest: Option<String>,
}

impl SnpAppraisal {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
}

/// What the chain part established, for the checks after it.
struct ChainFacts {
    anchored: Option<(Product, VekKind)>,
    valid_until: Option<OffsetDateTime>,
}

/// Appraises one guest's SEV-SNP evidence.
pub fn appraise_snp(evidence: &SnpEvidence<'_>, ctx: &SnpAppraise<'_>) -> SnpAppraisal {
    let mut checks = Checks::default();
    let mut identity = SnpIdentity::default();

    // The VCEK/VLEK first: its product decides the layout of a v2 report with a masked CHIP_ID.
    let vek_der = vek_der(evidence.vek).map_err(|e| e.to_string());
    let vek =
        vek_der.as_ref().map_err(Clone::clone).and_then(|d| parse_one(d).map_err(|e| format!("does not parse: {e}")));
    let vek_ext = vek.as_ref().ok().map(VekExtensions::read);
    let ext = vek_ext.as_ref().and_then(|e| e.as_ref().ok());
    let anchor = vek.as_ref().ok().and_then(|v| ctx.roots.find_issuer(v.issuer().as_raw()));
    identity.product_name = ext.and_then(|e| e.product_name.clone());
    identity.csp_id = ext.and_then(|e| e.csp_id.clone());
    let name_product = identity.product_name.as_deref().and_then(Product::from_product_name);
    identity.product = anchor.map(|(p, _)| p.product()).or(name_product);

    // 1. Structure.
    let report = SnpReport::parse(evidence.report, identity.product);
    match &report {
        Ok(r) => {
            let layout = match (r.layout_from_product(), r.has_fmc()) {
                (Some(p), _) => format!("{p} TCB layout from the VCEK/VLEK: CHIP_ID is masked"),
                (None, true) => "Turin TCB layout".to_owned(),
                (None, false) => "Milan/Genoa TCB layout".to_owned(),
            };
            checks.pass(Check::SnpReportParsed, format!("version {} report, {layout}", r.version()));
            fill_identity(&mut identity, r);
        }
        Err(e) => checks.fail(Check::SnpReportParsed, e.to_string()),
    }
    let report = report.ok();

    // 2. Reserved fields, by name and offset, over the received bytes.
    match &report {
        Some(r) => {
            let problems = report::reserved_problems(r.raw(), r.has_fmc());
            if problems.is_empty() {
                checks.pass(Check::SnpReservedFields, "every reserved field and bit holds its required value");
            } else {
                checks.fail(Check::SnpReservedFields, problems.join("; "));
            }
        }
        None => checks.not_run(Check::SnpReservedFields, "the report did not parse"),
    }

    // 3–5. ARK, ASK/ASVK, VCEK/VLEK.
    let facts = appraise_chain(&mut checks, evidence.ask_ark, vek.as_ref(), vek_ext.as_ref(), anchor, ctx);
    if let Some((_, kind)) = facts.anchored {
        identity.signing_key = Some(kind);
    }
    let kind = identity.signing_key.or_else(|| {
        // Unanchored: a certificate without hwID and with a cspID is shaped like a VLEK.
        ext.map(|e| if e.hw_id.is_none() && e.csp_id.is_some() { VekKind::Vlek } else { VekKind::Vcek })
    });

    // 6. Product.
    let product = match (&report, vek_ext.as_ref()) {
        (Some(r), Some(Ok(e))) => product_check(&mut checks, r, e, facts.anchored.map(|(p, _)| p)),
        (None, _) => {
            checks.not_run(Check::SnpProduct, "the report did not parse");
            None
        }
        (_, None) => {
            checks.not_run(Check::SnpProduct, "no readable VCEK/VLEK");
            None
        }
        (_, Some(Err(_))) => {
            checks.not_run(Check::SnpProduct, "the VCEK/VLEK's AMD extensions do not decode");
            None
        }
    };

    // 7. Signature algorithm and signing key.
    match &report {
        Some(r) => signature_algorithm_check(&mut checks, r, facts.anchored.map(|(_, k)| k)),
        None => checks.not_run(Check::SnpSignatureAlgorithm, "the report did not parse"),
    }

    // 8. Report signature over the received bytes, with the VCEK/VLEK key.
    let raw: Option<&[u8; report::REPORT_LEN]> = evidence.report.try_into().ok();
    match (raw, &vek) {
        (Some(raw), Ok(v)) => match chain::endorsement_key(v) {
            Ok(key) => match report::verify_signature(raw, &key) {
                Ok(()) => checks.pass(
                    Check::SnpReportSignature,
                    format!(
                        "ECDSA P-384/SHA-384 over bytes [0, {:#x}) as received, key of the {}",
                        report::SIGNED_LEN,
                        kind.map_or("VCEK/VLEK", VekKind::name)
                    ),
                ),
                Err(e) => checks.fail(Check::SnpReportSignature, e.to_string()),
            },
            Err(e) => checks.fail(Check::SnpReportSignature, e.to_string()),
        },
        (None, _) => checks.not_run(
            Check::SnpReportSignature,
            format!("the report is {} bytes, not {}", evidence.report.len(), report::REPORT_LEN),
        ),
        (_, Err(_)) => checks.not_run(Check::SnpReportSignature, "no readable VCEK/VLEK"),
    }

    // 9–10. The VCEK/VLEK's TCB and hwID against the report.
    match (&report, vek_ext.as_ref()) {
        (Some(r), Some(Ok(e))) => {
            tcb_check(&mut checks, r, e, kind);
            chip_id_check(&mut checks, r, e, kind);
        }
        (r, e) => {
            let why = match (r, e) {
                (None, _) => "the report did not parse",
                (_, None) => "no readable VCEK/VLEK",
                _ => "the VCEK/VLEK's AMD extensions do not decode",
            };
            checks.not_run(Check::SnpVekTcb, why);
            checks.not_run(Check::SnpChipId, why);
        }
    }

    // 11. REPORT_DATA binding.
    report_data_check(&mut checks, raw, ctx);

    // 12–16. Guest policy and reference values.
    match &report {
        Some(r) => {
            guest_policy_check(&mut checks, r, ctx.policy);
            vmpl_check(&mut checks, r, ctx.policy);
            min_tcb_check(&mut checks, r, product.or(identity.product), ctx.policy);
            reference_checks(&mut checks, r, ctx.policy);
        }
        None => {
            for c in
                [Check::SnpGuestPolicy, Check::SnpVmpl, Check::SnpMinTcb, Check::SnpMeasurement, Check::SnpHostData]
            {
                checks.not_run(c, "the report did not parse");
            }
        }
    }

    SnpAppraisal {
        verdict: checks.verdict(),
        checks,
        identity,
        verified_at: rfc3339(ctx.at),
        chain_valid_until: facts.valid_until.map(rfc3339),
        report_digest: hex::encode(crypto::sha384(evidence.report)),
        vek_digest: vek_der.ok().map(|d| hex::encode(crypto::sha384(&d))),
    }
}

fn fill_identity(identity: &mut SnpIdentity, r: &SnpReport<'_>) {
    let f = r.fields();
    let policy = r.policy_bits();
    identity.report_version = Some(f.version);
    identity.chip_id_masked = r.chip_id_masked();
    identity.chip_id = (!identity.chip_id_masked).then(|| hex::encode(f.chip_id));
    identity.reported_tcb = Some(f.reported_tcb.into());
    identity.current_tcb = Some(f.current_tcb.into());
    identity.committed_tcb = Some(f.committed_tcb.into());
    identity.launch_tcb = Some(f.launch_tcb.into());
    identity.firmware = Some(f.current.to_string());
    identity.measurement = Some(hex::encode(f.measurement));
    identity.host_data = Some(hex::encode(f.host_data));
    identity.report_data = Some(hex::encode(f.report_data));
    identity.policy = Some(policy);
    identity.debug_allowed = Some(policy & policy_bit::DEBUG != 0);
    identity.migration_agent_allowed = Some(policy & policy_bit::MIGRATE_MA != 0);
    identity.smt_allowed = Some(policy & policy_bit::SMT != 0);
    identity.vmpl = Some(f.vmpl);
    identity.guest_svn = Some(f.guest_svn);
    identity.family_id = Some(hex::encode(f.family_id));
    identity.image_id = Some(hex::encode(f.image_id));
    identity.id_key_digest = Some(hex::encode(f.id_key_digest));
    identity.author_key_digest = Some(hex::encode(f.author_key_digest));
    identity.report_id = Some(hex::encode(f.report_id));
    identity.platform_info = Some(u64::from(f.plat_info));
}

/// Checks ARK, ASK/ASVK and VCEK/VLEK, each as its own check.
fn appraise_chain(
    checks: &mut Checks,
    bundle: Option<&[u8]>,
    vek: Result<&X509Certificate<'_>, &String>,
    vek_ext: Option<&Result<VekExtensions, super::vek::VekExtensionError>>,
    anchor: Option<(&ProductRoots, Intermediate)>,
    ctx: &SnpAppraise<'_>,
) -> ChainFacts {
    let none = ChainFacts { anchored: None, valid_until: None };
    let bundle_ders = bundle.map(parse_bundle);
    let bundle_error = match &bundle_ders {
        Some(Err(e)) => Some(format!("the evidence's ASK/ARK bundle: {e}")),
        _ => None,
    };
    let bundle_ders: &[Vec<u8>] = match &bundle_ders {
        Some(Ok(d)) => d,
        _ => &[],
    };
    let vek = match vek {
        Ok(v) => v,
        Err(e) => {
            match bundle_error {
                Some(b) => checks.fail(Check::SnpArk, b),
                None => checks.not_run(Check::SnpArk, "no readable VCEK/VLEK to choose the product's roots"),
            }
            checks.not_run(Check::SnpAsk, "no readable VCEK/VLEK to choose the product's roots");
            checks.fail(Check::SnpVek, format!("VCEK/VLEK {e}"));
            return none;
        }
    };
    let Some((roots, slot)) = anchor else {
        match bundle_error {
            Some(b) => checks.fail(Check::SnpArk, b),
            None => checks.not_run(Check::SnpArk, "no ASK or ASVK of these roots issued the VCEK/VLEK"),
        }
        let products: Vec<&str> = ctx.roots.iter().map(|p| p.product().name()).collect();
        checks.fail(
            Check::SnpAsk,
            format!(
                "the VCEK/VLEK is issued by {}, which is not the ASK or ASVK of any product in these roots ({})",
                vek.issuer(),
                products.join(", ")
            ),
        );
        checks.not_run(Check::SnpVek, "its issuer is not an ASK or ASVK of these roots");
        return none;
    };
    let product = roots.product();
    let kind = VekKind::of(slot);
    let mut valid_until: Option<OffsetDateTime> = None;
    let mut track = |c: &X509Certificate<'_>| {
        let t = c.validity().not_after.to_datetime();
        valid_until = Some(valid_until.map_or(t, |v| v.min(t)));
    };

    // ARK: the pinned one; a bundle's ARK must be byte-identical.
    let ark = match parse_one(roots.ark()) {
        Ok(a) => a,
        Err(e) => {
            checks.fail(Check::SnpArk, format!("pinned {product} ARK does not parse: {e}"));
            checks.not_run(Check::SnpAsk, "the pinned ARK is unreadable");
            checks.not_run(Check::SnpVek, "the pinned ARK is unreadable");
            return none;
        }
    };
    track(&ark);
    let foreign: Vec<String> = bundle_ders
        .iter()
        .filter_map(|d| parse_one(d).ok().filter(|c| c.issuer().as_raw() == c.subject().as_raw()).map(|c| (d, c)))
        .filter(|(d, _)| d.as_slice() != roots.ark())
        .map(|(d, c)| {
            let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d);
            format!("{} (SHA-256 {})", describe(&c), hex::encode(sha))
        })
        .collect();
    let ark_result = chain::check_profile(&ark, Role::Ark, ctx.at)
        .and_then(|()| chain::check_link(&ark, &ark, ctx.cache))
        .map_err(|e| format!("pinned {} {e}", describe(&ark)));
    let bundle_has_ark = bundle_ders.iter().any(|d| d.as_slice() == roots.ark());
    match (bundle_error, foreign.is_empty(), ark_result) {
        (Some(b), _, _) => checks.fail(Check::SnpArk, b),
        (None, false, _) => checks.fail(
            Check::SnpArk,
            format!(
                "the evidence's ASK/ARK bundle carries a root that is not the pinned {}: {}",
                describe(&ark),
                foreign.join(", ")
            ),
        ),
        (None, true, Err(e)) => checks.fail(Check::SnpArk, e),
        (None, true, Ok(())) => checks.pass(
            Check::SnpArk,
            format!(
                "pinned {} ({product}), self-signed, valid until {}{}",
                describe(&ark),
                rfc3339(ark.validity().not_after.to_datetime()),
                if bundle_has_ark { "; the evidence's ARK is identical" } else { "" }
            ),
        ),
    }

    // ASK/ASVK: the evidence's when it carries the VEK's issuer, else the shipped one.
    let from_bundle = bundle_ders.iter().find(|d| {
        parse_one(d)
            .is_ok_and(|c| c.subject().as_raw() == vek.issuer().as_raw() && c.issuer().as_raw() != c.subject().as_raw())
    });
    let (intermediate_der, source) = match (from_bundle, roots.intermediate(slot)) {
        (Some(d), _) => (d.as_slice(), "from the evidence"),
        (None, Some(d)) => (d, "shipped"),
        (None, None) => {
            checks.fail(Check::SnpAsk, format!("these roots have no {product} {}", slot.name()));
            checks.not_run(Check::SnpVek, format!("no {product} {}", slot.name()));
            return ChainFacts { anchored: None, valid_until: None };
        }
    };
    let intermediate = match parse_one(intermediate_der) {
        Ok(c) => c,
        Err(e) => {
            checks.fail(Check::SnpAsk, format!("{} {} does not parse: {e}", slot.name(), source));
            checks.not_run(Check::SnpVek, format!("the {} is unreadable", slot.name()));
            return ChainFacts { anchored: None, valid_until: None };
        }
    };
    track(&intermediate);
    match chain::check_profile(&intermediate, Role::Intermediate, ctx.at)
        .and_then(|()| chain::check_link(&intermediate, &ark, ctx.cache))
    {
        Ok(()) => checks.pass(
            Check::SnpAsk,
            format!(
                "{} {} ({source}) signed by {}, valid until {}",
                slot.name(),
                describe(&intermediate),
                describe(&ark),
                rfc3339(intermediate.validity().not_after.to_datetime())
            ),
        ),
        Err(e) => checks.fail(Check::SnpAsk, format!("{} {} ({source}) {e}", slot.name(), describe(&intermediate))),
    }

    // VCEK/VLEK.
    track(vek);
    let vek_result = chain::check_profile(vek, Role::EndorsementKey, ctx.at)
        .and_then(|()| chain::check_link(vek, &intermediate, ctx.cache))
        .map_err(|e: AmdCertError| e.to_string())
        .and_then(|()| match vek_ext {
            Some(Err(e)) => Err(e.to_string()),
            _ => Ok(()),
        });
    match vek_result {
        Ok(()) => checks.pass(
            Check::SnpVek,
            format!(
                "{} signed by {}, valid until {}",
                kind.name(),
                describe(&intermediate),
                rfc3339(vek.validity().not_after.to_datetime())
            ),
        ),
        Err(e) => checks.fail(Check::SnpVek, format!("{} {e}", kind.name())),
    }
    ChainFacts { anchored: Some((product, kind)), valid_until }
}

/// The DER certificates of a PEM ASK/ARK bundle.
fn parse_bundle(pem_bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| format!("not PEM: {e}"))?;
    if blocks.is_empty() || blocks.len() > MAX_BUNDLE {
        return Err(format!("{} certificates, expected 1 to {MAX_BUNDLE}", blocks.len()));
    }
    let mut out = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.into_iter().enumerate() {
        if block.tag() != "CERTIFICATE" {
            return Err(format!("PEM block {i} is a {}, not a CERTIFICATE", block.tag()));
        }
        let der = block.into_contents();
        parse_one(&der).map_err(|e| format!("certificate {i} does not parse: {e}"))?;
        out.push(der);
    }
    Ok(out)
}

/// The chain's product, the VCEK/VLEK's productName and the report's CPUID (or TCB layout) must agree.
fn product_check(
    checks: &mut Checks,
    r: &SnpReport<'_>,
    ext: &VekExtensions,
    chain_product: Option<Product>,
) -> Option<Product> {
    let Some(name) = &ext.product_name else {
        checks.fail(Check::SnpProduct, "the VCEK/VLEK has no productName extension");
        return None;
    };
    let Some(named) = Product::from_product_name(name) else {
        checks.fail(Check::SnpProduct, format!("the VCEK/VLEK's productName {name:?} is not a known product"));
        return None;
    };
    let mut problems = Vec::new();
    if let Some(c) = chain_product.filter(|c| *c != named) {
        problems.push(format!("the VCEK/VLEK is issued under the {c} roots but its productName is {name:?}"));
    }
    let report_says = match r.cpuid_product() {
        Some(Ok(p)) => {
            let f = r.fields();
            if p != named {
                problems.push(format!("the report's CPUID says {p}, the VCEK/VLEK's productName {name:?}"));
            }
            format!(
                "report CPUID family {:#04x} model {:#04x}",
                f.cpuid_fam_id.unwrap_or_default(),
                f.cpuid_mod_id.unwrap_or_default()
            )
        }
        Some(Err(e)) => {
            problems.push(format!("the report's {e}"));
            String::new()
        }
        None if r.layout_from_product().is_some() => "version 2 report with a masked CHIP_ID (no CPUID)".to_owned(),
        None => {
            if r.has_fmc() != named.has_fmc() {
                let layout = if r.has_fmc() { "Turin" } else { "Milan/Genoa" };
                problems
                    .push(format!("the report's CHIP_ID implies the {layout} TCB layout, the VCEK/VLEK is {name:?}"));
            }
            "version 2 report TCB layout".to_owned()
        }
    };
    if problems.is_empty() {
        checks.pass(Check::SnpProduct, format!("{named}: VCEK/VLEK productName {name:?}, {report_says}"));
        Some(named)
    } else {
        checks.fail(Check::SnpProduct, problems.join("; "));
        None
    }
}

fn signature_algorithm_check(checks: &mut Checks, r: &SnpReport<'_>, kind: Option<VekKind>) {
    let f = r.fields();
    let mut problems = Vec::new();
    if f.sig_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        problems.push(format!("SIGNATURE_ALGO is {}, not 1 (ECDSA P-384 with SHA-384)", f.sig_algo));
    }
    if r.mask_chip_key() {
        problems.push("KEY_INFO.MASK_CHIP_KEY is set: the firmware wrote zeros instead of a signature".to_owned());
    }
    let signing = r.signing_key();
    let signing_name = match signing {
        key_info::SIGNING_KEY_VCEK => "VCEK",
        key_info::SIGNING_KEY_VLEK => "VLEK",
        key_info::SIGNING_KEY_NONE => "none",
        _ => "reserved",
    };
    match kind {
        Some(k) if signing != k.signing_key_value() => problems
            .push(format!("KEY_INFO.SIGNING_KEY is {signing} ({signing_name}), but the certificate is a {}", k.name())),
        None if signing != key_info::SIGNING_KEY_VCEK && signing != key_info::SIGNING_KEY_VLEK => {
            problems.push(format!("KEY_INFO.SIGNING_KEY is {signing} ({signing_name})"));
        }
        _ => {}
    }
    if problems.is_empty() {
        checks.pass(Check::SnpSignatureAlgorithm, format!("ECDSA P-384/SHA-384, signing key {signing_name}"));
    } else {
        checks.fail(Check::SnpSignatureAlgorithm, problems.join("; "));
    }
}

fn tcb_check(checks: &mut Checks, r: &SnpReport<'_>, ext: &VekExtensions, kind: Option<VekKind>) {
    let reported: Tcb = r.fields().reported_tcb.into();
    let who = kind.map_or("VCEK/VLEK", VekKind::name);
    let mut problems = Vec::new();
    for (name, cert, report) in [
        ("blSPL", ext.bootloader, reported.bootloader),
        ("teeSPL", ext.tee, reported.tee),
        ("snpSPL", ext.snp, reported.snp),
        ("ucodeSPL", ext.microcode, reported.microcode),
    ] {
        match cert {
            None => problems.push(format!("the {who} has no {name} extension")),
            Some(c) if c != report => problems.push(format!("{name} {c} in the {who}, {report} in REPORTED_TCB")),
            Some(_) => {}
        }
    }
    match (ext.fmc, reported.fmc) {
        (Some(c), Some(rep)) if c != rep => problems.push(format!("fmcSPL {c} in the {who}, {rep} in REPORTED_TCB")),
        (None, Some(_)) => problems.push(format!("the {who} has no fmcSPL extension, the report has an FMC SPL")),
        (Some(_), None) => problems.push(format!("the {who} has an fmcSPL extension, the report's TCB has no FMC")),
        _ => {}
    }
    if problems.is_empty() {
        checks.pass(Check::SnpVekTcb, format!("the {who} certifies REPORTED_TCB ({reported})"));
    } else {
        checks.fail(Check::SnpVekTcb, problems.join("; "));
    }
}

fn chip_id_check(checks: &mut Checks, r: &SnpReport<'_>, ext: &VekExtensions, kind: Option<VekKind>) {
    if kind == Some(VekKind::Vlek) {
        checks.skip(
            Check::SnpChipId,
            "signed by a VLEK, which is shared by a cloud provider's fleet and carries no hwID: the report is not bound \
             to a chip",
        );
        return;
    }
    if r.chip_id_masked() {
        checks.skip(
            Check::SnpChipId,
            "CHIP_ID is masked (MASK_CHIP_ID): the hwID cannot be compared; the VCEK signature still binds the report \
             to one chip's key",
        );
        return;
    }
    let chip_id = &r.fields().chip_id;
    let expected_len = if r.has_fmc() { 8 } else { 64 };
    match &ext.hw_id {
        None => checks.fail(Check::SnpChipId, "the VCEK has no hwID extension"),
        Some(hw) if hw.len() != expected_len => checks.fail(
            Check::SnpChipId,
            format!("the VCEK's hwID is {} bytes, this product's CHIP_ID has {expected_len}", hw.len()),
        ),
        Some(hw) if chip_id[..expected_len] == hw[..] && chip_id[expected_len..].iter().all(|b| *b == 0) => {
            checks.pass(Check::SnpChipId, format!("the VCEK's hwID equals CHIP_ID {}", hex::encode(hw)))
        }
        Some(hw) => checks.fail(
            Check::SnpChipId,
            format!("the VCEK's hwID {} differs from the report's CHIP_ID {}", hex::encode(hw), hex::encode(chip_id)),
        ),
    }
}

fn report_data_check(checks: &mut Checks, raw: Option<&[u8; report::REPORT_LEN]>, ctx: &SnpAppraise<'_>) {
    let Some(raw) = raw else {
        checks.not_run(Check::SnpReportData, "the report has the wrong length");
        return;
    };
    let got = &raw[offset::REPORT_DATA];
    match ctx.expected_report_data {
        Some(expected) if got == expected => checks.pass(Check::SnpReportData, "REPORT_DATA equals the expected value"),
        Some(expected) => checks.fail(
            Check::SnpReportData,
            format!("REPORT_DATA {} differs from the expected {}", hex::encode(got), hex::encode(expected)),
        ),
        None if ctx.policy.require_report_data => checks.fail(
            Check::SnpReportData,
            "no expected REPORT_DATA was given, and the policy requires one (require_report_data): the report is not \
             bound to this verification",
        ),
        None => checks.skip(
            Check::SnpReportData,
            "no expected REPORT_DATA was given and the policy allows that: freshness is not established",
        ),
    }
}

fn guest_policy_check(checks: &mut Checks, r: &SnpReport<'_>, policy: &SnpPolicy) {
    let bits = r.policy_bits();
    let mut problems = Vec::new();
    if bits & policy_bit::DEBUG != 0 && !policy.allow_debug {
        problems.push("the guest allows debugging (POLICY bit 19): the host can read and write its memory");
    }
    if bits & policy_bit::MIGRATE_MA != 0 && !policy.allow_migration_agent {
        problems.push("the guest may be associated with a migration agent (POLICY bit 18)");
    }
    if bits & policy_bit::SMT != 0 && !policy.allow_smt {
        problems.push("the guest allows the host to use SMT (POLICY bit 16), which the policy forbids");
    }
    if problems.is_empty() {
        let on = |bit: u64| if bits & bit != 0 { "allowed" } else { "off" };
        checks.pass(
            Check::SnpGuestPolicy,
            format!(
                "POLICY {bits:#x}: debug {}, migration agent {}, SMT {}",
                on(policy_bit::DEBUG),
                on(policy_bit::MIGRATE_MA),
                on(policy_bit::SMT)
            ),
        );
    } else {
        checks.fail(Check::SnpGuestPolicy, format!("POLICY {bits:#x}: {}", problems.join("; ")));
    }
}

fn vmpl_check(checks: &mut Checks, r: &SnpReport<'_>, policy: &SnpPolicy) {
    let vmpl = r.fields().vmpl;
    match policy.vmpl {
        None => checks.skip(Check::SnpVmpl, format!("the policy requires no VMPL (the report's is {vmpl})")),
        Some(want) if want == vmpl => checks.pass(Check::SnpVmpl, format!("VMPL {vmpl}")),
        Some(want) => checks
            .fail(Check::SnpVmpl, format!("the report was requested from VMPL {vmpl}, the policy requires {want}")),
    }
}

fn min_tcb_check(checks: &mut Checks, r: &SnpReport<'_>, product: Option<Product>, policy: &SnpPolicy) {
    if policy.min_tcb.is_empty() {
        checks.skip(Check::SnpMinTcb, "the policy sets no minimum TCB");
        return;
    }
    let Some(product) = product else {
        checks.not_run(Check::SnpMinTcb, "the product is unknown");
        return;
    };
    let reported: Tcb = r.fields().reported_tcb.into();
    match policy.min_tcb.get(&product) {
        None => {
            let named: Vec<&str> = policy.min_tcb.keys().map(|p| p.name()).collect();
            checks.fail(
                Check::SnpMinTcb,
                format!("the policy sets minimum TCBs for {} only, this is a {product} report", named.join(", ")),
            );
        }
        Some(min) => {
            let below = reported.below(min);
            if below.is_empty() {
                checks.pass(Check::SnpMinTcb, format!("REPORTED_TCB ({reported}) meets the {product} minimum ({min})"));
            } else {
                checks.fail(
                    Check::SnpMinTcb,
                    format!("REPORTED_TCB is below the {product} minimum: {}", below.join(", ")),
                );
            }
        }
    }
}

fn reference_checks(checks: &mut Checks, r: &SnpReport<'_>, policy: &SnpPolicy) {
    let f = r.fields();
    match &policy.measurements {
        None => checks.skip(Check::SnpMeasurement, "the policy lists no measurements"),
        Some(allowed) if allowed.iter().any(|m| m.0 == f.measurement) => {
            checks.pass(Check::SnpMeasurement, format!("MEASUREMENT {} is allowed", hex::encode(f.measurement)))
        }
        Some(allowed) => checks.fail(
            Check::SnpMeasurement,
            format!("MEASUREMENT {} is not one of the {} the policy allows", hex::encode(f.measurement), allowed.len()),
        ),
    }
    match &policy.host_data {
        None => checks.skip(Check::SnpHostData, "the policy requires no HOST_DATA"),
        Some(want) if want.0 == f.host_data => checks.pass(Check::SnpHostData, "HOST_DATA equals the policy's"),
        Some(want) => checks.fail(
            Check::SnpHostData,
            format!("HOST_DATA {} differs from the policy's {want}", hex::encode(f.host_data)),
        ),
    }
}
