//! The SEV-SNP negative corpus: systematic corruptions of a real report, each paired with the exact list
//! of checks that must fail. Generated, never hand-edited.
//!
//! Cases that change only the evidence around a real report (expected REPORT_DATA, time, roots, bundle,
//! policy, the unsigned part of the signature field) keep AMD's roots. Cases that must isolate one field
//! behind a valid signature (debug bit, reserved fields, TCB, CHIP_ID, versions) re-sign the real report's
//! fields with a simulated VCEK of the same TCB and hwID, and carry the simulated roots.

use time::{Duration, OffsetDateTime};

use super::super::SimError;
use super::pki::{SnpPki, VekSpec};
use super::report::SnpReportBuilder;
use crate::snp::SnpCheck;
use crate::snp::report::SnpReport;
use crate::snp::report::{REPORT_LEN, offset, policy_bit};
use crate::snp::{AmdRoots, HostData, Measurement, Product, SnpPolicy, Tcb, VekKind};
use crate::x509::parse_one;

/// The real evidence the corpus derives from: a version 2 report signed by a VCEK, affirming at `at`
/// under AMD's roots and the default policy with its own REPORT_DATA expected.
#[derive(Debug, Clone)]
pub struct SnpBase {
    /// Report bytes.
    pub report: Vec<u8>,
    /// Its VCEK (DER).
    pub vek: Vec<u8>,
    /// A time at which every certificate is valid.
    pub at: OffsetDateTime,
}

/// One negative case: the evidence, everything the appraisal is given, and the checks that must fail.
#[derive(Debug, Clone)]
pub struct SnpCase {
    /// Short unique name.
    pub name: String,
    /// What was changed.
    pub what: String,
    /// Report bytes.
    pub report: Vec<u8>,
    /// VCEK/VLEK (DER).
    pub vek: Vec<u8>,
    /// ASK/ARK bundle (PEM), if the evidence carries one.
    pub ask_ark: Option<Vec<u8>>,
    /// The roots the verifier is given (AMD's, or simulated ones for re-signed cases).
    pub roots: AmdRoots,
    /// Policy.
    pub policy: SnpPolicy,
    /// Expected REPORT_DATA.
    pub report_data: Option<[u8; 64]>,
    /// Verification time.
    pub at: OffsetDateTime,
    /// Exactly the checks that must fail (checks that cannot run as a consequence are not listed).
    pub failing: Vec<SnpCheck>,
}

/// A single-byte change (XOR 0x01) of `report` at each of `offsets` (a range, or a stride of one):
/// (offset, corrupted report). Offsets past the end are left out.
pub fn snp_byte_flips<I>(report: &[u8], offsets: I) -> impl Iterator<Item = (usize, Vec<u8>)> + '_
where
    I: IntoIterator<Item = usize>,
    I::IntoIter: 'static,
{
    offsets.into_iter().filter(|&i| i < report.len()).map(move |i| {
        let mut r = report.to_vec();
        r[i] ^= 0x01;
        (i, r)
    })
}

struct Builder<'a> {
    base: &'a SnpBase,
    amd: AmdRoots,
    sim: AmdRoots,
    report_data: [u8; 64],
    cases: Vec<SnpCase>,
}

impl Builder<'_> {
    /// A case over AMD's roots, the default policy and the base's REPORT_DATA, with `edit` applied.
    fn amd(&mut self, name: &str, what: &str, failing: &[SnpCheck], edit: impl FnOnce(&mut SnpCase)) {
        let mut case = SnpCase {
            name: name.to_owned(),
            what: what.to_owned(),
            report: self.base.report.clone(),
            vek: self.base.vek.clone(),
            ask_ark: None,
            roots: self.amd.clone(),
            policy: SnpPolicy::default(),
            report_data: Some(self.report_data),
            at: self.base.at,
            failing: failing.to_vec(),
        };
        edit(&mut case);
        self.cases.push(case);
    }

    /// A case over the simulated roots with a re-signed report and its VCEK.
    fn sim(&mut self, name: &str, what: &str, report: Vec<u8>, vek: Vec<u8>, failing: &[SnpCheck]) {
        let roots = self.sim.clone();
        self.amd(name, what, failing, |c| {
            c.report = report;
            c.vek = vek;
            c.roots = roots;
        });
    }
}

/// The corpus over `base`, re-signing with `pki` (which must be for the base report's product).
pub fn snp_negative_corpus(base: &SnpBase, pki: &SnpPki) -> Result<Vec<SnpCase>, SimError> {
    let product = pki.product();
    let parsed = SnpReport::parse(&base.report, Some(product)).map_err(|e| SimError::Chain(e.to_string()))?;
    let fields = *parsed.fields();
    if parsed.version() != 2 || parsed.chip_id_masked() || product.has_fmc() {
        return Err(SimError::Chain(
            "the SNP corpus base must be a Milan/Genoa version 2 report with a CHIP_ID".into(),
        ));
    }
    let tcb: Tcb = fields.reported_tcb.into();
    let amd = AmdRoots::amd();
    let amd_product = amd.product(product).ok_or_else(|| SimError::Chain(format!("no AMD roots for {product}")))?;
    let vek_cert = parse_one(&base.vek).map_err(SimError::Chain)?;
    let vek_not_after = vek_cert.validity().not_after.to_datetime();
    let ark_not_before = parse_one(amd_product.ark()).map_err(SimError::Chain)?.validity().not_before.to_datetime();
    let pem_of = |der: &[u8]| pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
    let amd_ask_pem = pem_of(amd_product.ask());

    let mut b =
        Builder { base, amd: amd.clone(), sim: pki.roots()?, report_data: fields.report_data, cases: Vec::new() };

    // --- Evidence around the real report, AMD's roots.
    let mut wrong_rd = fields.report_data;
    wrong_rd[0] ^= 0x01;
    b.amd("report-data-mismatch", "expected REPORT_DATA differs in one bit", &[SnpCheck::ReportData], |c| {
        c.report_data = Some(wrong_rd);
    });
    b.amd("report-data-missing", "no expected REPORT_DATA under the default policy", &[SnpCheck::ReportData], |c| {
        c.report_data = None;
    });
    b.amd("vek-expired", "verification time one day after the VCEK's notAfter", &[SnpCheck::Vek], |c| {
        c.at = vek_not_after + Duration::days(1);
    });
    b.amd(
        "before-ark",
        "verification time one day before the ARK's notBefore",
        &[SnpCheck::Ark, SnpCheck::Ask, SnpCheck::Vek],
        |c| c.at = ark_not_before - Duration::days(1),
    );
    let foreign_bundle = format!("{amd_ask_pem}{}", pem_of(pki.ark_der()));
    b.amd(
        "foreign-ark-in-bundle",
        "the bundle carries AMD's ASK and a generated ARK named ARK-<product>",
        &[SnpCheck::Ark],
        |c| {
            c.ask_ark = Some(foreign_bundle.into_bytes());
        },
    );
    b.amd("bundle-not-pem", "the bundle is not PEM", &[SnpCheck::Ark], |c| c.ask_ark = Some(b"not a bundle".to_vec()));
    let other = Product::ALL.into_iter().find(|p| *p != product).unwrap_or(Product::Genoa);
    if let Some(o) = amd.product(other) {
        let other_bundle = format!("{}{}", pem_of(o.ask()), pem_of(o.ark()));
        b.amd("bundle-of-another-product", "the bundle is another product's ASK and ARK", &[SnpCheck::Ark], |c| {
            c.ask_ark = Some(other_bundle.into_bytes());
        });
    }
    let without: Vec<_> = amd.iter().filter(|p| p.product() != product).cloned().collect();
    let without = AmdRoots::new(without).map_err(|e| SimError::Chain(e.to_string()))?;
    b.amd("roots-without-product", "the verifier's roots lack the report's product", &[SnpCheck::Ask], |c| {
        c.roots = without;
    });

    // --- Policy against the real report.
    let mut high = tcb;
    high.snp = high.snp.saturating_add(1);
    let min_tcb = [(product, high)].into_iter().collect();
    b.amd("tcb-below-policy", "policy minimum snpSPL one above the report's", &[SnpCheck::MinTcb], |c| {
        c.policy.min_tcb = min_tcb;
    });
    let other_min = [(other, tcb)].into_iter().collect();
    b.amd(
        "tcb-policy-for-another-product",
        "policy sets a minimum TCB for another product only",
        &[SnpCheck::MinTcb],
        |c| {
            c.policy.min_tcb = other_min;
        },
    );
    let mut other_measurement = fields.measurement;
    other_measurement[47] ^= 0x01;
    b.amd("measurement-not-allowed", "policy allows one other measurement", &[SnpCheck::Measurement], |c| {
        c.policy.measurements = Some(vec![Measurement(other_measurement)]);
    });
    b.amd("measurement-list-empty", "policy allows no measurement", &[SnpCheck::Measurement], |c| {
        c.policy.measurements = Some(Vec::new());
    });
    let mut other_host = fields.host_data;
    other_host[0] ^= 0x01;
    b.amd("host-data-mismatch", "policy requires other HOST_DATA", &[SnpCheck::HostData], |c| {
        c.policy.host_data = Some(HostData(other_host));
    });
    let other_vmpl = fields.vmpl.wrapping_add(1);
    b.amd("vmpl-mismatch", "policy requires another VMPL", &[SnpCheck::Vmpl], |c| c.policy.vmpl = Some(other_vmpl));
    if fields.policy.smt_allowed() {
        b.amd("smt-forbidden", "policy forbids SMT, the guest allows it", &[SnpCheck::GuestPolicy], |c| {
            c.policy.allow_smt = false;
        });
    }

    // --- The unsigned part of the signature field.
    let mut tail = base.report.clone();
    tail[offset::RESERVED_SIGNATURE.start + 100] = 0x5a;
    b.amd(
        "signature-reserve-nonzero",
        "a byte of the unsigned signature reserve is set",
        &[SnpCheck::ReservedFields],
        |c| {
            c.report = tail;
        },
    );
    let mut wide = base.report.clone();
    wide[offset::SIGNATURE_R.start + 48] = 0x01;
    b.amd("signature-r-above-384-bits", "r has a bit set above bit 384", &[SnpCheck::ReportSignature], |c| {
        c.report = wide;
    });
    let mut s_flip = base.report.clone();
    s_flip[offset::SIGNATURE_S.start] ^= 0x01;
    b.amd("signature-s-flipped", "the low bit of s is flipped", &[SnpCheck::ReportSignature], |c| c.report = s_flip);
    let mut zeroed = base.report.clone();
    zeroed[offset::SIGNATURE_R.start..offset::SIGNATURE_S.end].fill(0);
    b.amd("signature-zeroed", "r and s are zero (as with MASK_CHIP_KEY)", &[SnpCheck::ReportSignature], |c| {
        c.report = zeroed;
    });

    // --- Re-signed with a simulated VCEK of the same TCB and hwID.
    let vcek = pki.issue_vek(&VekSpec::vcek(product, tcb, &fields.chip_id))?;
    let resign = |edit: &dyn Fn(&mut SnpReportBuilder)| -> Result<Vec<u8>, SimError> {
        let mut r = SnpReportBuilder::from_bytes(&base.report)?;
        edit(&mut r);
        r.sign(&vcek)
    };
    let sim_chain = resign(&|_| {})?;
    b.amd("simulated-vcek-under-amd-roots", "a simulated VCEK named like AMD's, AMD's roots", &[SnpCheck::Vek], |c| {
        c.report = sim_chain.clone();
        c.vek = vcek.der.clone();
    });
    let sim_bundle = pki.ask_ark_pem(VekKind::Vcek);
    b.amd(
        "simulated-chain-under-amd-roots",
        "a simulated VCEK, ASK and ARK named like AMD's, AMD's roots",
        &[SnpCheck::Ark, SnpCheck::Ask],
        |c| {
            c.report = sim_chain.clone();
            c.vek = vcek.der.clone();
            c.ask_ark = Some(sim_bundle.into_bytes());
        },
    );

    let policy = SnpReportBuilder::from_bytes(&base.report)?.policy();
    for (name, what, bits) in [
        ("debug-bit", "guest policy allows debugging (bit 19)", policy_bit::DEBUG),
        ("migration-agent-bit", "guest policy allows a migration agent (bit 18)", policy_bit::MIGRATE_MA),
    ] {
        let report = resign(&|r| {
            r.set_policy(policy | bits);
        })?;
        b.sim(name, what, report, vcek.der.clone(), &[SnpCheck::GuestPolicy]);
    }
    for (name, what, edit) in [
        ("sig-algo-2", "SIGNATURE_ALGO 2", (offset::SIGNATURE_ALGO, 2u32)),
        ("mask-chip-key", "KEY_INFO.MASK_CHIP_KEY set on a signed report", (offset::KEY_INFO, 0b10)),
        ("signing-key-vlek", "KEY_INFO.SIGNING_KEY says VLEK, the certificate is a VCEK", (offset::KEY_INFO, 1 << 2)),
        ("signing-key-reserved", "KEY_INFO.SIGNING_KEY 3 (reserved)", (offset::KEY_INFO, 3 << 2)),
    ] {
        let report = resign(&|r| {
            r.set_u32(edit.0, edit.1);
        })?;
        b.sim(name, what, report, vcek.der.clone(), &[SnpCheck::SignatureAlgorithm]);
    }
    let reserved_bytes: [(&str, usize); 8] = [
        ("reserved-after-key-info", offset::RESERVED_AFTER_KEY_INFO.start),
        ("reserved-before-chip-id", offset::RESERVED_BEFORE_CHIP_ID_V2.start),
        ("reserved-before-chip-id-end", offset::RESERVED_BEFORE_CHIP_ID_V2.end - 1),
        ("reserved-after-current-version", offset::RESERVED_AFTER_CURRENT_VERSION.start),
        ("reserved-after-committed-version", offset::RESERVED_AFTER_COMMITTED_VERSION.start),
        ("reserved-before-signature", offset::RESERVED_BEFORE_SIGNATURE_V2.start),
        ("reserved-last-signed-byte", offset::RESERVED_BEFORE_SIGNATURE_V2.end - 1),
        ("reserved-reported-tcb-byte", offset::REPORTED_TCB + 3),
    ];
    for (name, at) in reserved_bytes {
        let report = resign(&|r| r.bytes_mut()[at] = 0x01)?;
        b.sim(
            name,
            &format!("reserved byte {at:#05x} set, re-signed"),
            report,
            vcek.der.clone(),
            &[SnpCheck::ReservedFields],
        );
    }
    for (name, what, edit) in [
        ("key-info-bit-5", "KEY_INFO reserved bit 5 set", (offset::KEY_INFO, 1u64 << 5, false)),
        ("key-info-bit-31", "KEY_INFO reserved bit 31 set", (offset::KEY_INFO, 1 << 31, false)),
        (
            "policy-bit-17-clear",
            "POLICY reserved must-be-one bit 17 clear",
            (offset::POLICY, policy & !policy_bit::RESERVED_MBO, true),
        ),
        ("policy-bit-26", "POLICY reserved bit 26 set", (offset::POLICY, policy | 1 << 26, true)),
        ("policy-bit-63", "POLICY reserved bit 63 set", (offset::POLICY, policy | 1 << 63, true)),
    ] {
        let report = resign(&|r| {
            let (at, v, is_policy) = edit;
            if is_policy {
                r.set_u64(at, v);
            } else {
                r.set_u32(at, u32::try_from(v).unwrap_or(u32::MAX));
            }
        })?;
        b.sim(name, what, report, vcek.der.clone(), &[SnpCheck::ReservedFields]);
    }

    // TCB and hwID bindings.
    let mut above = tcb;
    above.snp = above.snp.wrapping_add(1);
    let report = resign(&|r| {
        r.set_reported_tcb(&above, false);
    })?;
    b.sim(
        "reported-tcb-above-vcek",
        "REPORTED_TCB snpSPL one above the VCEK's",
        report,
        vcek.der.clone(),
        &[SnpCheck::VekTcb],
    );
    let mut lower = tcb;
    lower.microcode = lower.microcode.wrapping_sub(1);
    let lower_vcek = pki.issue_vek(&VekSpec::vcek(product, lower, &fields.chip_id))?;
    let report = SnpReportBuilder::from_bytes(&base.report)?.sign(&lower_vcek)?;
    b.sim(
        "vcek-tcb-lower",
        "the VCEK certifies a microcode SPL one below the report's",
        report,
        lower_vcek.der,
        &[SnpCheck::VekTcb],
    );
    let mut other_chip = fields.chip_id;
    other_chip[5] ^= 0x01;
    let report = resign(&|r| {
        r.set_chip_id(&other_chip);
    })?;
    b.sim(
        "chip-id-mismatch",
        "CHIP_ID differs from the VCEK's hwID in one bit",
        report,
        vcek.der.clone(),
        &[SnpCheck::ChipId],
    );
    let mut spec = VekSpec::vcek(product, tcb, &fields.chip_id);
    spec.hw_id = None;
    let no_hwid = pki.issue_vek(&spec)?;
    let report = SnpReportBuilder::from_bytes(&base.report)?.sign(&no_hwid)?;
    b.sim("vcek-without-hwid", "the VCEK carries no hwID", report, no_hwid.der, &[SnpCheck::ChipId]);

    // Product and versions.
    let mut spec = VekSpec::vcek(product, tcb, &fields.chip_id);
    spec.product_name = Some(other.name().to_owned());
    let misnamed = pki.issue_vek(&spec)?;
    let report = SnpReportBuilder::from_bytes(&base.report)?.sign(&misnamed)?;
    b.sim(
        "vcek-names-another-product",
        "the VCEK's productName is another product",
        report,
        misnamed.der,
        &[SnpCheck::Product],
    );
    let mut spec = VekSpec::vcek(product, tcb, &fields.chip_id);
    spec.product_name = None;
    let unnamed = pki.issue_vek(&spec)?;
    let report = SnpReportBuilder::from_bytes(&base.report)?.sign(&unnamed)?;
    b.sim("vcek-without-product-name", "the VCEK has no productName", report, unnamed.der, &[SnpCheck::Product]);
    let same_layout_other = match product {
        Product::Milan => (0x19, 0x11),
        _ => (0x19, 0x01),
    };
    let report = resign(&|r| {
        r.set_version(3).set_cpuid(same_layout_other.0, same_layout_other.1, 1);
    })?;
    b.sim(
        "v3-cpuid-of-another-product",
        "version 3 whose CPUID names another product",
        report,
        vcek.der.clone(),
        &[SnpCheck::Product],
    );
    let report = resign(&|r| {
        r.set_version(3).set_cpuid(0x17, 0x31, 0);
    })?;
    b.sim(
        "v3-cpuid-unknown",
        "version 3 whose CPUID is not an SNP product",
        report,
        vcek.der.clone(),
        &[SnpCheck::ReportParsed],
    );
    for v in [0u32, 1, 4, 6] {
        let report = resign(&|r| {
            r.set_version(v);
        })?;
        b.sim(&format!("version-{v}"), &format!("VERSION {v}"), report, vcek.der.clone(), &[SnpCheck::ReportParsed]);
    }

    // Keys and certificates.
    let other_vcek = pki.issue_vek(&VekSpec::vcek(product, tcb, &fields.chip_id))?;
    b.sim(
        "wrong-vcek",
        "another VCEK of the same chip and TCB",
        sim_chain.clone(),
        other_vcek.der,
        &[SnpCheck::ReportSignature],
    );
    let mut spec = VekSpec::vcek(product, tcb, &fields.chip_id);
    spec.not_before = base.at + Duration::days(1);
    spec.not_after = base.at + Duration::days(400);
    let future = pki.issue_vek(&spec)?;
    let report = SnpReportBuilder::from_bytes(&base.report)?.sign(&future)?;
    b.sim(
        "vcek-not-yet-valid",
        "the VCEK's notBefore is one day after the verification time",
        report,
        future.der,
        &[SnpCheck::Vek],
    );
    let vlek = pki.issue_vek(&VekSpec::vlek(product, tcb, "CN=simulated-csp"))?;
    let report = SnpReportBuilder::from_bytes(&base.report)?.sign(&vlek)?;
    b.sim(
        "vlek-but-signing-key-vcek",
        "signed by a VLEK, KEY_INFO.SIGNING_KEY says VCEK",
        report,
        vlek.der,
        &[SnpCheck::SignatureAlgorithm],
    );

    debug_assert!(b.cases.iter().all(|c| c.report.len() == REPORT_LEN || c.name.starts_with("length")));
    Ok(b.cases)
}
