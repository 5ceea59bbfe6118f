//! [`Pccs`] against a loopback PCS: the four requests of one collateral set, issuer chains from headers,
//! the cache written and reused while current, a directory source, a hung service bounded by the timeout,
//! and a missing header refused.

use std::time::{Duration, Instant};

use ccgpu_attestation::{PcsResponses, TdxCollateral, TdxEvidence};
use ccgpu_fetch::{FetchError, Pccs};
use time::macros::datetime;

fn read(rel: &str) -> Option<Vec<u8>> {
    ccgpu_test_support::read_testdata(&format!("tdx/go-tdx-guest/{rel}"))
}

fn encode(b: &[u8]) -> String {
    b.iter().map(|c| if c.is_ascii_alphanumeric() { (*c as char).to_string() } else { format!("%{c:02X}") }).collect()
}

/// A status line with one header after it: the loopback server writes the status verbatim.
fn with_header(name: &str, value: &[u8]) -> &'static str {
    Box::leak(format!("200 OK\r\n{name}: {}", encode(value)).into_boxed_str())
}

struct Set {
    tcb: Vec<u8>,
    tcb_chain: Vec<u8>,
    qe: Vec<u8>,
    pck_crl: Vec<u8>,
    pck_crl_chain: Vec<u8>,
    root_crl: Vec<u8>,
}

fn set() -> Option<Set> {
    Some(Set {
        tcb: read("sample_tcbInfo_response")?,
        tcb_chain: read("tcbInfoIssuerChain.pem")?,
        qe: read("sample_qeIdentity_response")?,
        pck_crl: read("pckcrl")?,
        pck_crl_chain: read("pckCrlIssuerChain.pem")?,
        root_crl: read("rootcrl.der")?,
    })
}

fn serve(s: &Set, answers: usize, with_headers: bool) -> String {
    let (tcb, tcb_chain, qe, pck_crl, pck_crl_chain, root_crl) = (
        s.tcb.clone(),
        s.tcb_chain.clone(),
        s.qe.clone(),
        s.pck_crl.clone(),
        s.pck_crl_chain.clone(),
        s.root_crl.clone(),
    );
    ccgpu_test_support::http::serve_get(answers, move |path| {
        let h = |name, v: &[u8]| if with_headers { with_header(name, v) } else { "200 OK" };
        Some(match path {
            "/tdx/certification/v4/tcb?fmspc=50806F000000" => (h("TCB-Info-Issuer-Chain", &tcb_chain), tcb.clone()),
            "/tdx/certification/v4/qe/identity" => (h("SGX-Enclave-Identity-Issuer-Chain", &tcb_chain), qe.clone()),
            "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" => {
                (h("SGX-PCK-CRL-Issuer-Chain", &pck_crl_chain), pck_crl.clone())
            }
            "/sgx/certification/v4/rootcacrl" => ("200 OK", root_crl.clone()),
            _ => ("404 Not Found", Vec::new()),
        })
    })
}

#[test]
fn fetches_a_set_caches_it_and_reuses_it_while_current() {
    let (Some(s), Some(quote)) = (set(), ccgpu_test_support::read_testdata("tdx/trustee/tdx_quote_4.dat")) else {
        return;
    };
    let needed = TdxEvidence { quote: &quote }.collateral_needed().expect("the quote names its PCK");
    let want = TdxCollateral::from_pcs(PcsResponses {
        tcb_info: &s.tcb,
        tcb_info_issuer_chain: &s.tcb_chain,
        qe_identity: &s.qe,
        qe_identity_issuer_chain: &s.tcb_chain,
        pck_crl: &s.pck_crl,
        pck_crl_issuer_chain: &s.pck_crl_chain,
        root_ca_crl: &s.root_crl,
    })
    .expect("PCS responses");
    let cache = tempfile::tempdir().expect("temp dir");
    let base = serve(&s, 4, true);
    let pccs = Pccs::new(&base, Duration::from_secs(5), Some(cache.path().to_owned()));
    let at = datetime!(2023-07-01 01:00:00 UTC);
    assert_eq!(pccs.fetch(&needed, at).expect("fetched"), want);
    // The server answered its four requests and stopped: these come from the cache.
    assert_eq!(pccs.fetch(&needed, at).expect("cached"), want);
    assert_eq!(Pccs::directory(cache.path()).fetch(&needed, at).expect("directory"), want);
    // Past the QE identity's nextUpdate the cached set is stale and the (gone) service is asked again.
    let late = pccs.fetch(&needed, datetime!(2023-07-09 00:00:00 UTC));
    assert!(matches!(late, Err(FetchError::Transport { .. })), "{late:?}");
}

#[test]
fn a_missing_issuer_chain_header_is_refused() {
    let (Some(s), Some(quote)) = (set(), ccgpu_test_support::read_testdata("tdx/trustee/tdx_quote_4.dat")) else {
        return;
    };
    let needed = TdxEvidence { quote: &quote }.collateral_needed().expect("needed");
    let pccs = Pccs::new(&serve(&s, 1, false), Duration::from_secs(5), None);
    let err = pccs.fetch(&needed, datetime!(2023-07-01 01:00:00 UTC)).expect_err("no header");
    assert!(err.to_string().contains("no TCB-Info-Issuer-Chain header"), "{err}");
}

#[test]
fn a_hung_service_is_bounded_by_the_timeout() {
    let Some(quote) = ccgpu_test_support::read_testdata("tdx/trustee/tdx_quote_4.dat") else { return };
    let needed = TdxEvidence { quote: &quote }.collateral_needed().expect("needed");
    let base = ccgpu_test_support::http::serve_get(1, |_| None);
    let started = Instant::now();
    let err = Pccs::new(&base, Duration::from_millis(300), None).fetch(&needed, datetime!(2023-07-01 01:00:00 UTC));
    assert!(matches!(err, Err(FetchError::Transport { .. })), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn an_empty_directory_names_the_missing_file() {
    let Some(quote) = ccgpu_test_support::read_testdata("tdx/trustee/tdx_quote_4.dat") else { return };
    let needed = TdxEvidence { quote: &quote }.collateral_needed().expect("needed");
    let dir = tempfile::tempdir().expect("temp dir");
    let err = Pccs::directory(dir.path()).fetch(&needed, datetime!(2023-07-01 01:00:00 UTC)).expect_err("empty");
    assert!(err.to_string().contains("tcbinfo-50806f000000.json"), "{err}");
}
