//! `ccgpu verify snp`: read the report and certificates, appraise under the policy, print, exit by verdict.

use anyhow::Context as _;
use std::time::Duration;

use ccgpu_attestation::{AmdRoots, OcspRequirement, SnpAppraise, SnpEvidence, SnpRevocation, VekKind, appraise_snp};
use ccgpu_fetch::AmdKds;
use time::OffsetDateTime;

use crate::cli::{Format, SnpArgs};
use crate::exit::Exit;
use crate::{input, render};

pub fn run(args: &SnpArgs) -> anyhow::Result<Exit> {
    let report = input::read_hex_or_binary("SNP report", &args.report)?;
    let vek = input::read_file("VCEK/VLEK certificate", &args.vcek)?;
    let ask_ark = args.ask_ark.as_deref().map(|p| input::read_file("ASK/ARK chain", p)).transpose()?;
    let report_data: Option<[u8; 64]> = args
        .report_data
        .as_deref()
        .map(|h| {
            let bytes = hex::decode(h.trim()).context("--report-data must be 128 hex digits")?;
            let n = bytes.len();
            <[u8; 64]>::try_from(bytes).map_err(|_| anyhow::anyhow!("--report-data must be 64 bytes, got {n}"))
        })
        .transpose()?;
    let at = input::verification_time(args.at.as_deref())?;
    let policy = input::policy(args.policy.as_deref())?;
    let roots = AmdRoots::amd();
    let evidence = SnpEvidence { report: &report, vek: &vek, ask_ark: ask_ark.as_deref() };
    let appraise = |revocation| {
        appraise_snp(
            &evidence,
            &SnpAppraise {
                at,
                expected_report_data: report_data.as_ref(),
                policy: &policy.snp,
                roots: &roots,
                cache: None,
                revocation,
            },
        )
    };
    let required = policy.ocsp.require == OcspRequirement::Required;
    let tolerance = policy.ocsp.tolerance();
    let appraisal = match args.crl.as_str() {
        "off" => appraise(SnpRevocation::NotChecked { required }),
        // Which CRL depends on the product and key kind of the ASK/ASVK that issued the VCEK/VLEK.
        "online" => match evidence.crl_needed(&roots) {
            Some((product, kind)) => {
                let cache = input::cache_flag(args.crl_cache.as_deref(), "amd-crl");
                let kds = AmdKds::new(&args.crl_service, Duration::from_secs(5), cache);
                match kds.fetch(product.name(), kind == VekKind::Vlek, OffsetDateTime::now_utc()) {
                    Ok(der) => appraise(SnpRevocation::Crl { der: &der, tolerance }),
                    Err(e) => appraise(SnpRevocation::Unavailable(&e.to_string())),
                }
            }
            // No ASK or ASVK of AMD's issued it: the chain check fails, and no CRL can matter.
            None => appraise(SnpRevocation::NotChecked { required }),
        },
        file => {
            let der = input::read_file("AMD CRL", std::path::Path::new(file))?;
            appraise(SnpRevocation::Crl { der: &der, tolerance })
        }
    };
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "verdict": appraisal.verdict,
                "failures": appraisal.checks.failures().iter().map(|c| c.name()).collect::<Vec<_>>(),
                "checks": appraisal.checks,
                "identity": appraisal.identity,
                "verified_at": appraisal.verified_at,
                "report_sha384": appraisal.report_digest,
                "policy_sha384": policy.digest(),
            }))?
        ),
        Format::Text => print!("{}", render::snp_text(&appraisal)),
    }
    Ok(appraisal.verdict.into())
}
