//! `ccgpu verify bundle`: appraise a composite evidence bundle and print it as text, JSON or an EAR.

use anyhow::{Context as _, bail};
use ccgpu_attestation::{
    AmdRoots, Anchors, BundleAppraise, EvidenceBundle, GpuEvidence, VerifierCache, appraise_bundle_with_switches,
    revocation_queries,
};

use crate::cli::{BundleArgs, BundleFormat};
use crate::exit::Exit;
use crate::ocsp_plan::OcspPlan;
use crate::revocation::OcspSource;
use crate::{input, render};

pub fn run(args: &BundleArgs) -> anyhow::Result<Exit> {
    let bytes = input::read_file("bundle", &args.bundle)?;
    let (bundle, switches) =
        EvidenceBundle::parse_with_switches(&bytes).with_context(|| format!("bundle {}", args.bundle.display()))?;
    let at = input::verification_time(args.at.as_deref())?;
    let nonce = args.nonce.as_deref().map(input::nonce).transpose()?;
    let policy = input::policy(args.policy.as_deref())?;
    if args.ear_key.is_some() && args.format != BundleFormat::Ear {
        bail!("--ear-key signs an EAR: use it with --format ear");
    }
    let anchors = Anchors::nvidia();
    let roots = AmdRoots::amd();

    let carries_ocsp = bundle.gpus.iter().any(|g| !g.ocsp.is_empty()) || switches.iter().any(|s| !s.ocsp.is_empty());
    let default = if carries_ocsp { OcspSource::Bundled } else { OcspSource::Online };
    let plan = OcspPlan::from_flags(&args.ocsp, default, args.at.as_deref(), at)?;
    let cache = VerifierCache::new();
    let mut queries = Vec::new();
    for g in &bundle.gpus {
        let evidence = GpuEvidence {
            report: &g.report,
            chain: &g.chain,
            driver_rim: g.driver_rim.as_deref(),
            vbios_rim: g.vbios_rim.as_deref(),
        };
        queries.extend(revocation_queries(&evidence, &anchors, &cache));
    }
    // A switch's chain and RIM need the same positions' statuses as a GPU's (the report is not read).
    for s in &switches {
        let evidence =
            GpuEvidence { report: &s.report, chain: &s.chain, driver_rim: None, vbios_rim: s.vbios_rim.as_deref() };
        for q in revocation_queries(&evidence, &anchors, &cache) {
            if !queries.iter().any(|o| o.cert_id == q.cert_id) {
                queries.push(q);
            }
        }
    }
    let extra = plan.responses(&queries)?;
    let ctx = BundleAppraise {
        expected_nonce: nonce.as_ref(),
        at,
        anchors: &anchors,
        amd_roots: &roots,
        policy: &policy,
        revocation: plan.bundle_revocation(&extra),
        cache: Some(&cache),
    };
    let appraisal = appraise_bundle_with_switches(&bundle, &switches, &ctx);

    match args.format {
        BundleFormat::Text => print!("{}", render::bundle_text(&appraisal)),
        BundleFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "verdict": appraisal.verdict,
                "failures": appraisal.failures(),
                "nonce": appraisal.nonce,
                "expected_report_data": appraisal.expected_report_data,
                "policy_sha384": appraisal.policy_digest,
                "verified_at": appraisal.verified_at,
                "bundle_checks": appraisal.checks,
                "cpu": appraisal.cpu,
                "gpus": appraisal.gpus.iter().map(|g| serde_json::json!({
                    "uuid": g.uuid, "bdf": g.bdf, "evidence_sha384": g.evidence_digest,
                    "appraisal": g.appraisal.to_json(),
                })).collect::<Vec<_>>(),
                "switches": appraisal.switches,
                "topology": appraisal.topology,
            }))?
        ),
        BundleFormat::Ear => {
            let ear = appraisal
                .to_ear(time::OffsetDateTime::now_utc().unix_timestamp(), concat!("ccgpu ", env!("CARGO_PKG_VERSION")));
            match &args.ear_key {
                None => println!("{}", serde_json::to_string_pretty(&ear)?),
                Some(path) => {
                    let key = input::read_file("EAR signing key", path)?;
                    let jwt = ear
                        .sign_jwt_pem(ear::Algorithm::ES384, &key)
                        .map_err(|e| anyhow::anyhow!("signing the EAR with {}: {e}", path.display()))?;
                    println!("{jwt}");
                }
            }
        }
    }
    Ok(appraisal.verdict.into())
}
