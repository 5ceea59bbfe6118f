//! `ccgpu verify gpu`: read the evidence files, locate the RIMs, appraise, print, and exit by verdict.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, GpuAppraise, GpuEvidence, VerifierCache, appraise_gpu, implied_rim_ids,
    revocation_queries, rim_file_candidates,
};

use crate::cli::{Format, GpuArgs};
use crate::exit::Exit;
use crate::ocsp_plan::OcspPlan;
use crate::revocation::OcspSource;
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

    let (driver_path, vbios_path) = match (&args.rim_dir, &args.driver_rim, &args.vbios_rim) {
        (Some(dir), _, _) => locate_rims(dir, &report, &chain)?,
        (None, Some(d), Some(v)) => (d.clone(), v.clone()),
        _ => bail!("give either --rim-dir or both --driver-rim and --vbios-rim"),
    };
    let driver = input::read_file("driver RIM", &driver_path)?;
    let vbios = input::read_file("VBIOS RIM", &vbios_path)?;

    let anchors = Anchors::nvidia();
    let evidence =
        GpuEvidence { report: &report_bytes, chain: &chain, driver_rim: Some(&driver), vbios_rim: Some(&vbios) };
    let ocsp = OcspPlan::from_flags(&args.ocsp, OcspSource::Online, args.at.as_deref(), at)?;
    let cache = VerifierCache::new();
    let responses = ocsp.responses(&revocation_queries(&evidence, &anchors, &cache))?;
    let revocation = ocsp.revocation(&responses);
    let ctx = GpuAppraise { nonce: &nonce, at, anchors: &anchors, policy: &policy, revocation, cache: Some(&cache) };
    let appraisal = appraise_gpu(&evidence, &ctx);

    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&appraisal.to_json())?),
        Format::Text => print!("{}", render::gpu_text(&appraisal, &driver_path, &vbios_path)),
    }
    Ok(appraisal.verdict.into())
}

/// Finds the driver and VBIOS RIM files the report implies in `dir`.
fn locate_rims(dir: &Path, report: &AttestationReport, chain: &CertChain) -> anyhow::Result<(PathBuf, PathBuf)> {
    let ids = implied_rim_ids(report, chain).context(
        "cannot derive RIM ids: the chain names no known GPU chip, or the report lacks its driver/VBIOS fields; \
         pass --driver-rim and --vbios-rim instead",
    )?;
    let find = |kind: &str, id: Option<&String>| -> anyhow::Result<PathBuf> {
        let id = id.with_context(|| format!("the report does not carry what the {kind} RIM id needs"))?;
        let names = rim_file_candidates(id);
        names.iter().map(|n| dir.join(n)).find(|p| p.is_file()).with_context(|| {
            format!("no {kind} RIM for this GPU in {}: looked for {}", dir.display(), names.join(", "))
        })
    };
    Ok((find("driver", ids.driver.as_ref())?, find("VBIOS", ids.vbios.as_ref())?))
}
