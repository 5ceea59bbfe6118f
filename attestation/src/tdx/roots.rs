//! Intel's SGX Root CA, pinned: the one anchor of every TDX quote's PCK chain, of the TCB Signing chain
//! (TCB info, QE identity) and the issuer of the root CA CRL. Shipped as `roots/intel-sgx-root-ca.pem`
//! (SHA-256 of the DER: 44a0196b…74d3, as Intel publishes it at certificates.trustedservices.intel.com).

use crate::x509::TrustAnchor;

/// Intel's SGX Root CA, PEM.
pub const INTEL_SGX_ROOT_CA_PEM: &[u8] = include_bytes!("roots/intel-sgx-root-ca.pem");

/// Intel's trust anchor for DCAP.
#[derive(Debug, Clone)]
pub struct IntelRoots {
    /// The root certificate.
    pub root: TrustAnchor,
}

impl IntelRoots {
    /// The shipped Intel SGX Root CA.
    pub fn intel() -> Self {
        match TrustAnchor::from_pem("Intel SGX Root CA", INTEL_SGX_ROOT_CA_PEM) {
            Ok(root) => Self { root },
            Err(e) => unreachable!("the shipped Intel SGX Root CA does not parse: {e}"),
        }
    }

    /// Another anchor (tests and simulated platforms; never Intel's).
    pub fn custom(root: TrustAnchor) -> Self {
        Self { root }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_root_is_intels() {
        let der = IntelRoots::intel().root.der().to_vec();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        assert_eq!(hex::encode(digest.as_ref()), "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
    }
}
