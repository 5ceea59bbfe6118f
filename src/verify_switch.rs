//! `ccgpu verify switch`: read one NVSwitch's evidence files, appraise, print, and exit by verdict.

use anyhow::Context as _;
use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, GpuAppraise, GpuEvidence, SwitchEvidence, VerifierCache, appraise_switch,
    revocation_queries,
};

use crate::cli::{Format, SwitchArgs};
use crate::exit::Exit;
use crate::ocsp_plan::OcspPlan;
use crate::revocation::OcspSource;
use crate::{input, render};

pub fn run(args: &SwitchArgs) -> anyhow::Result<Exit> {
    let report = input::read_hex_or_binary("report", &args.report)?;
    AttestationReport::parse_switch(&report).with_context(|| {
        format!("report {} is not an NVSwitch (LS10) SPDM attestation report", args.report.display())
    })?;
    let chain = CertChain::from_pem(&input::read_file("certificate chain", &args.cert_chain)?)
        .with_context(|| format!("certificate chain {}", args.cert_chain.display()))?;
    let rim = args.vbios_rim.as_deref().map(|p| input::read_file("switch VBIOS RIM", p)).transpose()?;
    let nonce = input::nonce(&args.nonce)?;
    let at = input::verification_time(args.at.as_deref())?;
    let policy = input::policy(args.policy.as_deref())?;

    let anchors = Anchors::nvidia();
    let cache = VerifierCache::new();
    // The statuses a switch needs are at the positions a GPU's are (the report is not read for them).
    let for_queries = GpuEvidence { report: &report, chain: &chain, driver_rim: None, vbios_rim: rim.as_deref() };
    let ocsp = OcspPlan::from_flags(&args.ocsp, OcspSource::Online, args.at.as_deref(), at)?;
    let responses = ocsp.responses(&revocation_queries(&for_queries, &anchors, &cache))?;
    let revocation = ocsp.revocation(&responses);
    let ctx = GpuAppraise { nonce: &nonce, at, anchors: &anchors, policy: &policy, revocation, cache: Some(&cache) };
    let appraisal =
        appraise_switch(&SwitchEvidence { report: &report, chain: &chain, vbios_rim: rim.as_deref() }, &ctx);

    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&appraisal)?),
        Format::Text => {
            let label = args.vbios_rim.as_ref().map_or_else(|| "none given".to_owned(), |p| p.display().to_string());
            print!("{}", render::switch_text(&appraisal, &label));
        }
    }
    Ok(appraisal.verdict.into())
}
