//! Shared fixtures: the simulated PKIs (once per test binary), a simulated guest that produces real
//! bundles (the guest agent's own evidence path over simulated GPUs and SEV-SNP), the service's files
//! (keys, policy, trust directory, RIM directory), and the service in process on 127.0.0.1:0.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ccgpu_attestation::{CheckpointSigner, EvidenceBundle, Measurement, Policy};
use ccgpu_guest_agent::sim::{SIM_LAUNCH_MEASUREMENT, SimFleet, SimPkis};
use ccgpu_guest_agent::{Agent, AuditLog, Config, Outcome, Verifier, Waits};
use ccgpu_verifier::{
    App, CentralLog, Challenges, EarSigningKey, HttpLimits, OcspSetting, RateLimiter, RimSetting, Service,
    ServiceParts, Sources, rim_ids,
};

pub fn pkis() -> SimPkis {
    static PKIS: OnceLock<SimPkis> = OnceLock::new();
    PKIS.get_or_init(|| SimPkis::generate().expect("simulated PKIs")).clone()
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// A fresh P-384 PKCS#8 private key, PEM.
pub fn private_key_pem() -> String {
    pem("PRIVATE KEY", &CheckpointSigner::generate_pkcs8().expect("key"))
}

/// The relying party's policy: the default, with the simulated image's launch measurement pinned.
pub fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.snp.measurements = Some(vec![Measurement(SIM_LAUNCH_MEASUREMENT)]);
    policy
}

/// A simulated guest with `gpus` GPUs, brought up once (locally) so it can produce fresh evidence.
pub struct Guest {
    pub fleet: SimFleet,
    pub agent: Arc<Agent>,
    pub dir: tempfile::TempDir,
}

impl Guest {
    pub fn new(gpus: u8) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let fleet = SimFleet::new(pkis(), gpus);
        let config = Config {
            log: dir.path().join("guest.log"),
            waits: Waits { base: Duration::ZERO, per_gpu: Duration::ZERO },
            ..Config::default()
        };
        let verifier: Arc<dyn Verifier> = Arc::new(fleet.local_verifier(policy()).expect("verifier"));
        let deps = fleet.deps(verifier, Arc::new(AuditLog::new(dir.path().join("guest.log"))));
        let agent = Agent::new(config, deps, Instant::now());
        assert_eq!(agent.bring_up(), Outcome::Ready, "{:#?}", agent.status().snapshot());
        Self { fleet, agent, dir }
    }

    pub fn bundle(&self, nonce: [u8; 32]) -> EvidenceBundle {
        self.agent.fresh_evidence(nonce).expect("fresh evidence")
    }
}

/// The service's files: keys, policy, trust directory (the simulation's roots), RIM directory.
pub struct Files {
    pub dir: tempfile::TempDir,
    pub ear_key: PathBuf,
    pub ear_public_pem: String,
    pub log_key: PathBuf,
    pub log_public_pem: String,
    pub policy: PathBuf,
    pub trust: PathBuf,
    pub rims: PathBuf,
    pub log_dir: PathBuf,
}

impl Files {
    /// Files for a service trusting the simulation, its RIM directory holding the RIMs `guest` uses.
    pub fn new(guest: &Guest) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        let ear = private_key_pem();
        let ear_public_pem = EarSigningKey::from_pem(ear.clone().into_bytes()).expect("key").public_pem().to_owned();
        let log = private_key_pem();
        let log_public_pem = CheckpointSigner::from_pkcs8(log.as_bytes()).expect("key").public_key_pem();
        std::fs::write(p.join("ear.pem"), ear).expect("write");
        std::fs::write(p.join("log.pem"), log).expect("write");
        std::fs::write(p.join("log.pub.pem"), &log_public_pem).expect("write");
        std::fs::write(p.join("policy.json"), serde_json::to_string(&policy()).expect("json")).expect("write");
        let trust = p.join("trust");
        write_trust_dir(&trust, &pkis());
        let rims = p.join("rims");
        write_rims(&rims, &guest.bundle([0; 32]));
        Self {
            ear_key: p.join("ear.pem"),
            ear_public_pem,
            log_key: p.join("log.pem"),
            log_public_pem,
            policy: p.join("policy.json"),
            trust,
            rims,
            log_dir: p.join("log"),
            dir,
        }
    }
}

pub fn write_trust_dir(dir: &Path, pkis: &SimPkis) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let anchors = pkis.gpu.anchors();
    std::fs::write(dir.join("nvidia-device-root.pem"), pem("CERTIFICATE", anchors.device.der())).expect("write");
    std::fs::write(dir.join("nvidia-rim-root.pem"), pem("CERTIFICATE", anchors.rim.der())).expect("write");
    for r in pkis.snp.roots().expect("roots").iter() {
        let name = r.product().name().to_ascii_lowercase();
        std::fs::write(dir.join(format!("{name}-ark.pem")), pem("CERTIFICATE", r.ark())).expect("write");
        std::fs::write(dir.join(format!("{name}-ask.pem")), pem("CERTIFICATE", r.ask())).expect("write");
        if let Some(asvk) = r.asvk() {
            std::fs::write(dir.join(format!("{name}-asvk.pem")), pem("CERTIFICATE", asvk)).expect("write");
        }
    }
}

/// The RIMs a bundle's GPUs carry, under the ids their reports imply: the service's offline RIM source.
pub fn write_rims(dir: &Path, bundle: &EvidenceBundle) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for g in &bundle.gpus {
        let (driver, vbios) = rim_ids(&g.report, &g.chain);
        if let (Some(id), Some(doc)) = (driver, &g.driver_rim) {
            std::fs::write(dir.join(id), doc).expect("write");
        }
        if let (Some(id), Some(doc)) = (vbios, &g.vbios_rim) {
            std::fs::write(dir.join(id), doc).expect("write");
        }
    }
}

/// Knobs of an in-process service.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub max_body: usize,
    pub max_depth: usize,
    pub rate: f64,
    pub burst: u32,
    pub timeout: Duration,
    pub require_challenge: bool,
    pub rotate_bytes: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            max_body: 2 * 1024 * 1024,
            max_depth: 16,
            rate: 1000.0,
            burst: 1000,
            timeout: Duration::from_secs(30),
            require_challenge: false,
            rotate_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The service in process, served on a loopback port by its own runtime thread.
pub struct Server {
    pub url: String,
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn service(files: &Files, knobs: &Knobs) -> Service {
    service_with_ocsp(files, knobs, &OcspSetting::Off)
}

/// [`service`] with an OCSP source.
pub fn service_with_ocsp(files: &Files, knobs: &Knobs, ocsp: &OcspSetting) -> Service {
    let checkpoints = Some(ccgpu_attestation::Checkpointing {
        signer: ccgpu_verifier::checkpoint_key(&files.log_key).expect("log key"),
        every: std::num::NonZeroU64::new(4).expect("nonzero"),
    });
    let (log, _) = CentralLog::open(&files.log_dir, knobs.rotate_bytes, checkpoints, time::OffsetDateTime::now_utc())
        .expect("log");
    let (anchors, roots) = ccgpu_verifier::trust(Some(&files.trust)).expect("trust");
    Service::new(ServiceParts {
        ear_key: EarSigningKey::load(&files.ear_key).expect("ear key"),
        policy: ccgpu_verifier::policy(&files.policy).expect("policy"),
        anchors,
        roots,
        sources: Sources::new(RimSetting::Dir(files.rims.clone()), ocsp).expect("sources"),
        log,
        challenges: Challenges::new(Duration::from_secs(60), 1000),
        require_challenge: knobs.require_challenge,
        max_depth: knobs.max_depth,
    })
}

pub fn start(files: &Files, knobs: &Knobs) -> Server {
    let app = Arc::new(App {
        service: Arc::new(service(files, knobs)),
        limits: HttpLimits {
            max_body: knobs.max_body,
            request_timeout: knobs.timeout,
            rate: RateLimiter::new(knobs.rate, knobs.burst),
        },
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = Arc::clone(&app);
    let thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let _ = ccgpu_verifier::serve(listener, served, async {
                let _ = stopped.await;
            })
            .await;
        });
    });
    Server { url, app, stop: Some(stop), thread: Some(thread) }
}

/// A plain HTTP client (status codes are answers, not errors).
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` to `path`; returns the status, the headers wanted and the body.
pub fn post(url: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let mut req = http().post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).expect("transport");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, headers, text)
}

pub fn get(url: &str) -> (u16, String) {
    let mut resp = http().get(url).call().expect("transport");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().expect("body"))
}
