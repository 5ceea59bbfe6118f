//! Turning the `--ocsp*` flags into the responses and times an appraisal judges.

use anyhow::Context as _;
use ccgpu_attestation::bundle::BundleRevocation;
use ccgpu_attestation::gpu::Revocation;
use ccgpu_attestation::ocsp::{OcspQuery, OcspResponse};
use time::OffsetDateTime;

use crate::cli::OcspArgs;
use crate::input;
use crate::revocation::{self, DEFAULT_OCSP_URL, OcspSource, Online};

/// What to do about revocation for one command.
#[derive(Debug)]
pub struct OcspPlan<'a> {
    args: &'a OcspArgs,
    default: OcspSource,
    device_at: OffsetDateTime,
    rim_at: OffsetDateTime,
}

impl<'a> OcspPlan<'a> {
    /// Resolves the OCSP times: per-chain flag, else `--ocsp-at`, else `--at` (as given), else now.
    /// `default` is the source when `--ocsp` is not given.
    pub fn new(
        args: &'a OcspArgs,
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
        Ok(Self {
            default,
            args,
            device_at: pick(&args.ocsp_at_device, "--ocsp-at-device")?,
            rim_at: pick(&args.ocsp_at_rim, "--ocsp-at-rim")?,
        })
    }

    /// The source: the flag, else `default`.
    fn source(&self) -> &OcspSource {
        self.args.ocsp.as_ref().unwrap_or(&self.default)
    }

    /// The responses to judge: none when off, the directory's, or fetched for `queries`.
    pub fn responses(&self, queries: &[OcspQuery]) -> anyhow::Result<Vec<OcspResponse>> {
        match self.source() {
            OcspSource::Off | OcspSource::Bundled => Ok(Vec::new()),
            OcspSource::Dir(dir) => revocation::load_dir(dir),
            OcspSource::Online => {
                let online = Online {
                    default_url: self.args.ocsp_url.clone().unwrap_or_else(|| DEFAULT_OCSP_URL.to_owned()),
                    timeout: std::time::Duration::from_secs(self.args.ocsp_timeout.max(1)),
                    cache: if self.args.no_ocsp_cache {
                        None
                    } else {
                        self.args.ocsp_cache.clone().or_else(revocation::default_cache_dir)
                    },
                };
                let forced: Vec<OcspQuery>;
                let queries = match &self.args.ocsp_url {
                    Some(url) => {
                        forced = queries.iter().map(|q| OcspQuery { url: Some(url.clone()), ..q.clone() }).collect();
                        &forced
                    }
                    None => queries,
                };
                let (responses, problems) = revocation::fetch(queries, &online, self.device_at.max(self.rim_at));
                for p in problems {
                    eprintln!("warning: OCSP: {p}");
                }
                Ok(responses)
            }
        }
    }

    /// The revocation input for the appraisal.
    pub fn revocation<'r>(&self, responses: &'r [OcspResponse]) -> Revocation<'r> {
        match self.source() {
            OcspSource::Off => Revocation::NotChecked,
            _ => Revocation::Responses { responses, device_at: self.device_at, rim_at: self.rim_at },
        }
    }

    /// The revocation input for a bundle (its own recorded responses are always judged unless off).
    pub fn bundle_revocation<'r>(&self, extra: &'r [OcspResponse]) -> BundleRevocation<'r> {
        match self.source() {
            OcspSource::Off => BundleRevocation::NotChecked,
            _ => BundleRevocation::Responses { extra, device_at: self.device_at, rim_at: self.rim_at },
        }
    }
}
