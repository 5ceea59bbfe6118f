//! The demo's steps in order: the host ([`super::host`]) up to NodePrepareResources, the Kata hand-over and
//! the guest ([`super::guest`] or, with `--real-evidence`, [`super::recorded`]), then the teardown and the
//! audit of the attestation log. Each step is timed and printed by [`Report`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use ccgpu_attestation::{LogReader, LogRecord};
use ccgpu_guest_agent::fresh_nonce;
use ccgpu_guest_agent::sim::SimPkis;
use ccgpu_host_shim::sim::FakeApiServer;
use time::OffsetDateTime;

use super::DemoArgs;
use super::guest::{self, Guest, Plugged};
use super::host::{self, Claim, Host};
use super::output::{Report, short};
use super::recorded::{self, Recording};
use super::remote;
use super::summary::{Finished, GpuRow, GuestResult};

/// What the run is.
pub(super) struct Plan<'a> {
    pub(super) args: &'a DemoArgs,
    pub(super) recording: Option<&'a Recording>,
    pub(super) at: Option<OffsetDateTime>,
    pub(super) work: PathBuf,
}

fn claim_uid() -> anyhow::Result<String> {
    let b = fresh_nonce().context("random claim uid")?;
    let h = hex::encode(&b[..16]);
    Ok(format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]))
}

impl Plan<'_> {
    async fn start_relying_party(&self, report: &mut Report, pkis: &SimPkis) -> anyhow::Result<remote::RelyingParty> {
        let step = report.begin("verifier", "starting ccgpu-verifier");
        let policy = ccgpu_guest_agent::Config::default().policy;
        let rp = remote::RelyingParty::start(pkis, &policy, &self.work).await?;
        report.finish(
            step,
            true,
            format!("ccgpu-verifier (the relying party) serving on {}", rp.url),
            vec![
                "trusts the simulation's roots and RIM store (SIMULATED); EAR and log keys generated for this run"
                    .into(),
                format!("policy pins the simulated image's launch measurement; log in {}", rp.log_dir.display()),
            ],
        );
        Ok(rp)
    }

    fn gpus(&self) -> u8 {
        if self.recording.is_some() { 1 } else { self.args.gpus.unwrap_or(2) }
    }

    pub(super) async fn run(&self, report: &mut Report) -> anyhow::Result<Finished> {
        let wall = Instant::now();
        let n = self.gpus();
        self.banner(report, n);

        // Hardware and PKIs.
        let step = report.begin("simulated-hardware", "generating the simulated PKIs (RSA-4096 AMD roots)");
        let pkis = tokio::task::spawn_blocking(SimPkis::generate).await?.context("simulated PKIs")?;
        report.finish(
            step,
            true,
            format!("SIMULATED hardware: {n}× H200 (10de:2335) on an HGX-like PCI bus; simulated GPU and AMD PKIs"),
            vec![
                "GPU device + RIM signing roots and AMD ARK/ASK/VCEK generated now: trusted by this demo only".into(),
                "(NVIDIA's and AMD's production roots are compiled in and used for real evidence)".into(),
            ],
        );

        // The node.
        let step = report.begin("node", "opening the node layer");
        let host = Host::open(&self.work, n)?;
        let details = host
            .gpus
            .iter()
            .map(|g| {
                let mut s = format!("{}  {}  IOMMU group {}", g.name, g.bdf, g.group);
                for c in &g.companions {
                    s.push_str(&format!(" + {c} (audio, moves with it)"));
                }
                for b in &g.bridges {
                    s.push_str(&format!(" + {b} (PCIe switch port, left alone)"));
                }
                s
            })
            .collect();
        report.finish(
            step,
            true,
            format!(
                "node layer opened (node lock taken, nothing to recover): {} GPUs, each with its IOMMU group",
                host.gpus.len()
            ),
            details,
        );

        // API server, plugin, registration, slice.
        let step = report.begin("api-server", "starting the API server simulation");
        let api = FakeApiServer::start(host::NODE).await.context("starting the API server simulation")?;
        report.finish(
            step,
            true,
            format!("API server (SIMULATED, in process): resource.k8s.io/v1 at {}", api.url()),
            vec![],
        );

        let step = report.begin("plugin", "starting the kubelet plugin");
        let plugin = host.start_plugin(&api).await?;
        report.finish(
            step,
            true,
            "kubelet plugin serving: DRA v1 + v1beta1 and plugin registration on unix sockets",
            vec![format!("{}", plugin.sockets.dra.display()), format!("{}", plugin.sockets.registration.display())],
        );

        let step = report.begin("register", "registering with the kubelet");
        let kubelet = host.register().await?;
        report.finish(
            step,
            true,
            format!(
                "kubelet (SIMULATED stand-in) registered {} over the registration socket; chose {}",
                kubelet.info.name, kubelet.chosen
            ),
            vec![],
        );

        let step = report.begin("publish", "waiting for the ResourceSlice");
        let published = host::wait_published(&api, usize::from(n), Duration::from_secs(20)).await?;
        let slices = api.slices();
        let mut details = Vec::new();
        let mut tainted = 0;
        for slice in slices.values() {
            for d in slice["spec"]["devices"].as_array().into_iter().flatten() {
                let a = &d["attributes"];
                if d.get("taints").is_some() {
                    tainted += 1;
                }
                details.push(format!(
                    "{}: {} {}, ccMode {}, iommuGroup {}, memory {}",
                    d["name"].as_str().unwrap_or("?"),
                    a["productName"]["string"].as_str().unwrap_or("?"),
                    a["resource.kubernetes.io/pciBusID"]["string"].as_str().unwrap_or("?"),
                    a["ccMode"]["string"].as_str().unwrap_or("?"),
                    a["iommuGroup"]["int"],
                    d["capacity"]["memory"]["value"].as_str().unwrap_or("?"),
                ));
            }
        }
        report.finish(
            step,
            tainted == 0,
            format!(
                "ResourceSlice published: pool {}, {} devices; host pre-flight attestation (advisory): {} passed",
                host::NODE,
                published.len(),
                published.len() - tainted
            ),
            details,
        );

        let step = report.begin("allocate", "allocating the claim");
        let claim = host::allocate(&api, &published, usize::from(n), &claim_uid()?);
        report.finish(
            step,
            true,
            format!(
                "scheduler (SIMULATED): ResourceClaim {}/{} allocated {}",
                host::NAMESPACE,
                host::CLAIM,
                claim.devices.join(", ")
            ),
            vec![format!("claim uid {}", claim.uid)],
        );

        // Prepare.
        let step = report.begin("prepare", "NodePrepareResources");
        let prepared = host::prepare(&kubelet, &claim).await?;
        let moved = host.on_vfio(&prepared)?;
        let spec = host.cdi_spec(&claim.uid)?;
        let snapshot = self.work.join("prepared");
        std::fs::create_dir_all(&snapshot)?;
        let mut kept_files = Vec::new();
        for (what, file) in [("CDI spec", spec.clone()), ("checkpoint record", host.checkpoint_file(&claim.uid))] {
            let name = file.file_name().context("file name")?;
            std::fs::copy(&file, snapshot.join(name)).with_context(|| format!("copying {}", file.display()))?;
            kept_files.push((what.to_owned(), snapshot.join(name)));
        }
        let mut details: Vec<String> = vec![format!(
            "{} functions now on vfio-pci: {}",
            moved.len(),
            moved.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )];
        details.extend(prepared.iter().map(|d| format!("{} → {}", d.device, d.cdi_device_ids.join(", "))));
        details.push(format!("CDI spec {}", spec.display()));
        report.finish(
            step,
            true,
            format!(
                "NodePrepareResources (v1): {} IOMMU group(s) bound to vfio-pci, CDI spec written, checkpoint completed",
                prepared.len()
            ),
            details,
        );

        // Kata.
        let step = report.begin("kata", "cold-plugging the devices");
        let plugged = guest::resolve_cdi(&spec, &prepared)?;
        let guest_dir = self.work.join("guest");
        std::fs::create_dir_all(&guest_dir)?;
        let relying_party = match self.args.remote {
            true => Some(self.start_relying_party(report, &pkis).await?),
            false => None,
        };
        let remote = relying_party.as_ref().map(|r| (r.appraisals_url(), r.public_pem.clone()));
        let guest = Guest::boot(pkis, n, &guest_dir, remote.as_ref().map(|(u, k)| (u.as_str(), k.as_str())))?;
        let mut details = Vec::new();
        for ((d, p), gbdf) in prepared.iter().zip(&plugged).zip(guest.addresses()) {
            let host_bdf = host.gpus.iter().find(|g| g.name == d.device).map(|g| g.bdf.to_string()).unwrap_or_default();
            details.push(format!("host {host_bdf} → guest {gbdf} via {}", p.nodes.join(" + ")));
        }
        report.finish(
            step,
            true,
            "Kata runtime (SIMULATED): CDI ids resolved, devices cold-plugged into the confidential VM (SIMULATED)",
            details,
        );

        let step = report.begin("guest-config", "configuring the guest agent");
        let config_details = vec![
            format!("kernel command line: {}", guest.cmdline),
            format!("policy digest {}", short(&guest.config.policy.digest())),
        ];
        report.finish(
            step,
            true,
            if relying_party.is_some() {
                "guest agent configured from the kernel command line (measured at launch) and the configuration \
                 file it pins: remote verification, the verifier's EAR key pinned"
            } else {
                "guest agent configured from the kernel command line (measured at launch): local verification"
            },
            config_details,
        );

        // The guest.
        let result = match (self.recording, self.at) {
            (Some(recording), Some(at)) => recorded::run_recorded(report, &guest, recording, at).await?,
            _ => guest::run_simulated(report, &guest, self.args.tamper).await?,
        };

        // What the log says.
        let step = report.begin("log", "reading the attestation log");
        let record = last_record(guest.log())?;
        let title = if result.ready {
            format!("attestation log: line {} records the appraisal: {}", record.line, record.verdict.name())
        } else {
            format!(
                "attestation log: line {} records why: {}, failed checks {}",
                record.line,
                record.verdict.name(),
                record.failed_checks.join(", ")
            )
        };
        let mut details = vec![format!("{}", guest.log().display())];
        if let Some(nonce) = &record.nonce {
            details.push(format!("nonce {}", short(&hex::encode(&nonce.0))));
        }
        report.finish(step, true, title, details);
        if let Some(rp) = relying_party {
            let step = report.begin("verifier-log", "reading the verifier's attestation log");
            let summary = LogReader::open(rp.log_file())?.verify().context("ccgpu log verify (verifier)")?;
            let central = last_record(&rp.log_file())?;
            ensure!(record.nonce == central.nonce, "the verifier's last record is for another nonce than the guest's");
            let agreed = remote::same_evidence(&record, &central) && central.verdict == record.verdict;
            ensure!(agreed || !result.ready, "the guest released GPUs on evidence the verifier's record does not name");
            rp.stop().await?;
            let title = if agreed {
                format!(
                    "ccgpu-verifier log: line {} records the appraisal: {}; same nonce and evidence digests as the \
                     guest's record",
                    central.line,
                    central.verdict.name()
                )
            } else {
                // E.g. a tampered RIM: the verifier appraised with its own copy and said so (its EAR names that
                // RIM's digest); the guest refuses a verdict about other evidence than it sent.
                format!(
                    "ccgpu-verifier log: line {} records its appraisal ({}) of the service's own RIMs; the guest \
                     refused that answer: {}",
                    central.line,
                    central.verdict.name(),
                    record.failed_checks.join(", ")
                )
            };
            report.finish(
                step,
                true,
                title,
                vec![format!(
                    "verifier log {}: chain intact, {} lines, head {}:{}",
                    summary.header.log_id,
                    summary.lines,
                    summary.head.line,
                    short(&summary.head.hash.to_string())
                )],
            );
        }

        // Teardown.
        let step = report.begin("unprepare", "NodeUnprepareResources");
        host::unprepare(&kubelet, &claim).await?;
        report.finish(
            step,
            true,
            "NodeUnprepareResources (v1beta1): original drivers restored, CDI spec and checkpoint record removed",
            vec![],
        );

        let step = report.begin("restored", "comparing the node with its boot state");
        let functions = host.restored()?;
        report.finish(
            step,
            true,
            format!(
                "node back to its boot state: {functions} PCI functions on their original drivers, no CDI spec, no checkpoint"
            ),
            vec![],
        );

        let step = report.begin("stop", "stopping the plugin");
        let sockets = plugin.sockets.clone();
        plugin.stop().await.context("stopping the plugin")?;
        ensure!(api.slices().is_empty(), "the ResourceSlice was not withdrawn");
        ensure!(!sockets.dra.exists() && !sockets.registration.exists(), "sockets left behind");
        api.stop().await.context("stopping the API server simulation")?;
        report.finish(
            step,
            true,
            "plugin stopped: registration withdrawn, ResourceSlice deleted, sockets removed",
            vec![],
        );

        let step = report.begin("log-verify", "verifying the attestation log");
        let summary = LogReader::open(guest.log())?.verify().context("ccgpu log verify")?;
        let v = summary.verdicts;
        report.finish(
            step,
            true,
            format!(
                "ccgpu log verify: chain intact, {} lines ({} affirming, {} contraindicated), head {}:{}",
                summary.lines,
                v.affirming,
                v.contraindicated,
                summary.head.line,
                short(&summary.head.hash.to_string())
            ),
            vec![],
        );

        let gpus = rows(&host, &claim, &prepared_ids(&plugged), guest.addresses(), &result);
        Ok(Finished {
            ready: result.ready,
            verdict: result.verdict,
            failures: record.failed_checks.clone(),
            gpus,
            log: guest.log().to_owned(),
            record,
            summary,
            prepared: kept_files,
            wall: wall.elapsed(),
            mode: if self.recording.is_some() { "real-evidence" } else { "simulated" },
            work: self.work.clone(),
        })
    }

    fn banner(&self, report: &Report, n: u8) {
        report.say("ccgpu demo — the whole pipeline on this machine, with the code that runs on a real node");
        report.say("");
        report.say(
            "  SIMULATION: PCI bus, kubelet, API server + scheduler, Kata runtime, NVML and SEV-SNP are simulated;",
        );
        report.say("  the kubelet plugin, node layer, guest agent, verifier and attestation log are the real code.");
        match (self.recording, self.args.tamper) {
            (Some(r), _) => {
                report.say(format!("  REAL EVIDENCE: the guest verifies the H100 recording in {}", r.dir.display()))
            }
            (None, Some(t)) => report.say(format!("  TAMPER {t}: {}", t.what())),
            (None, None) => {}
        }
        report.say(format!("  {n} GPU(s); work directory {}", self.work.display()));
        report.say("");
    }
}

fn prepared_ids(plugged: &[Plugged]) -> Vec<String> {
    plugged.iter().map(|p| p.cdi_id.clone()).collect()
}

fn last_record(log: &Path) -> anyhow::Result<LogRecord> {
    let mut last = None;
    for r in LogReader::open(log)?.records() {
        last = Some(r?.1);
    }
    last.context("the attestation log has no record")
}

fn rows(
    host: &Host,
    claim: &Claim,
    cdi_ids: &[String],
    guest_bdfs: &[ccgpu_pci::PciAddress],
    g: &GuestResult,
) -> Vec<GpuRow> {
    claim
        .devices
        .iter()
        .enumerate()
        .map(|(i, device)| {
            let h = host.gpus.iter().find(|x| &x.name == device);
            let r = g.rows.get(i);
            GpuRow {
                device: device.clone(),
                host_bdf: h.map(|x| x.bdf.to_string()).unwrap_or_default(),
                group: h.map(|x| x.group.clone()).unwrap_or_default(),
                cdi_id: cdi_ids.get(i).cloned().unwrap_or_default(),
                guest_bdf: guest_bdfs.get(i).map(ToString::to_string).unwrap_or_default(),
                uuid: r.map(|r| r.uuid.clone()).unwrap_or_default(),
                verdict: r.map(|r| r.verdict.clone()).unwrap_or_default(),
                state: r.map(|r| r.state.clone()).unwrap_or_default(),
                failed_checks: r.map(|r| r.failed_checks.clone()).unwrap_or_default(),
                time_to_ready: r.and_then(|r| r.time_to_ready),
            }
        })
        .collect()
}
