//! Object identifiers we act on, as DER content bytes (what `Oid::as_bytes` returns), so that
//! comparisons never allocate and never depend on a registry's naming.

/// id-ecPublicKey (1.2.840.10045.2.1)
pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp384r1 / P-384 (1.3.132.0.34)
pub(crate) const CURVE_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// prime256v1 / P-256 (1.2.840.10045.3.1.7)
pub(crate) const CURVE_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// ecdsa-with-SHA256 (1.2.840.10045.4.3.2)
pub(crate) const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// ecdsa-with-SHA384 (1.2.840.10045.4.3.3)
pub(crate) const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
/// id-sha384 (2.16.840.1.101.3.4.2.2)
pub(crate) const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];

/// TCG DICE TcbInfo / NVIDIA Hopper FWID extension (2.23.133.5.4.1)
pub(crate) const TCG_DICE_TCB_INFO: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x01];
/// NVIDIA Blackwell FWID extension, a DICE TcbInfo (2.23.133.5.4.1.1)
pub(crate) const TCG_DICE_TCB_INFO_1: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x01, 0x01];
/// TCG DICE UEID (2.23.133.5.4.4)
pub(crate) const TCG_DICE_UEID: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x04];
/// TCG DICE MultiTcbInfo (2.23.133.5.4.5)
pub(crate) const TCG_DICE_MULTI_TCB_INFO: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x05];

/// Dotted form of DER OID content bytes, for messages.
pub(crate) fn dotted(content: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in content {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_forms() {
        assert_eq!(dotted(CURVE_P384), "1.3.132.0.34");
        assert_eq!(dotted(TCG_DICE_TCB_INFO_1), "2.23.133.5.4.1.1");
        assert_eq!(dotted(ECDSA_SHA384), "1.2.840.10045.4.3.3");
    }
}
