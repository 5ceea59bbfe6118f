//! [`Pccs`]: Intel DCAP collateral for a TDX quote from Intel's PCS or a PCCS (v4 API), or from a
//! directory laid out as its cache, with the issuer chains the service returns in headers kept beside
//! each body:
//!
//! ```text
//! tcbinfo-<fmspc>.json              GET <base>/tdx/certification/v4/tcb?fmspc=<FMSPC>
//! tcbinfo-<fmspc>.issuer-chain.pem  its TCB-Info-Issuer-Chain header (URL-decoded)
//! qe-identity.json                  GET <base>/tdx/certification/v4/qe/identity
//! qe-identity.issuer-chain.pem      its SGX-Enclave-Identity-Issuer-Chain header
//! pckcrl-<platform|processor>.crl   GET <base>/sgx/certification/v4/pckcrl?ca=<ca>&encoding=der
//! pckcrl-<ca>.issuer-chain.pem      its SGX-PCK-CRL-Issuer-Chain header
//! rootcacrl.crl                     GET <base>/sgx/certification/v4/rootcacrl (a PCCS; DER or hex)
//! ```
//!
//! Bounded like the other sources: one request per document, no retries, a per-request timeout, a size
//! limit. A cached set is reused while every document in it is current (nextUpdate after now). Not
//! trusted: the appraisal verifies every piece under Intel's pinned root; a cached set is re-judged every
//! time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ccgpu_attestation::{
    CollateralNeeded, MAX_COLLATERAL_LEN, PcsResponses, QeIdentity, TcbInfo, TdxCollateral, parse_crl,
};
use time::OffsetDateTime;

use crate::rim_cache::write_atomic;
use crate::rim_service::{FetchError, agent, describe};

/// Intel's Provisioning Certification Service (a PCCS is given by its own URL).
pub const DEFAULT_PCS: &str = "https://api.trustedservices.intel.com";

/// Intel's PCS or a PCCS, with an optional cache directory; or a directory alone.
#[derive(Debug)]
pub struct Pccs {
    base: Option<String>,
    timeout: Duration,
    cache: Option<PathBuf>,
    agent: ureq::Agent,
}

/// The seven files of one collateral set, by role.
struct Names {
    tcb: String,
    tcb_chain: String,
    qe: &'static str,
    qe_chain: &'static str,
    pck_crl: String,
    pck_crl_chain: String,
    root_crl: &'static str,
}

impl Names {
    fn of(needed: &CollateralNeeded) -> Self {
        let fmspc = hex::encode(needed.fmspc);
        let ca = needed.ca.name();
        Self {
            tcb: format!("tcbinfo-{fmspc}.json"),
            tcb_chain: format!("tcbinfo-{fmspc}.issuer-chain.pem"),
            qe: "qe-identity.json",
            qe_chain: "qe-identity.issuer-chain.pem",
            pck_crl: format!("pckcrl-{ca}.crl"),
            pck_crl_chain: format!("pckcrl-{ca}.issuer-chain.pem"),
            root_crl: "rootcacrl.crl",
        }
    }
}

impl Pccs {
    /// The service at `base` (e.g. [`DEFAULT_PCS`] or a PCCS URL), each request limited to `timeout`.
    pub fn new(base: &str, timeout: Duration, cache: Option<PathBuf>) -> Self {
        Self { base: Some(base.trim_end_matches('/').to_owned()), timeout, cache, agent: agent(timeout) }
    }

    /// A directory of collateral laid out as the cache is; nothing is fetched.
    pub fn directory(dir: &Path) -> Self {
        Self { base: None, timeout: Duration::ZERO, cache: Some(dir.to_owned()), agent: agent(Duration::from_secs(1)) }
    }

    /// The collateral for `needed`: from the cache (or directory) while every document in it is current at
    /// `now`, else from the service (cached afterwards). A directory source returns what it holds.
    pub fn fetch(&self, needed: &CollateralNeeded, now: OffsetDateTime) -> Result<TdxCollateral, FetchError> {
        let names = Names::of(needed);
        if let Some(dir) = &self.cache {
            match read_set(dir, &names) {
                Ok(c) if self.base.is_none() || current(&c, now) => return Ok(c),
                Ok(_) => {}
                Err(e) if self.base.is_none() => return Err(e),
                Err(_) => {}
            }
        }
        let Some(base) = &self.base else {
            return Err(FetchError::Collateral { url: "(no source)".into(), reason: "no collateral".into() });
        };
        let fmspc = hex::encode_upper(needed.fmspc);
        let ca = needed.ca.name();
        let (tcb, tcb_chain) =
            self.get(&format!("{base}/tdx/certification/v4/tcb?fmspc={fmspc}"), Some("TCB-Info-Issuer-Chain"))?;
        let (qe, qe_chain) =
            self.get(&format!("{base}/tdx/certification/v4/qe/identity"), Some("SGX-Enclave-Identity-Issuer-Chain"))?;
        let (pck_crl, pck_crl_chain) = self.get(
            &format!("{base}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"),
            Some("SGX-PCK-CRL-Issuer-Chain"),
        )?;
        let (root_crl, _) = self.get(&format!("{base}/sgx/certification/v4/rootcacrl"), None)?;
        let files: [(&str, &[u8]); 7] = [
            (&names.tcb, &tcb),
            (&names.tcb_chain, &tcb_chain),
            (names.qe, &qe),
            (names.qe_chain, &qe_chain),
            (&names.pck_crl, &pck_crl),
            (&names.pck_crl_chain, &pck_crl_chain),
            (names.root_crl, &root_crl),
        ];
        let collateral = assemble(&files, base)?;
        if let Some(dir) = &self.cache {
            for (name, bytes) in files {
                if let Err(e) = write_atomic(dir, name, bytes) {
                    tracing::warn!(dir = %dir.display(), error = %e, "TDX collateral not cached");
                    break;
                }
            }
        }
        Ok(collateral)
    }

    /// One GET: the body and, when named, the URL-decoded issuer-chain header (required).
    fn get(&self, url: &str, header: Option<&str>) -> Result<(Vec<u8>, Vec<u8>), FetchError> {
        let transport =
            |e: ureq::Error| FetchError::Transport { url: url.to_owned(), reason: describe(&e, self.timeout) };
        let mut response = self.agent.get(url).call().map_err(transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status { url: url.to_owned(), status });
        }
        let chain =
            match header {
                None => Vec::new(),
                Some(h) => {
                    let value = response.headers().get(h).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                        FetchError::Collateral { url: url.to_owned(), reason: format!("no {h} header") }
                    })?;
                    percent_decode(value).ok_or_else(|| FetchError::Collateral {
                        url: url.to_owned(),
                        reason: format!("{h} is not URL-encoded"),
                    })?
                }
            };
        let limit = u64::try_from(MAX_COLLATERAL_LEN).unwrap_or(u64::MAX);
        let body = response.body_mut().with_config().limit(limit).read_to_vec().map_err(transport)?;
        Ok((body, chain))
    }
}

fn read_set(dir: &Path, n: &Names) -> Result<TdxCollateral, FetchError> {
    let names: [&str; 7] = [&n.tcb, &n.tcb_chain, n.qe, n.qe_chain, &n.pck_crl, &n.pck_crl_chain, n.root_crl];
    let mut files = Vec::with_capacity(7);
    for name in names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| FetchError::Collateral {
            url: path.display().to_string(),
            reason: format!("cannot be read: {e}"),
        })?;
        files.push((name, bytes));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    assemble(&refs, &dir.display().to_string())
}

fn assemble(files: &[(&str, &[u8])], origin: &str) -> Result<TdxCollateral, FetchError> {
    let [tcb, tcb_chain, qe, qe_chain, pck_crl, pck_crl_chain, root_crl] = files else {
        return Err(FetchError::Collateral { url: origin.to_owned(), reason: "incomplete collateral set".into() });
    };
    TdxCollateral::from_pcs(PcsResponses {
        tcb_info: tcb.1,
        tcb_info_issuer_chain: tcb_chain.1,
        qe_identity: qe.1,
        qe_identity_issuer_chain: qe_chain.1,
        pck_crl: pck_crl.1,
        pck_crl_issuer_chain: pck_crl_chain.1,
        root_ca_crl: root_crl.1,
    })
    .map_err(|e| FetchError::Collateral { url: origin.to_owned(), reason: e.to_string() })
}

/// True while every document of `c` is current at `now` (a cached set older than that is refetched).
fn current(c: &TdxCollateral, now: OffsetDateTime) -> bool {
    let crl_ok = |der: &[u8]| parse_crl(der).ok().and_then(|c| c.next_update()).is_some_and(|n| n.to_datetime() > now);
    TcbInfo::parse(&c.tcb_info).is_ok_and(|t| t.next_update > now)
        && QeIdentity::parse(&c.qe_identity).is_ok_and(|q| q.next_update > now)
        && crl_ok(&c.pck_crl)
        && crl_ok(&c.root_ca_crl)
}

/// Decodes `%XX` escapes (the issuer-chain headers); `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%0A").as_deref(), Some(&b"a b\n"[..]));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
