//! What the service is started with, loaded from files before it listens: the EAR signing key, the log's
//! checkpoint key, the policy, the trust anchors and the evidence sources. Every file is read once; a key
//! that does not load stops the start (no key is ever generated here).
//!
//! Trusts: the operator's files (keys, policy, trust directory). Nothing a client sends reaches these.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccgpu_attestation::{AmdRoots, Anchors, CheckpointSigner, Policy, Product, ProductRoots, TrustAnchor};
use thiserror::Error;

/// A file the service needs that does not load.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// Cannot be read.
    #[error("{what} {path}: {source}")]
    Read {
        /// What the file is.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Read, but not what it must be.
    #[error("{what} {path}: {reason}")]
    Invalid {
        /// What the file is.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, SettingsError> {
    std::fs::read(path).map_err(|source| SettingsError::Read { what, path: path.to_path_buf(), source })
}

fn invalid(what: &'static str, path: &Path, reason: impl ToString) -> SettingsError {
    SettingsError::Invalid { what, path: path.to_path_buf(), reason: reason.to_string() }
}

/// The EAR signing key: ECDSA P-384, PKCS#8 PEM (`openssl genpkey -algorithm EC -pkeyopt
/// ec_paramgen_curve:P-384`).
#[derive(Clone)]
pub struct EarSigningKey {
    pem: Vec<u8>,
    public_pem: String,
}

impl std::fmt::Debug for EarSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EarSigningKey").field("public_pem", &self.public_pem).finish_non_exhaustive()
    }
}

impl EarSigningKey {
    /// Loads the key at `path`.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let pem = read("EAR signing key", path)?;
        Self::from_pem(pem).map_err(|reason| invalid("EAR signing key", path, reason))
    }

    /// The key from PKCS#8 PEM bytes.
    pub fn from_pem(pem: Vec<u8>) -> Result<Self, String> {
        if !pem.starts_with(b"-----BEGIN PRIVATE KEY-----") {
            return Err("not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)".into());
        }
        // The checkpoint signer loads exactly this key type (P-384 PKCS#8) and derives its public key.
        let public_pem = CheckpointSigner::from_pkcs8(&pem).map_err(|e| e.to_string())?.public_key_pem();
        Ok(Self { pem, public_pem })
    }

    /// The public key, SPKI PEM: what guests pin (`[remote] public_key_pem`).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `ear` as an ES384 compact JWS.
    pub fn sign(&self, ear: &ear::Ear) -> Result<String, String> {
        ear.sign_jwt_pem(ear::Algorithm::ES384, &self.pem).map_err(|e| e.to_string())
    }
}

/// Loads the log checkpoint key (PKCS#8 P-384, PEM or DER).
pub fn checkpoint_key(path: &Path) -> Result<CheckpointSigner, SettingsError> {
    let bytes = read("log checkpoint key", path)?;
    CheckpointSigner::from_pkcs8(&bytes).map_err(|e| invalid("log checkpoint key", path, e))
}

/// The policy file and its bytes' SHA-384 is what records name (through the appraisal's policy digest).
pub fn policy(path: &Path) -> Result<Policy, SettingsError> {
    let bytes = read("policy", path)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("policy", path, "not UTF-8"))?;
    Policy::parse(&text).map_err(|e| invalid("policy", path, e))
}

/// The trust anchors: the built-in NVIDIA and AMD roots, or those in a trust directory.
///
/// A trust directory holds `nvidia-device-root.pem`, `nvidia-rim-root.pem` and, per AMD product,
/// `<product>-ark.pem`, `<product>-ask.pem` and optionally `<product>-asvk.pem` (`milan`, `genoa`,
/// `turin`). It replaces the built-in roots entirely: for test fleets and simulations, never needed in
/// production.
pub fn trust(dir: Option<&Path>) -> Result<(Anchors, AmdRoots), SettingsError> {
    let Some(dir) = dir else {
        return Ok((Anchors::nvidia(), AmdRoots::amd()));
    };
    let anchor = |file: &str, name: &'static str| -> Result<TrustAnchor, SettingsError> {
        let path = dir.join(file);
        let pem = read("trust anchor", &path)?;
        TrustAnchor::from_pem(name, &pem).map_err(|e| invalid("trust anchor", &path, e))
    };
    let anchors = Anchors {
        device: anchor("nvidia-device-root.pem", "GPU device identity root (trust directory)")?,
        rim: anchor("nvidia-rim-root.pem", "RIM signing root (trust directory)")?,
    };
    let mut products = Vec::new();
    for product in Product::ALL {
        let name = product.name().to_ascii_lowercase();
        let ark_path = dir.join(format!("{name}-ark.pem"));
        if !ark_path.exists() {
            continue;
        }
        let ark = read("AMD ARK", &ark_path)?;
        let ask_path = dir.join(format!("{name}-ask.pem"));
        let ask = read("AMD ASK", &ask_path)?;
        let asvk_path = dir.join(format!("{name}-asvk.pem"));
        let asvk = if asvk_path.exists() { Some(read("AMD ASVK", &asvk_path)?) } else { None };
        products.push(
            ProductRoots::from_pem(product, &ark, &ask, asvk.as_deref())
                .map_err(|e| invalid("AMD roots", &ark_path, e))?,
        );
    }
    let roots = AmdRoots::new(products).map_err(|e| invalid("AMD roots", dir, e))?;
    Ok((anchors, roots))
}

/// A RIM source supplied by the program embedding the service (`ccgpu demo --remote` hands it the
/// simulation's RIM store): RIM id to document.
#[derive(Clone)]
pub struct RimLookup(pub Arc<LookupFn>);

/// The function behind a [`RimLookup`].
pub type LookupFn = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

impl std::fmt::Debug for RimLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RimLookup(..)")
    }
}

impl PartialEq for RimLookup {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RimLookup {}

/// Where RIMs come from. The bundle's own RIMs are never used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RimSetting {
    /// NVIDIA's RIM service (or a mirror) at this base URL, through the on-disk cache when given.
    Online {
        /// Base URL the RIM id is appended to.
        service: String,
        /// Per-request timeout.
        timeout: Duration,
        /// On-disk cache.
        cache: Option<PathBuf>,
    },
    /// A directory of RIMs named by id (offline, air-gapped, tests).
    Dir(PathBuf),
    /// An embedding program's source.
    Lookup(RimLookup),
}

/// Where OCSP responses come from. The bundle's recorded responses are never used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspSetting {
    /// Not checked: appraisals record revocation as not checked (a policy requiring OCSP fails them).
    Off,
    /// Recorded responses (DER, one per file) in a directory, read at start.
    Dir(PathBuf),
    /// The responders, asked per appraisal through an on-disk cache.
    Online {
        /// Ask this responder for every certificate (a mirror); `None`: each certificate's AIA responder
        /// when it is NVIDIA's, else NVIDIA's default responder.
        url: Option<String>,
        /// Per-request timeout (an appraisal's requests together: four times this).
        timeout: Duration,
        /// On-disk cache of responses, reused until their nextUpdate.
        cache: Option<PathBuf>,
    },
}
