//! Where OCSP responses come from: nowhere (`--ocsp off`), a directory of recorded responses, or the
//! responders themselves (`online`). This is the edge of the system: the verifier library stays pure and
//! judges whatever bytes it is given.
//!
//! Online: one HTTP POST per certificate to the responder in its Authority Information Access (or the
//! default NVIDIA responder), no retries, a per-request timeout and a total budget; responses are cached
//! on disk by CertID and reused until their nextUpdate, so repeated verifications do not hammer the
//! responder. Responses are signed, so plain HTTP (as in NVIDIA's AIA URLs) is what OCSP uses.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use ccgpu_attestation::{OcspQuery, OcspResponse, sha384};
use time::OffsetDateTime;

/// NVIDIA's OCSP responder, used when a certificate names none.
pub const DEFAULT_OCSP_URL: &str = "http://ocsp.ndis.nvidia.com";
/// Timeout of one OCSP request, in seconds, unless `--ocsp-timeout` says otherwise.
pub const DEFAULT_TIMEOUT_S: u64 = 5;
/// Responder hosts a certificate's AIA may send us to. Evidence is untrusted until verified, and its AIA
/// URLs are read before that: any other host named there is replaced by the default responder, so a
/// crafted certificate cannot make the verifier send requests to arbitrary (e.g. internal) addresses.
const ALLOWED_AIA_HOSTS: &[&str] = &["ocsp.ndis.nvidia.com"];
/// Largest response accepted from a responder or a file.
const MAX_RESPONSE: u64 = 64 * 1024;

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

/// Fetches (or takes from the cache) a response for each query. Failures are returned as messages
/// naming the certificate; the appraisal then fails that certificate's revocation check.
pub fn fetch(queries: &[OcspQuery], online: &Online, now: OffsetDateTime) -> (Vec<OcspResponse>, Vec<String>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(online.timeout)).http_status_as_error(false).build().into();
    let budget = Instant::now() + online.timeout * 4;
    let mut responses = Vec::new();
    let mut problems = Vec::new();
    for q in queries {
        let key = hex::encode(sha384(&q.cert_id.to_der()));
        if let Some(cached) = online.cache.as_ref().and_then(|dir| cached(dir, &key, q, now)) {
            responses.push(cached);
            continue;
        }
        if Instant::now() > budget {
            problems.push(format!("{}: OCSP time budget exhausted before asking", q.subject));
            continue;
        }
        let url = q.url.clone().filter(|u| allowed(u)).unwrap_or_else(|| online.default_url.clone());
        match post(&agent, &url, &q.cert_id.request_der()) {
            Ok(der) => match OcspResponse::parse(&der) {
                Ok(r) => {
                    if let Some(dir) = &online.cache {
                        let _ = store(dir, &key, &der);
                    }
                    responses.push(r);
                }
                Err(e) => problems.push(format!("{}: response from {url}: {e}", q.subject)),
            },
            Err(e) => problems.push(format!("{}: {url}: {e:#}", q.subject)),
        }
    }
    (responses, problems)
}

/// True when `url` is plain HTTP to an allowed responder host (optionally with a port and path).
fn allowed(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { authority });
    ALLOWED_AIA_HOSTS.iter().any(|a| host.eq_ignore_ascii_case(a))
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> anyhow::Result<Vec<u8>> {
    if !url.starts_with("http://") {
        bail!("only http:// responders are supported (OCSP responses are signed; NVIDIA's AIA URLs are http)");
    }
    let mut response = agent.post(url).header("Content-Type", "application/ocsp-request").send(body)?;
    let status = response.status();
    if status != 200 {
        bail!("HTTP status {status}");
    }
    let mut out = Vec::new();
    response.body_mut().as_reader().take(MAX_RESPONSE + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_RESPONSE {
        bail!("response larger than {MAX_RESPONSE} bytes");
    }
    Ok(out)
}

fn cached(dir: &Path, key: &str, q: &OcspQuery, now: OffsetDateTime) -> Option<OcspResponse> {
    let der = std::fs::read(dir.join(format!("{key}.der"))).ok()?;
    let r = OcspResponse::parse(&der).ok()?;
    let fresh = r.responses.iter().any(|s| s.cert_id == q.cert_id && s.next_update.is_some_and(|n| n > now));
    fresh.then_some(r)
}

fn store(dir: &Path, key: &str, der: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{key}.tmp"));
    std::fs::write(&tmp, der)?;
    std::fs::rename(tmp, dir.join(format!("{key}.der")))
}

/// The default cache directory: `$XDG_CACHE_HOME/ccgpu/ocsp`, else `$HOME/.cache/ccgpu/ocsp`.
pub fn default_cache_dir() -> Option<PathBuf> {
    ccgpu_fetch::cache_dir("ocsp")
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_nvidia_responders_named_in_evidence_are_asked() {
        assert!(allowed("http://ocsp.ndis.nvidia.com"));
        assert!(allowed("http://OCSP.ndis.nvidia.com:80/"));
        assert!(!allowed("https://ocsp.ndis.nvidia.com"), "https is not OCSP's transport here");
        assert!(!allowed("http://169.254.169.254/latest/meta-data"));
        assert!(!allowed("http://ocsp.ndis.nvidia.com.evil.example/"));
        assert!(!allowed("http://evil.example/ocsp.ndis.nvidia.com"));
        assert!(!allowed("http://ocsp.ndis.nvidia.com@evil.example/"));
    }
}
