//! [`AmdKds`]: AMD's certificate revocation lists from its Key Distribution Service
//! (`<base>/vcek/v1/<product>/crl`, `<base>/vlek/v1/<product>/crl`, DER), or a mirror, cached on disk per
//! product and key kind and reused until the CRL's nextUpdate.
//!
//! Bounded like the RIM service: one request per CRL, no retries, a timeout, a size limit. Not trusted: the
//! CRL is judged by `ccgpu-attestation` (issuer, the pinned ARK's signature, currency); a cached one is
//! re-judged every time.

use std::path::PathBuf;
use std::time::Duration;

use ccgpu_attestation::{MAX_CRL_LEN, parse_crl};
use time::OffsetDateTime;

use crate::rim_cache::write_atomic;
use crate::rim_service::{FetchError, agent, describe};

/// AMD's Key Distribution Service.
pub const DEFAULT_KDS: &str = "https://kdsintf.amd.com";

/// AMD's KDS or a mirror, with an optional cache directory.
#[derive(Debug)]
pub struct AmdKds {
    base: String,
    timeout: Duration,
    cache: Option<PathBuf>,
    agent: ureq::Agent,
}

impl AmdKds {
    /// The service at `base` (e.g. [`DEFAULT_KDS`]), each request limited to `timeout`.
    pub fn new(base: &str, timeout: Duration, cache: Option<PathBuf>) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), timeout, cache, agent: agent(timeout) }
    }

    /// The URL of the CRL for `product` (`Milan`, `Genoa`, `Turin`) and `vlek` (the ASVK's CRL) or not.
    pub fn url(&self, product: &str, vlek: bool) -> String {
        format!("{}/{}/v1/{product}/crl", self.base, if vlek { "vlek" } else { "vcek" })
    }

    /// The CRL for `product`: from the cache while its nextUpdate is after `now`, else from the service.
    pub fn fetch(&self, product: &str, vlek: bool, now: OffsetDateTime) -> Result<Vec<u8>, FetchError> {
        if !matches!(product, "Milan" | "Genoa" | "Turin") {
            return Err(FetchError::UnsafeId(product.to_owned()));
        }
        let name = format!("{product}-{}.crl", if vlek { "vlek" } else { "vcek" });
        if let Some(der) = self.cache.as_ref().and_then(|d| std::fs::read(d.join(&name)).ok())
            && parse_crl(&der).ok().and_then(|c| c.next_update()).is_some_and(|n| n.to_datetime() > now)
        {
            return Ok(der);
        }
        let url = self.url(product, vlek);
        let transport = |e: ureq::Error| FetchError::Transport { url: url.clone(), reason: describe(&e, self.timeout) };
        let mut response = self.agent.get(&url).call().map_err(transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status { url, status });
        }
        let der = response.body_mut().with_config().limit(MAX_CRL_LEN as u64).read_to_vec().map_err(transport)?;
        if let Some(dir) = &self.cache
            && parse_crl(&der).is_ok()
            && let Err(e) = write_atomic(dir, &name, &der)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "AMD CRL not cached");
        }
        Ok(der)
    }
}
