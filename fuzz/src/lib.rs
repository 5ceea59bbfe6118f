//! Shared pieces of the fuzz targets: the real evidence they start from, and two small DER helpers that
//! let a target put fuzzed bytes inside an otherwise real certificate.
//!
//! The helpers here trust their inputs only as far as a test harness may: they never panic on fuzzed
//! bytes (a malformed input just yields `None`), but they are not part of the verifier.

use std::sync::LazyLock;

use ccgpu_attestation::{Anchors, CertChain};
use time::OffsetDateTime;
use time::macros::datetime;

/// The real H100 evidence from `../shared/testdata` (`CCGPU_TESTDATA` overrides the location).
#[derive(Debug)]
pub struct Real {
    /// The attestation report, binary.
    pub report: Vec<u8>,
    /// The device chain.
    pub chain: CertChain,
    /// Driver RIM.
    pub driver: Vec<u8>,
    /// VBIOS RIM.
    pub vbios: Vec<u8>,
    /// The report's nonce.
    pub nonce: [u8; 32],
}

/// A time at which all of the real H100 evidence is valid.
pub const AT: OffsetDateTime = datetime!(2025-09-01 0:00 UTC);

const H100: &str = "nvidia/h100-550.90.07";

fn read(rel: &str) -> Vec<u8> {
    match ccgpu_test_support::read_testdata(rel) {
        Some(bytes) => bytes,
        None => panic!("the fuzz targets need the shared test data ({rel}); set CCGPU_TESTDATA"),
    }
}

/// Hex text (whitespace ignored) to bytes.
pub fn hex_text(text: &[u8]) -> Vec<u8> {
    let compact: String = String::from_utf8_lossy(text).split_whitespace().collect();
    hex::decode(compact).expect("hex test vector")
}

/// The real evidence, loaded once.
pub static REAL: LazyLock<Real> = LazyLock::new(|| Real {
    report: hex_text(&read(&format!("{H100}/attestation-report.hex"))),
    chain: CertChain::from_pem(&read(&format!("{H100}/cert-chain.pem"))).expect("real chain"),
    driver: read(&format!("{H100}/rims/NV_GPU_DRIVER_GH100_550.90.07.xml")),
    vbios: read(&format!("{H100}/rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml")),
    nonce: hex_text(&read(&format!("{H100}/nonce.hex"))).try_into().expect("32-byte nonce"),
});

/// NVIDIA's production anchors, built once.
pub static ANCHORS: LazyLock<Anchors> = LazyLock::new(Anchors::nvidia);

/// The leaf (attestation) certificate of NVIDIA's sample Blackwell chain.
pub static BLACKWELL_LEAF: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let pem = read(
        "nvidia/attestation-sdk/nv-attestation-sdk-cpp/unit-tests/testdata/sample_attestation_data/gpu/blackwellCertChain.txt",
    );
    CertChain::from_pem(&pem).expect("Blackwell chain").ders()[0].clone()
});

/// One DER element header: (tag, header length, content length).
fn header(data: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let len = data.get(2..2 + n)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((tag, 2 + n, len))
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

/// Re-encodes the DER elements in `data`, replacing the element spanning `target` (absolute offsets into
/// `root`) by `replacement` and fixing the length of every constructed element that encloses it.
fn rebuild(root: &[u8], start: usize, end: usize, target: (usize, usize), replacement: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let (tag, hlen, clen) = header(&root[pos..end])?;
        let el_end = pos.checked_add(hlen)?.checked_add(clen).filter(|&e| e <= end)?;
        if (pos, el_end) == target {
            out.extend_from_slice(replacement);
        } else if tag & 0x20 != 0 && pos < target.0 && target.1 <= el_end {
            let inner = rebuild(root, pos + hlen, el_end, target, replacement)?;
            out.push(tag);
            push_len(&mut out, inner.len());
            out.extend_from_slice(&inner);
        } else {
            out.extend_from_slice(&root[pos..el_end]);
        }
        pos = el_end;
    }
    Some(out)
}

/// The certificate `cert` with the value (the content of `extnValue`) of its extension `oid` replaced by
/// `value`; every enclosing length is re-encoded. `oid` is the OID's DER content bytes.
pub fn with_extension_value(cert: &[u8], oid: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    let mut needle = vec![0x06, u8::try_from(oid.len()).ok()?];
    needle.extend_from_slice(oid);
    let oid_at = cert.windows(needle.len()).position(|w| w == needle)?;
    let mut at = oid_at + needle.len();
    if cert.get(at..at + 3) == Some(&[0x01, 0x01, 0xff][..]) {
        at += 3; // critical = TRUE
    }
    let (tag, hlen, clen) = header(&cert[at..])?;
    if tag != 0x04 {
        return None;
    }
    let mut replacement = vec![0x04];
    push_len(&mut replacement, value.len());
    replacement.extend_from_slice(value);
    rebuild(cert, 0, cert.len(), (at, at + hlen + clen), &replacement)
}

/// The value of extension `oid` in `cert`, as [`with_extension_value`] locates it.
pub fn extension_value<'a>(cert: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    let mut needle = vec![0x06, u8::try_from(oid.len()).ok()?];
    needle.extend_from_slice(oid);
    let mut at = cert.windows(needle.len()).position(|w| w == needle)? + needle.len();
    if cert.get(at..at + 3) == Some(&[0x01, 0x01, 0xff][..]) {
        at += 3;
    }
    let (_, hlen, clen) = header(&cert[at..])?;
    cert.get(at + hlen..at + hlen + clen)
}

/// Splits `data` into consecutive top-level DER elements (the last one may be a malformed remainder).
pub fn split_ders(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let len = header(rest).map_or(rest.len(), |(_, h, c)| h.saturating_add(c).min(rest.len()));
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// OID content of the Hopper FWID extension, 2.23.133.5.4.1.
pub const OID_HOPPER_FWID: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x01];
/// OID content of the Blackwell DICE TcbInfo extension, 2.23.133.5.4.1.1.
pub const OID_BLACKWELL_TCB_INFO: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x01, 0x01];

/// True when `s` is safe as (part of) one file-name component: non-empty, no separators, no NUL, no `..`.
pub fn safe_component(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '\\', '\0']) && !s.contains("..") && s.bytes().all(|b| b.is_ascii_graphic())
}
