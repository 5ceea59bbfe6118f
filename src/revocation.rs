//! Where OCSP responses come from: nowhere (`--ocsp off`), a directory of recorded responses, or the
//! responders themselves (`online`). This is the edge of the system: the verifier library stays pure and
//! judges whatever bytes it is given.
//!
//! Online: `ccgpu-fetch`'s [`OcspResponder`] (shared with `ccgpu-verifier`): one HTTP POST per
//! certificate to the responder in its Authority Information Access when that is NVIDIA's (or the
//! default responder), no retries, a per-request timeout and a total budget per verification; responses
//! are cached on disk by CertID and reused until their nextUpdate, so repeated verifications do not
//! hammer the responder. Responses are signed, so plain HTTP (as in NVIDIA's AIA URLs) is what OCSP uses.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use ccgpu_attestation::{OcspQuery, OcspResponse};
pub use ccgpu_fetch::DEFAULT_OCSP_URL;
use ccgpu_fetch::OcspResponder;
use time::OffsetDateTime;

/// Timeout of one OCSP request, in seconds, unless `--ocsp-timeout` says otherwise.
pub const DEFAULT_TIMEOUT_S: u64 = 5;

/// The `--ocsp` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspSource {
    /// Not checked.
    Off,
    /// Ask the responders.
    Online,
    /// Recorded responses in a directory.
    Dir(PathBuf),
    /// Only the responses a bundle carries (the bundle default when it has some).
    Bundled,
}

impl FromStr for OcspSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "online" => Ok(Self::Online),
            "" => Err("expected off, online or a directory".into()),
            dir => Ok(Self::Dir(PathBuf::from(dir))),
        }
    }
}

/// Settings for online fetching.
#[derive(Debug, Clone)]
pub struct Online {
    /// Responder for certificates without an AIA OCSP URL.
    pub default_url: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Cache directory, if caching.
    pub cache: Option<PathBuf>,
}

impl Default for Online {
    /// What the flags default to: NVIDIA's responder, [`DEFAULT_TIMEOUT_S`], the default cache.
    fn default() -> Self {
        Self {
            default_url: DEFAULT_OCSP_URL.to_owned(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
            cache: default_cache_dir(),
        }
    }
}

/// Reads every response in `dir`: DER files, or base64 text (as NVIDIA's tools record them).
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<OcspResponse>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read OCSP directory {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list OCSP directory {}", dir.display()))?;
    paths.sort();
    let mut out = Vec::new();
    for path in paths.iter().filter(|p| p.is_file()) {
        let bytes = crate::input::read_file("OCSP response", path)?;
        let der = if bytes.first() == Some(&0x30) {
            bytes
        } else {
            let text: String = String::from_utf8_lossy(&bytes).split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .with_context(|| format!("OCSP response {} is neither DER nor base64", path.display()))?
        };
        out.push(OcspResponse::parse(&der).with_context(|| format!("OCSP response {}", path.display()))?);
    }
    if out.is_empty() {
        bail!("OCSP directory {} holds no responses", dir.display());
    }
    Ok(out)
}

/// Fetches (or takes from the cache) a response for each query, under one time budget. Failures are
/// returned as messages naming the certificate; the appraisal then fails that certificate's revocation
/// check. Only NVIDIA's responders are asked from a certificate's AIA (`ccgpu-fetch`'s allow list).
pub fn fetch(queries: &[OcspQuery], online: &Online, now: OffsetDateTime) -> (Vec<OcspResponse>, Vec<String>) {
    let responder = OcspResponder::new(&online.default_url, online.timeout, online.cache.clone());
    let budget = responder.budget();
    let mut responses = Vec::new();
    let mut problems = Vec::new();
    for q in queries {
        match responder.fetch_within(q, now, &budget) {
            Ok(f) => responses.push(f.response),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (responses, problems)
}

/// The default cache directory: `$XDG_CACHE_HOME/ccgpu/ocsp`, else `$HOME/.cache/ccgpu/ocsp`.
pub fn default_cache_dir() -> Option<PathBuf> {
    ccgpu_fetch::cache_dir("ocsp")
}
