//! `ccgpu demo --remote`: the relying party in the middle. The real `ccgpu-verifier` service (its
//! library, served on 127.0.0.1) appraises the bundle the guest agent sends in remote mode, logs it, and
//! answers with a signed EAR; the agent releases the GPUs only on that answer. SIMULATED here: the
//! service trusts the simulation's roots and takes its RIMs from the simulation's RIM store; its EAR and
//! log keys are generated for this run (the real service only ever loads keys from files).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use ccgpu_attestation::{CheckpointSigner, Checkpointing, LogRecord, Measurement, Policy};
use ccgpu_guest_agent::RimSource as _;
use ccgpu_guest_agent::sim::{SIM_LAUNCH_MEASUREMENT, SimPkis};
use ccgpu_verifier::{
    App, CentralLog, Challenges, EarSigningKey, HttpLimits, OcspSetting, RateLimiter, RimLookup, RimSetting, Service,
    ServiceParts, Sources,
};

/// The running relying party.
pub struct RelyingParty {
    /// Its base URL.
    pub url: String,
    /// The public EAR key guests pin.
    pub public_pem: String,
    /// Its log directory.
    pub log_dir: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").field("url", &self.url).finish_non_exhaustive()
    }
}

fn pem(der: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n")).into_bytes()
}

/// The relying party's policy: `guest`'s, with the simulated image's launch measurement pinned (a
/// relying party pins the image; without it the CPU verdict is only a warning).
pub fn policy(guest: &Policy) -> Policy {
    let mut policy = guest.clone();
    policy.snp.measurements = Some(vec![Measurement(SIM_LAUNCH_MEASUREMENT)]);
    policy
}

impl RelyingParty {
    /// Starts the service on 127.0.0.1 with its log under `dir`, trusting `pkis`.
    pub async fn start(pkis: &SimPkis, guest_policy: &Policy, dir: &Path) -> anyhow::Result<Self> {
        let ear_key = EarSigningKey::from_pem(pem(&CheckpointSigner::generate_pkcs8()?)).map_err(anyhow::Error::msg)?;
        let log_key = CheckpointSigner::from_pkcs8(&CheckpointSigner::generate_pkcs8()?)?;
        let log_dir = dir.join("verifier-log");
        let every = std::num::NonZeroU64::new(64).context("cadence")?;
        let (log, _) = CentralLog::open(
            &log_dir,
            256 * 1024 * 1024,
            Some(Checkpointing { signer: log_key, every }),
            time::OffsetDateTime::now_utc(),
        )?;
        let rims = pkis.gpu.rims();
        let lookup = RimLookup(Arc::new(move |id: &str| rims.rim(id).ok().flatten()));
        let public_pem = ear_key.public_pem().to_owned();
        let service = Service::new(ServiceParts {
            ear_key,
            policy: policy(guest_policy),
            anchors: pkis.gpu.anchors(),
            roots: pkis.snp.roots().context("simulated AMD roots")?,
            sources: Sources::new(RimSetting::Lookup(lookup), &OcspSetting::Off)?,
            log,
            challenges: Challenges::new(Duration::from_secs(60), 1024),
            require_challenge: false,
            max_depth: ccgpu_verifier::DEFAULT_MAX_DEPTH,
        });
        let app = Arc::new(App {
            service: Arc::new(service),
            limits: HttpLimits {
                max_body: 2 * 1024 * 1024,
                request_timeout: Duration::from_secs(30),
                rate: RateLimiter::new(100.0, 100),
            },
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(ccgpu_verifier::serve(listener, app, async {
            let _ = stopped.await;
        }));
        Ok(Self { url, public_pem, log_dir, stop, served })
    }

    /// The appraisal URL guests POST to.
    pub fn appraisals_url(&self) -> String {
        format!("{}/v1/appraisals", self.url)
    }

    /// The service's log file.
    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join("attestation-000001.log")
    }

    /// Stops the service.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.served.await.context("the verifier task")?.context("serving")
    }
}

/// True when `guest` and `service` records name the same evidence (report and chain digests, per device).
pub fn same_evidence(guest: &LogRecord, service: &LogRecord) -> bool {
    guest.nonce == service.nonce
        && guest.devices.len() == service.devices.len()
        && guest.devices.iter().zip(&service.devices).all(|(g, s)| {
            g.kind == s.kind
                && g.evidence.report.is_some()
                && g.evidence.report == s.evidence.report
                && g.evidence.chain == s.evidence.chain
        })
}

#[cfg(test)]
mod tests {
    use super::super::{DemoArgs, Tamper, run};
    use crate::exit::Exit;

    fn args(tamper: Option<Tamper>) -> DemoArgs {
        DemoArgs { gpus: Some(2), tamper, real_evidence: None, at: None, remote: true, keep: false, json: true }
    }

    #[test]
    fn the_remote_demo_releases_on_the_verifiers_ear_and_not_on_one_about_another_rim() {
        assert_eq!(run(&args(None)).expect("demo"), Exit::Affirming);
        // A tampered RIM: the verifier appraises its own copy; the guest refuses a verdict naming another RIM.
        assert_eq!(run(&args(Some(Tamper::RimSignature))).expect("demo"), Exit::NotAffirming);
    }
}
