//! [`OcspPlan`]: how revocation is judged in one appraisal — where the OCSP responses come from (nowhere,
//! a directory of recorded responses, the responders, or only what a bundle carries) and the instant at
//! which the device chain's and the RIM chains' responses must be fresh.
//!
//! The verify commands build it from their `--ocsp*` flags ([`OcspPlan::from_flags`]); `ccgpu demo
//! --real-evidence` builds one for its recording ([`OcspPlan::new`]), as `--ocsp DIR --ocsp-at-device T
//! --ocsp-at-rim T` would. The flags themselves ([`OcspArgs`]) live here too, beside the plan they make.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use ccgpu_attestation::{BundleRevocation, OcspQuery, OcspResponse, Revocation};
use clap::Args;
use time::OffsetDateTime;

use crate::input;
use crate::revocation::{self, DEFAULT_OCSP_URL, OcspSource, Online};

/// What to do about revocation for one appraisal.
#[derive(Debug)]
pub struct OcspPlan {
    source: OcspSource,
    /// How responders are asked, for [`OcspSource::Online`].
    online: Online,
    /// `--ocsp-url`: asked for every certificate instead of the responder it names.
    responder: Option<String>,
    device_at: OffsetDateTime,
    rim_at: OffsetDateTime,
}

impl OcspPlan {
    /// Responses from `source`, the device chain's judged at `device_at` and the RIM chains' at `rim_at`;
    /// responders, if asked, are asked as the flags' defaults say.
    pub fn new(source: OcspSource, device_at: OffsetDateTime, rim_at: OffsetDateTime) -> Self {
        Self { source, online: Online::default(), responder: None, device_at, rim_at }
    }

    /// The plan the `--ocsp*` flags describe. The OCSP times: per-chain flag, else `--ocsp-at`, else `--at`
    /// (as given in `at_flag`, parsed in `at`), else now. `default` is the source when `--ocsp` is not given.
    pub fn from_flags(
        args: &OcspArgs,
        default: OcspSource,
        at_flag: Option<&str>,
        at: OffsetDateTime,
    ) -> anyhow::Result<Self> {
        let base = match (&args.ocsp_at, at_flag) {
            (Some(t), _) => input::verification_time(Some(t)).context("--ocsp-at")?,
            (None, Some(_)) => at,
            (None, None) => OffsetDateTime::now_utc(),
        };
        let pick = |flag: &Option<String>, name: &str| -> anyhow::Result<OffsetDateTime> {
            match flag {
                Some(t) => input::verification_time(Some(t)).with_context(|| name.to_owned()),
                None => Ok(base),
            }
        };
        let source = args.ocsp.clone().unwrap_or(default);
        let mut plan = Self::new(
            source,
            pick(&args.ocsp_at_device, "--ocsp-at-device")?,
            pick(&args.ocsp_at_rim, "--ocsp-at-rim")?,
        );
        plan.online = Online {
            default_url: args.ocsp_url.clone().unwrap_or_else(|| DEFAULT_OCSP_URL.to_owned()),
            timeout: Duration::from_secs(args.ocsp_timeout.max(1)),
            cache: if args.no_ocsp_cache {
                None
            } else {
                args.ocsp_cache.clone().or_else(revocation::default_cache_dir)
            },
        };
        plan.responder.clone_from(&args.ocsp_url);
        Ok(plan)
    }

    /// The responses to judge: none when off, the directory's, or fetched for `queries`.
    pub fn responses(&self, queries: &[OcspQuery]) -> anyhow::Result<Vec<OcspResponse>> {
        match &self.source {
            OcspSource::Off | OcspSource::Bundled => Ok(Vec::new()),
            OcspSource::Dir(dir) => revocation::load_dir(dir),
            OcspSource::Online => {
                let forced: Vec<OcspQuery>;
                let queries = match &self.responder {
                    Some(url) => {
                        forced = queries.iter().map(|q| OcspQuery { url: Some(url.clone()), ..q.clone() }).collect();
                        &forced
                    }
                    None => queries,
                };
                let (responses, problems) = revocation::fetch(queries, &self.online, self.device_at.max(self.rim_at));
                for p in problems {
                    eprintln!("warning: OCSP: {p}");
                }
                Ok(responses)
            }
        }
    }

    /// The revocation input for the appraisal.
    pub fn revocation<'r>(&self, responses: &'r [OcspResponse]) -> Revocation<'r> {
        match self.source {
            OcspSource::Off => Revocation::NotChecked,
            _ => Revocation::Responses { responses, device_at: self.device_at, rim_at: self.rim_at },
        }
    }

    /// The revocation input for a bundle (its own recorded responses are always judged unless off).
    pub fn bundle_revocation<'r>(&self, extra: &'r [OcspResponse]) -> BundleRevocation<'r> {
        match self.source {
            OcspSource::Off => BundleRevocation::NotChecked,
            _ => BundleRevocation::Responses { extra, device_at: self.device_at, rim_at: self.rim_at },
        }
    }
}

/// Revocation-checking flags shared by the verify commands.
#[derive(Debug, Args)]
pub struct OcspArgs {
    /// Revocation checking: `online` (the default) asks the OCSP responders (each certificate's AIA, else
    /// NVIDIA's); a directory uses recorded responses (DER or base64 files); `off` skips it, recorded in the
    /// claims as not checked (refused when the policy requires OCSP). For a bundle carrying recorded
    /// responses, the default is to use those.
    #[arg(long, value_name = "online|off|DIR")]
    pub ocsp: Option<OcspSource>,

    /// Time at which OCSP responses must be fresh (RFC 3339). Default: --at, else now.
    #[arg(long, value_name = "RFC3339")]
    pub ocsp_at: Option<String>,

    /// OCSP time for the device chain only (overrides --ocsp-at): recorded responses of different
    /// chains are rarely fresh at one instant.
    #[arg(long, value_name = "RFC3339")]
    pub ocsp_at_device: Option<String>,

    /// OCSP time for the RIM signing chains only (overrides --ocsp-at).
    #[arg(long, value_name = "RFC3339")]
    pub ocsp_at_rim: Option<String>,

    /// Ask this responder for every certificate instead of the one it names (e.g. a local mirror).
    #[arg(long, value_name = "URL")]
    pub ocsp_url: Option<String>,

    /// Timeout of one OCSP request, in seconds (no retries; the whole fetch is bounded by 4× this).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::revocation::DEFAULT_TIMEOUT_S)]
    pub ocsp_timeout: u64,

    /// Cache fetched responses here, reused until their nextUpdate. Default: ~/.cache/ccgpu/ocsp.
    #[arg(long, value_name = "DIR", conflicts_with = "no_ocsp_cache")]
    pub ocsp_cache: Option<PathBuf>,

    /// Do not cache fetched responses.
    #[arg(long)]
    pub no_ocsp_cache: bool,
}
