//! `ccgpu verify gpu`: read the evidence files, locate the RIMs (files, a directory or the RIM service),
//! appraise, print, and exit by verdict.

use std::time::Duration;

use anyhow::Context as _;
use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, GpuAppraise, GpuEvidence, VerifierCache, appraise_gpu, revocation_queries,
};

use crate::cli::{Format, GpuArgs};
use crate::exit::Exit;
use crate::ocsp_plan::OcspPlan;
use crate::revocation::OcspSource;
use crate::rim_source::{self, Online, RimSource};
use crate::{input, render};

pub fn run(args: &GpuArgs) -> anyhow::Result<Exit> {
    let report_bytes = input::read_hex_or_binary("report", &args.report)?;
    let report = AttestationReport::parse(&report_bytes)
        .with_context(|| format!("report {} is not an NVIDIA SPDM attestation report", args.report.display()))?;
    let chain = CertChain::from_pem(&input::read_file("certificate chain", &args.cert_chain)?)
        .with_context(|| format!("certificate chain {}", args.cert_chain.display()))?;
    let nonce = input::nonce(&args.nonce)?;
    let at = input::verification_time(args.at.as_deref())?;
    let policy = input::policy(args.policy.as_deref())?;

    // A RIM that cannot be found is a failed check (`*-rim-present`), not unusable input: every device
    // check still runs. A RIM file named on the command line that cannot be read is unusable input.
    let files = args.driver_rim.as_deref().zip(args.vbios_rim.as_deref());
    let source = args.rims.clone().unwrap_or(RimSource::Online);
    let online = Online {
        service: args.rim_service.clone(),
        timeout: Duration::from_secs(args.rim_timeout),
        cache: input::cache_flag(args.rim_cache.as_deref(), "rims"),
    };
    let (driver_rim, vbios_rim) = rim_source::locate(files, &source, &online, &report, &chain)?;
    let (driver, vbios) = (driver_rim.document, vbios_rim.document);

    let anchors = Anchors::nvidia();
    let evidence = GpuEvidence {
        report: &report_bytes,
        chain: &chain,
        driver_rim: driver.as_deref(),
        vbios_rim: vbios.as_deref(),
    };
    let ocsp = OcspPlan::from_flags(&args.ocsp, OcspSource::Online, args.at.as_deref(), at)?;
    let cache = VerifierCache::new();
    let responses = ocsp.responses(&revocation_queries(&evidence, &anchors, &cache))?;
    let revocation = ocsp.revocation(&responses);
    let ctx = GpuAppraise { nonce: &nonce, at, anchors: &anchors, policy: &policy, revocation, cache: Some(&cache) };
    let appraisal = appraise_gpu(&evidence, &ctx);

    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&appraisal.to_json())?),
        Format::Text => print!("{}", render::gpu_text(&appraisal, &driver_rim.label, &vbios_rim.label)),
    }
    Ok(appraisal.verdict.into())
}
