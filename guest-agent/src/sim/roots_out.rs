//! What a relying party needs to appraise the simulation, written out for one: the simulated trust
//! anchors (`trust/`, in the file names `ccgpu-verifier --trust-dir` reads) and the simulated signed RIMs
//! (`rims/`, named by RIM id, for `ccgpu-verifier --rims DIR`). The binary writes them under
//! `--simulate-roots-out DIR` (a build with the `sim` feature only), since its simulated PKIs exist only
//! inside its own process.
//!
//! Trusts: nothing; it writes public certificates and signed documents, never a private key.

use std::path::Path;

use base64::Engine as _;

use super::fleet::SimPkis;

/// Why the simulated roots could not be written, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum RootsOutError {
    /// A file or directory could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The simulated AMD roots could not be had.
    #[error("simulated AMD roots: {0}")]
    Roots(String),
}

/// Writes `pkis`' trust anchors under `dir/trust/` (`nvidia-device-root.pem`, `nvidia-rim-root.pem`,
/// `<product>-ark.pem`, `<product>-ask.pem`, `<product>-asvk.pem`) and its RIMs under `dir/rims/<id>`.
/// Each directory is written aside and renamed into place, `rims/` last: once `dir/rims` exists, both
/// are complete.
pub fn write_sim_roots(pkis: &SimPkis, dir: &Path) -> Result<(), RootsOutError> {
    let staging = dir.join(".sim-roots-partial");
    let trust = staging.join("trust");
    let rims = staging.join("rims");
    for d in [&trust, &rims] {
        std::fs::create_dir_all(d).map_err(|source| RootsOutError::Write { path: d.clone(), source })?;
    }
    let write = |path: std::path::PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes).map_err(|source| RootsOutError::Write { path, source })
    };
    let anchors = pkis.gpu.anchors();
    write(trust.join("nvidia-device-root.pem"), pem(anchors.device.der()).as_bytes())?;
    write(trust.join("nvidia-rim-root.pem"), pem(anchors.rim.der()).as_bytes())?;
    for r in pkis.snp.roots().map_err(|e| RootsOutError::Roots(e.to_string()))?.iter() {
        let name = r.product().name().to_ascii_lowercase();
        write(trust.join(format!("{name}-ark.pem")), pem(r.ark()).as_bytes())?;
        write(trust.join(format!("{name}-ask.pem")), pem(r.ask()).as_bytes())?;
        if let Some(asvk) = r.asvk() {
            write(trust.join(format!("{name}-asvk.pem")), pem(asvk).as_bytes())?;
        }
    }
    for (id, document) in pkis.gpu.rims().documents() {
        write(rims.join(id), document)?;
    }
    for name in ["trust", "rims"] {
        let to = dir.join(name);
        std::fs::rename(staging.join(name), &to).map_err(|source| RootsOutError::Write { path: to, source })?;
    }
    std::fs::remove_dir(&staging).map_err(|source| RootsOutError::Write { path: staging.clone(), source })
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
