//! `AmdKds` against a loopback server: the CRL URL per product and key kind, the cache reused until the
//! CRL's nextUpdate (and not after), a refused unknown product, and HTTP errors named with the URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ccgpu_attestation::{Product, sim::SnpPki};
use ccgpu_fetch::{AmdKds, FetchError};
use time::macros::datetime;

/// Serves `/vcek/v1/Genoa/crl` with `crl`, anything else 404; counts requests.
fn kds(crl: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let base = ccgpu_test_support::http::serve_get(8, move |path| {
        seen.fetch_add(1, Ordering::SeqCst);
        Some(if path == "/vcek/v1/Genoa/crl" { ("200 OK", crl.clone()) } else { ("404 Not Found", Vec::new()) })
    });
    (base, count)
}

#[test]
fn a_crl_is_fetched_per_product_and_cached_until_its_next_update() {
    let pki = SnpPki::generate(Product::Genoa).expect("pki");
    let crl = pki.crl(datetime!(2026-01-01 0:00 UTC), Some(datetime!(2026-01-08 0:00 UTC)), &[]).expect("crl");
    let (base, count) = kds(crl.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let k = AmdKds::new(&base, Duration::from_secs(2), Some(tmp.path().to_path_buf()));
    assert_eq!(k.url("Genoa", true), format!("{base}/vlek/v1/Genoa/crl"));
    let before = datetime!(2026-01-02 0:00 UTC);
    assert_eq!(k.fetch("Genoa", false, before).expect("fetched"), crl);
    assert_eq!(k.fetch("Genoa", false, before).expect("cached"), crl);
    assert_eq!(count.load(Ordering::SeqCst), 1, "the second came from the cache");
    assert_eq!(k.fetch("Genoa", false, datetime!(2026-01-09 0:00 UTC)).expect("refetched"), crl);
    assert_eq!(count.load(Ordering::SeqCst), 2, "past nextUpdate the cache is not used");

    let e = k.fetch("Genoa", true, before).expect_err("no VLEK CRL here");
    assert!(matches!(&e, FetchError::Status { status: 404, url } if url.ends_with("/vlek/v1/Genoa/crl")), "{e}");
    assert!(matches!(k.fetch("../x", false, before), Err(FetchError::UnsafeId(_))));
}
