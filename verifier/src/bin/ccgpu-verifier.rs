//! `ccgpu-verifier`: the relying party service. See the crate documentation and
//! docs/operator-verifier.md.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ccgpu_attestation::Checkpointing;
use ccgpu_verifier::{
    App, CentralLog, Challenges, DEFAULT_MAX_DEPTH, EarSigningKey, HttpLimits, OcspSetting, RateLimiter, RimSetting,
    Service, ServiceParts, Sources,
};
use clap::Parser;

/// The relying party for ccgpu guest agents: appraises evidence bundles, logs every appraisal, answers
/// with a signed EAR.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (plain HTTP: answers are signed, bundles carry no secrets).
    #[arg(long, default_value = "0.0.0.0:8080", env = "CCGPU_VERIFIER_LISTEN")]
    listen: SocketAddr,
    /// The EAR signing key: ECDSA P-384, PKCS#8 PEM. Required; never generated.
    #[arg(long, value_name = "FILE", env = "CCGPU_VERIFIER_EAR_KEY")]
    ear_key: PathBuf,
    /// The log's checkpoint signing key (ECDSA P-384, PKCS#8). Without it, no checkpoints are signed.
    #[arg(long, value_name = "FILE", env = "CCGPU_VERIFIER_LOG_KEY")]
    log_key: Option<PathBuf>,
    /// Records between signed checkpoints.
    #[arg(long, value_name = "N", default_value_t = NonZeroU64::new(64).unwrap_or(NonZeroU64::MIN))]
    checkpoint_every: NonZeroU64,
    /// The appraisal policy (TOML, as `ccgpu verify --policy` reads). Required.
    #[arg(long, value_name = "FILE", env = "CCGPU_VERIFIER_POLICY")]
    policy: PathBuf,
    /// The log directory (one per replica).
    #[arg(long, value_name = "DIR", env = "CCGPU_VERIFIER_LOG_DIR")]
    log_dir: PathBuf,
    /// Rotate the log file past this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    rotate_bytes: u64,
    /// Trust these roots instead of the built-in NVIDIA and AMD roots (test fleets, simulations).
    #[arg(long, value_name = "DIR")]
    trust_dir: Option<PathBuf>,
    /// RIMs: `online` (the RIM service below, through the cache) or a directory of RIMs named by id.
    #[arg(long, value_name = "online|DIR", default_value = "online")]
    rims: String,
    /// The RIM service or a mirror.
    #[arg(long, value_name = "URL", default_value = ccgpu_fetch::DEFAULT_RIM_SERVICE)]
    rim_service: String,
    /// The RIM cache directory, or `off`.
    #[arg(long, value_name = "DIR|off", default_value = "/var/cache/ccgpu-verifier/rims")]
    rim_cache: String,
    /// OCSP: `online` (each certificate's NVIDIA responder, or --ocsp-url, through the cache; the
    /// default: a relying party checks revocation), a directory of recorded responses (DER), or `off`
    /// (revocation recorded as not checked; the policy's `ocsp.require` decides whether that fails).
    #[arg(long, value_name = "online|DIR|off", default_value = "online")]
    ocsp: String,
    /// With `--ocsp online`: ask this responder (a mirror) for every certificate.
    #[arg(long, value_name = "URL")]
    ocsp_url: Option<String>,
    /// With `--ocsp online`: the OCSP response cache directory, or `off`.
    #[arg(long, value_name = "DIR|off", default_value = "/var/cache/ccgpu-verifier/ocsp")]
    ocsp_cache: String,
    /// Per-request timeout of the sources, seconds.
    #[arg(long, value_name = "S", default_value_t = 5)]
    source_timeout: u64,
    /// Largest body accepted, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 2 * 1024 * 1024)]
    max_body: usize,
    /// Deepest JSON nesting accepted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_DEPTH)]
    max_depth: usize,
    /// Requests per second per client address (average).
    #[arg(long, value_name = "N", default_value_t = 20.0)]
    rate: f64,
    /// Requests per client address at once.
    #[arg(long, value_name = "N", default_value_t = 40)]
    burst: u32,
    /// Deadline to read a request and answer it, seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    request_timeout: u64,
    /// How long an issued challenge stays valid, seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    challenge_ttl: u64,
    /// Contraindicate bundles whose nonce is not a challenge this service issued.
    #[arg(long)]
    require_challenge: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_current_span(false).init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ccgpu-verifier: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn service(args: &Args) -> anyhow::Result<Service> {
    let ear_key = EarSigningKey::load(&args.ear_key)?;
    let checkpoints = match &args.log_key {
        Some(path) => {
            Some(Checkpointing { signer: ccgpu_verifier::checkpoint_key(path)?, every: args.checkpoint_every })
        }
        None => {
            tracing::warn!("no --log-key: the log carries no signed checkpoints");
            None
        }
    };
    let policy = ccgpu_verifier::policy(&args.policy)?;
    let (anchors, roots) = ccgpu_verifier::trust(args.trust_dir.as_deref())?;
    if let Some(dir) = &args.trust_dir {
        tracing::warn!(dir = %dir.display(), "trusting the roots of a trust directory instead of NVIDIA's and AMD's");
    }
    let timeout = Duration::from_secs(args.source_timeout.max(1));
    let rims = match args.rims.as_str() {
        "online" => RimSetting::Online {
            service: args.rim_service.clone(),
            timeout,
            cache: (args.rim_cache != "off").then(|| PathBuf::from(&args.rim_cache)),
        },
        dir => RimSetting::Dir(PathBuf::from(dir)),
    };
    let ocsp = match args.ocsp.as_str() {
        "off" => OcspSetting::Off,
        "online" => OcspSetting::Online {
            url: args.ocsp_url.clone(),
            timeout,
            cache: (args.ocsp_cache != "off").then(|| PathBuf::from(&args.ocsp_cache)),
        },
        dir => OcspSetting::Dir(PathBuf::from(dir)),
    };
    let sources = Sources::new(rims, &ocsp)?;
    let (log, opened) =
        CentralLog::open(&args.log_dir, args.rotate_bytes.max(4096), checkpoints, time::OffsetDateTime::now_utc())
            .with_context(|| format!("the attestation log in {}", args.log_dir.display()))?;
    if let Some((saved, bytes)) = &opened.repaired {
        tracing::warn!(saved_to = %saved.display(), bytes, "repaired a torn log tail on start");
    }
    let head = log.head();
    tracing::info!(log_id = %head.log_id, file = head.file, line = head.head.line, policy = %policy.digest(), "log open");
    Ok(Service::new(ServiceParts {
        ear_key,
        policy,
        anchors,
        roots,
        sources,
        log,
        challenges: Challenges::new(Duration::from_secs(args.challenge_ttl.max(1)), 100_000),
        require_challenge: args.require_challenge,
        max_depth: args.max_depth,
    }))
}

fn run(args: Args) -> anyhow::Result<()> {
    let service = Arc::new(service(&args)?);
    let sealed = Arc::clone(&service);
    let app = Arc::new(App {
        service,
        limits: HttpLimits {
            max_body: args.max_body,
            request_timeout: Duration::from_secs(args.request_timeout.max(1)),
            rate: RateLimiter::new(args.rate, args.burst),
        },
    });
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.workers {
        runtime.worker_threads(n.max(1)).max_blocking_threads(n.max(1));
    }
    let runtime = runtime.build().context("the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let local = listener.local_addr()?;
        // The one line tests and operators wait for.
        println!("ccgpu-verifier listening on http://{local}");
        tracing::info!(address = %local, "listening");
        // SIGTERM (Kubernetes) or SIGINT: stop accepting, finish the requests in flight.
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("the SIGTERM handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        ccgpu_verifier::serve(listener, app, shutdown).await.context("serving")
    })?;
    // Every request has been answered: seal the head so an auditor can tell a clean stop from a cut log.
    match sealed.log().seal(time::OffsetDateTime::now_utc()) {
        Ok(Some(head)) => tracing::info!(line = head.line, "log sealed with a checkpoint"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "sealing the log failed"),
    }
    Ok(())
}
