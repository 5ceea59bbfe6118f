//! The real SEV-SNP evidence in the shared test data, and appraising evidence in one call.

#![allow(dead_code)] // each test binary uses a different subset

use ccgpu_attestation::{
    AmdRoots, Outcome, SnpAppraisal, SnpAppraise, SnpCheck, SnpEvidence, SnpPolicy, SnpRevocation, VerifierCache,
    appraise_snp,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// One real report with its VCEK/VLEK, as shipped by its source.
#[derive(Debug, Clone)]
pub struct RealSnp {
    /// Short name.
    pub name: &'static str,
    /// Report bytes.
    pub report: Vec<u8>,
    /// VCEK/VLEK as found (DER).
    pub vek: Vec<u8>,
    /// The ASK/ARK bundle that came with it (PEM).
    pub ask_ark: Vec<u8>,
    /// A time inside every certificate's validity.
    pub at: OffsetDateTime,
    /// The policy under which it is affirming: the default one with the report's own launch measurement
    /// pinned (unpinned, every check passes but the verdict is `warning`), plus what the report needs.
    pub policy: SnpPolicy,
}

impl RealSnp {
    /// The report's own REPORT_DATA (the sources do not publish the nonces separately).
    pub fn report_data(&self) -> [u8; 64] {
        self.report[0x50..0x90].try_into().expect("64 bytes")
    }

    /// Appraises the report as found (no ASK/ARK bundle, no cache) under `roots`; a test that varies one
    /// input does so with struct update: `RealSnp { vek: other, ..real.clone() }.appraise(&roots)`.
    pub fn appraise(&self, roots: &AmdRoots) -> SnpAppraisal {
        appraise(&self.report, &self.vek, None, Some(&self.report_data()), self.at, &self.policy, roots, None)
    }
}

fn hex_text(bytes: &[u8]) -> Vec<u8> {
    hex::decode(String::from_utf8_lossy(bytes).split_whitespace().collect::<String>()).expect("hex")
}

/// Every real report, or `None` to skip when the shared data is absent.
pub fn real_reports() -> Option<Vec<RealSnp>> {
    let read = |rel: &str| ccgpu_test_support::read_testdata(&format!("snp/{rel}"));
    let debug_ok = SnpPolicy { allow_debug: true, ..SnpPolicy::default() };
    let reals = vec![
        RealSnp {
            name: "virtee-milan-v2",
            report: hex_text(&read("virtee/report_milan.hex")?),
            vek: read("virtee/vcek_milan.der")?,
            ask_ark: read("virtee/cert_chain_milan")?,
            at: datetime!(2025-01-01 0:00 UTC),
            policy: SnpPolicy::default(),
        },
        RealSnp {
            name: "trustee-milan-v2",
            report: read("trustee/test-report.bin")?,
            vek: read("trustee/test-vcek.der")?,
            ask_ark: read("trustee/milan_ask_ark_asvk.pem")?,
            at: datetime!(2025-01-01 0:00 UTC),
            policy: SnpPolicy::default(),
        },
        RealSnp {
            name: "trustee-milan-v3-vlek",
            report: read("trustee/test-vlek-report.bin")?,
            vek: read("trustee/test-vlek.der")?,
            ask_ark: read("trustee/milan_ask_ark_asvk.pem")?,
            at: datetime!(2025-06-01 0:00 UTC),
            policy: SnpPolicy::default(),
        },
        RealSnp {
            name: "go-sev-guest-milan-v2-debug",
            report: read("go-sev-guest/attestation.bin")?,
            vek: read("go-sev-guest/vcek.testcer")?,
            ask_ark: read("go-sev-guest/milan.testcer")?,
            at: datetime!(2025-01-01 0:00 UTC),
            policy: debug_ok,
        },
        RealSnp {
            name: "automata-milan-v2",
            report: read("automata/report.bin")?,
            vek: read("automata/vek_cert.der")?,
            ask_ark: read("automata/risc0-data-sev-vcek_issuer.pem")?,
            at: datetime!(2025-06-01 0:00 UTC),
            policy: SnpPolicy::default(),
        },
        RealSnp {
            name: "lunal-genoa-v5",
            report: read("lunal/live-report-v5-genoa.bin")?,
            vek: read("lunal/live-vcek-genoa.der")?,
            ask_ark: read("trustee/genoa_ask_ark_asvk.pem")?,
            at: datetime!(2026-03-01 0:00 UTC),
            policy: SnpPolicy::default(),
        },
        lunal_json(&read("lunal/live-evidence-genoa.json")?, read("trustee/genoa_ask_ark_asvk.pem")?),
    ];
    Some(
        reals
            .into_iter()
            .map(|r| {
                let policy = pinned(&r.policy, &r.report);
                RealSnp { policy, ..r }
            })
            .collect(),
    )
}

/// `policy` with the launch measurement of `report` as the only one accepted.
pub fn pinned(policy: &SnpPolicy, report: &[u8]) -> SnpPolicy {
    let m: [u8; 48] = report[0x90..0xC0].try_into().expect("48 bytes");
    SnpPolicy { measurements: Some(vec![ccgpu_attestation::Measurement(m)]), ..policy.clone() }
}

/// The second live Genoa capture: a JSON evidence document with the report and its VCEK in base64.
fn lunal_json(json: &[u8], ask_ark: Vec<u8>) -> RealSnp {
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_slice(json).expect("lunal evidence JSON");
    let b64 = |s: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("base64 string")).expect("base64")
    };
    RealSnp {
        name: "lunal-genoa-v5-json",
        report: b64(&v["evidence"]["attestation_report"]),
        vek: b64(&v["evidence"]["cert_chain"]["vcek"]),
        ask_ark,
        at: datetime!(2026-03-01 0:00 UTC),
        policy: SnpPolicy::default(),
    }
}

/// Appraises evidence in one call (every input of an appraisal is an argument, hence their number).
#[allow(clippy::too_many_arguments)]
pub fn appraise(
    report: &[u8],
    vek: &[u8],
    ask_ark: Option<&[u8]>,
    report_data: Option<&[u8; 64]>,
    at: OffsetDateTime,
    policy: &SnpPolicy,
    roots: &AmdRoots,
    cache: Option<&VerifierCache>,
) -> SnpAppraisal {
    appraise_snp(
        &SnpEvidence { report, vek, ask_ark },
        &SnpAppraise {
            at,
            expected_report_data: report_data,
            policy,
            roots,
            cache,
            revocation: SnpRevocation::NotChecked { required: false },
        },
    )
}

/// Checks whose outcome is `Failed` (not those that merely could not run).
pub fn failed(a: &SnpAppraisal) -> Vec<SnpCheck> {
    a.checks.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).map(|r| r.check).collect()
}

/// Checks that were skipped.
pub fn skipped(a: &SnpAppraisal) -> Vec<SnpCheck> {
    a.checks.iter().filter(|r| matches!(r.outcome, Outcome::Skipped { .. })).map(|r| r.check).collect()
}

/// Every blocking outcome as text, for assertion messages.
pub fn explain(a: &SnpAppraisal) -> String {
    a.checks
        .iter()
        .filter(|r| r.outcome.blocks())
        .map(|r| format!("{}: {}", r.check, r.outcome.text()))
        .collect::<Vec<_>>()
        .join(" | ")
}
