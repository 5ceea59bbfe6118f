//! The production trust anchors ccgpu ships: NVIDIA's device identity root (GPU certificate chains) and
//! NVIDIA's RIM signing root (reference integrity manifests).
//!
//! These are the only keys the verifier trusts by default. They are compiled into the binary, so a
//! verifier on a user's machine needs nothing from the network or the file system to know them.
//! SHA-256 fingerprints (checked by a test):
//! - device identity root `NVIDIA Device Identity CA`: 10:2B:F6:59:…:16:7B:48
//! - RIM root `NVIDIA CoRIM signing Root CA`: 12:97:7B:51:…:1D:F5:D1

use crate::x509::TrustAnchor;

/// PEM of NVIDIA's Device Identity CA (root of every GPU attestation certificate chain).
pub const NVIDIA_DEVICE_IDENTITY_ROOT_PEM: &[u8] = include_bytes!("anchors/nvidia-device-identity-root.pem");
/// PEM of NVIDIA's CoRIM signing root (root of every RIM signing chain).
pub const NVIDIA_RIM_ROOT_PEM: &[u8] = include_bytes!("anchors/nvidia-rim-root.pem");

/// The anchors one verification uses.
#[derive(Debug, Clone)]
pub struct Anchors {
    /// Root of GPU device certificate chains.
    pub device: TrustAnchor,
    /// Root of RIM signing chains.
    pub rim: TrustAnchor,
}

impl Anchors {
    /// NVIDIA's production roots.
    pub fn nvidia() -> Self {
        // The embedded PEMs are fixed at build time and covered by tests; failing here is a build defect.
        #[allow(clippy::expect_used)]
        Self {
            device: TrustAnchor::from_pem("NVIDIA Device Identity CA", NVIDIA_DEVICE_IDENTITY_ROOT_PEM)
                .expect("embedded NVIDIA device identity root parses"),
            rim: TrustAnchor::from_pem("NVIDIA RIM root (NVIDIA CoRIM signing Root CA)", NVIDIA_RIM_ROOT_PEM)
                .expect("embedded NVIDIA RIM root parses"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;

    #[test]
    fn shipped_roots_have_the_published_fingerprints() {
        let a = Anchors::nvidia();
        let sha256 = |d: &[u8]| hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d));
        assert!(sha256(a.device.der()).starts_with("102bf659"), "device root fingerprint");
        assert!(sha256(a.device.der()).ends_with("167b48"));
        assert!(sha256(a.rim.der()).starts_with("12977b51"), "RIM root fingerprint");
        assert!(sha256(a.rim.der()).ends_with("1df5d1"));
        let _ = crypto::sha384(a.rim.der());
    }
}
