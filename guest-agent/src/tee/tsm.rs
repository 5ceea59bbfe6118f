//! [`ConfigfsTsm`]: CPU TEE evidence through the kernel's configfs TSM report interface
//! (`/sys/kernel/config/tsm/report`, Linux ≥ 6.7), which serves TDX quotes and SEV-SNP reports alike:
//! make an entry directory, write the 64-byte REPORT_DATA to `inblob`, read `provider` (which TEE answered:
//! `tdx_guest` or `sev_guest`), `outblob` (the quote or report) and, for SEV-SNP, `auxblob` (the
//! certificate table), then remove the entry. `generation` is read before and after: another writer
//! to the same entry in between makes the evidence ambiguous, and it is refused.
//!
//! The TEE kind is detected from `provider`, never configured by the host. Nothing read here is trusted:
//! the verifier judges the quote or report. The filesystem sits behind [`TsmFs`] (the real one is
//! [`Configfs`], plain file operations under a root path), so the protocol is tested against a fake
//! kernel over a temp directory.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{CpuReport, CpuTee, TeeError};

/// Where the kernel mounts the TSM report interface.
pub const TSM_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";
/// Largest outblob read (a TDX quote is ≤ 8 KB; SEV-SNP's report 1184 bytes).
const MAX_BLOB: usize = 64 * 1024;

/// Which CPU TEE produced the evidence (the entry's `provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeeKind {
    /// Intel TDX (`tdx_guest`): `outblob` is a TD quote.
    Tdx,
    /// AMD SEV-SNP (`sev_guest`): `outblob` is an attestation report, `auxblob` its certificate table.
    SevSnp,
}

impl TeeKind {
    /// From the `provider` attribute.
    pub fn from_provider(provider: &str) -> Option<Self> {
        match provider.trim() {
            "tdx_guest" => Some(Self::Tdx),
            "sev_guest" => Some(Self::SevSnp),
            _ => None,
        }
    }
}

/// Evidence from one TSM report entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmEvidence {
    /// The TEE that answered.
    pub kind: TeeKind,
    /// The quote (TDX) or report (SEV-SNP).
    pub outblob: Vec<u8>,
    /// SEV-SNP's certificate table, when the provider gives one.
    pub auxblob: Option<Vec<u8>>,
}

/// The file operations the protocol needs, on entries under the report root.
pub trait TsmFs: Send + Sync + fmt::Debug {
    /// Whether the report root exists.
    fn present(&self) -> bool;
    /// `mkdir <root>/<entry>`.
    fn create_entry(&self, entry: &str) -> io::Result<()>;
    /// Writes an attribute.
    fn write(&self, entry: &str, attr: &str, bytes: &[u8]) -> io::Result<()>;
    /// Reads an attribute (at most `limit` bytes).
    fn read(&self, entry: &str, attr: &str, limit: usize) -> io::Result<Vec<u8>>;
    /// `rmdir <root>/<entry>`.
    fn remove_entry(&self, entry: &str) -> io::Result<()>;
}

/// The real configfs under a root path ([`TSM_REPORT_ROOT`] in a guest).
#[derive(Debug, Clone)]
pub struct Configfs {
    root: PathBuf,
}

impl Configfs {
    /// Configfs TSM reports under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, entry: &str, attr: &str) -> PathBuf {
        self.root.join(entry).join(attr)
    }
}

impl TsmFs for Configfs {
    fn present(&self) -> bool {
        self.root.is_dir()
    }

    fn create_entry(&self, entry: &str) -> io::Result<()> {
        std::fs::create_dir(self.root.join(entry))
    }

    fn write(&self, entry: &str, attr: &str, bytes: &[u8]) -> io::Result<()> {
        std::fs::write(self.path(entry, attr), bytes)
    }

    fn read(&self, entry: &str, attr: &str, limit: usize) -> io::Result<Vec<u8>> {
        use std::io::Read as _;
        let mut out = Vec::new();
        std::fs::File::open(self.path(entry, attr))?.take(limit as u64 + 1).read_to_end(&mut out)?;
        if out.len() > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{attr} is over {limit} bytes")));
        }
        Ok(out)
    }

    fn remove_entry(&self, entry: &str) -> io::Result<()> {
        std::fs::remove_dir(self.root.join(entry))
    }
}

/// CPU TEE evidence through configfs TSM.
#[derive(Debug)]
pub struct ConfigfsTsm<F: TsmFs = Configfs> {
    fs: F,
    prefix: String,
    counter: AtomicU64,
}

impl ConfigfsTsm<Configfs> {
    /// The interface under `root` (a parameter: [`TSM_REPORT_ROOT`] in a guest).
    pub fn new(root: &Path) -> Self {
        Self::with_fs(Configfs::new(root))
    }
}

impl<F: TsmFs> ConfigfsTsm<F> {
    /// The protocol over `fs`.
    pub fn with_fs(fs: F) -> Self {
        Self { fs, prefix: format!("ccgpu-{}", std::process::id()), counter: AtomicU64::new(0) }
    }

    /// Whether the kernel offers the interface.
    pub fn present(&self) -> bool {
        self.fs.present()
    }

    /// Fresh evidence binding `report_data`; the entry is removed whatever happens after it was made.
    pub fn evidence(&self, report_data: &[u8; 64]) -> Result<TsmEvidence, TeeError> {
        let entry = format!("{}-{}", self.prefix, self.counter.fetch_add(1, Ordering::Relaxed));
        let io =
            |what: &str, e: io::Error| TeeError::Open { device: format!("configfs TSM {entry}/{what}"), source: e };
        self.fs.create_entry(&entry).map_err(|e| io("(mkdir)", e))?;
        let result = self.exchange(&entry, report_data);
        if let Err(e) = self.fs.remove_entry(&entry) {
            tracing::warn!(entry = %entry, error = %e, "configfs TSM entry not removed");
        }
        result
    }

    fn exchange(&self, entry: &str, report_data: &[u8; 64]) -> Result<TsmEvidence, TeeError> {
        let io =
            |what: &str, e: io::Error| TeeError::Open { device: format!("configfs TSM {entry}/{what}"), source: e };
        self.fs.write(entry, "inblob", report_data).map_err(|e| io("inblob", e))?;
        let generation = |fs: &F| -> Result<u64, TeeError> {
            let raw = fs.read(entry, "generation", 32).map_err(|e| io("generation", e))?;
            String::from_utf8_lossy(&raw)
                .trim()
                .parse()
                .map_err(|_| TeeError::Firmware("generation is not a number".into()))
        };
        let before = generation(&self.fs)?;
        let provider = self.fs.read(entry, "provider", 64).map_err(|e| io("provider", e))?;
        let provider = String::from_utf8_lossy(&provider).into_owned();
        let kind = TeeKind::from_provider(&provider).ok_or_else(|| {
            TeeError::Unsupported(format!("configfs TSM provider {:?} is neither TDX nor SEV-SNP", provider.trim()))
        })?;
        let outblob = self.fs.read(entry, "outblob", MAX_BLOB).map_err(|e| io("outblob", e))?;
        let auxblob = match kind {
            TeeKind::SevSnp => match self.fs.read(entry, "auxblob", MAX_BLOB) {
                Ok(a) if !a.is_empty() => Some(a),
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io("auxblob", e)),
            },
            TeeKind::Tdx => None,
        };
        let after = generation(&self.fs)?;
        if after != before {
            return Err(TeeError::Firmware(format!(
                "configfs TSM entry {entry} was written by someone else while reading (generation {before} → {after})"
            )));
        }
        if outblob.is_empty() {
            return Err(TeeError::Firmware(format!("configfs TSM entry {entry}: empty outblob")));
        }
        Ok(TsmEvidence { kind, outblob, auxblob })
    }
}

/// SEV-SNP through configfs TSM, for guests whose kernel offers it (the `/dev/sev-guest` path stays for
/// older ones): the report from `outblob`, the VCEK/VLEK (and ASK/ARK) from the `auxblob` certificate
/// table. A TDX guest's quote is not a [`CpuReport`]: it is refused here and judged by `ccgpu verify tdx`.
impl<F: TsmFs> CpuTee for ConfigfsTsm<F> {
    fn present(&self) -> bool {
        self.fs.present()
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<CpuReport, TeeError> {
        let e = self.evidence(report_data)?;
        match e.kind {
            TeeKind::SevSnp => {
                let aux = e.auxblob.ok_or_else(|| {
                    TeeError::Certificates("configfs TSM gave no auxblob: the host provisioned no certificates".into())
                })?;
                let table = super::parse_cert_table("configfs TSM auxblob", &aux)?;
                let (vek, ask_ark) = super::sev::certificates(&table)?;
                Ok(CpuReport { report: e.outblob, vek, ask_ark })
            }
            TeeKind::Tdx => Err(TeeError::Unsupported(
                "this VM is an Intel TDX guest: its quote is judged by `ccgpu verify tdx`; bundles carry SEV-SNP reports only".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ::sev::firmware::host::CertTableEntry;

    use super::*;

    /// A fake kernel over a temp directory: writing `inblob` makes `provider`, `generation` and an
    /// `outblob` that embeds the inblob (as a TDX quote's REPORTDATA would); faults on request.
    #[derive(Debug)]
    struct FakeKernel {
        dir: Configfs,
        provider: &'static str,
        /// Bump `generation` on the n-th read of it (a concurrent writer).
        race_on_read: Option<usize>,
        auxblob: Vec<u8>,
        reads: Mutex<usize>,
        calls: Mutex<Vec<String>>,
    }

    impl FakeKernel {
        fn new(root: &Path, provider: &'static str) -> Self {
            Self {
                dir: Configfs::new(root),
                provider,
                race_on_read: None,
                auxblob: b"CERTS".to_vec(),
                reads: Mutex::new(0),
                calls: Mutex::default(),
            }
        }
    }

    impl TsmFs for FakeKernel {
        fn present(&self) -> bool {
            self.dir.present()
        }
        fn create_entry(&self, entry: &str) -> io::Result<()> {
            self.calls.lock().expect("lock").push(format!("mkdir {entry}"));
            self.dir.create_entry(entry)
        }
        fn write(&self, entry: &str, attr: &str, bytes: &[u8]) -> io::Result<()> {
            self.calls.lock().expect("lock").push(format!("write {attr}"));
            self.dir.write(entry, attr, bytes)?;
            if attr == "inblob" {
                self.dir.write(entry, "provider", format!("{}\n", self.provider).as_bytes())?;
                self.dir.write(entry, "generation", b"1\n")?;
                let mut out = b"QUOTE".to_vec();
                out.extend_from_slice(bytes);
                self.dir.write(entry, "outblob", &out)?;
                if self.provider == "sev_guest" {
                    self.dir.write(entry, "auxblob", &self.auxblob)?;
                }
            }
            Ok(())
        }
        fn read(&self, entry: &str, attr: &str, limit: usize) -> io::Result<Vec<u8>> {
            self.calls.lock().expect("lock").push(format!("read {attr}"));
            if attr == "generation" {
                let mut n = self.reads.lock().expect("lock");
                *n += 1;
                if self.race_on_read == Some(*n) {
                    self.dir.write(entry, "generation", b"2\n")?;
                }
            }
            self.dir.read(entry, attr, limit)
        }
        fn remove_entry(&self, entry: &str) -> io::Result<()> {
            self.calls.lock().expect("lock").push("rmdir".into());
            // configfs removes the attributes with the directory; a temp dir needs them removed first.
            for f in ["inblob", "outblob", "auxblob", "provider", "generation"] {
                let _ = std::fs::remove_file(self.dir.path(entry, f));
            }
            self.dir.remove_entry(entry)
        }
    }

    #[test]
    fn a_tdx_quote_through_configfs_and_the_entry_is_removed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let tsm = ConfigfsTsm::with_fs(FakeKernel::new(tmp.path(), "tdx_guest"));
        assert!(tsm.present());
        let e = tsm.evidence(&[7; 64]).expect("evidence");
        assert_eq!(e.kind, TeeKind::Tdx);
        assert_eq!(&e.outblob[5..], &[7; 64]);
        assert_eq!(e.auxblob, None);
        assert_eq!(std::fs::read_dir(tmp.path()).expect("dir").count(), 0, "entry left behind");
        let calls = tsm.fs.calls.lock().expect("lock").clone();
        assert_eq!(calls.first().map(|c| c.starts_with("mkdir ccgpu-")), Some(true));
        assert_eq!(
            &calls[1..],
            ["write inblob", "read generation", "read provider", "read outblob", "read generation", "rmdir"]
        );
    }

    #[test]
    fn sev_snp_comes_with_its_certificate_table() {
        let tmp = tempfile::tempdir().expect("tmp");
        let e = ConfigfsTsm::with_fs(FakeKernel::new(tmp.path(), "sev_guest")).evidence(&[1; 64]).expect("evidence");
        assert_eq!(e.kind, TeeKind::SevSnp);
        assert_eq!(e.auxblob.as_deref(), Some(&b"CERTS"[..]));
    }

    #[test]
    fn a_concurrent_writer_an_unknown_provider_and_no_interface_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let racy = FakeKernel { race_on_read: Some(2), ..FakeKernel::new(tmp.path(), "tdx_guest") };
        let err = ConfigfsTsm::with_fs(racy).evidence(&[0; 64]).expect_err("race");
        assert!(err.to_string().contains("someone else"), "{err}");
        assert_eq!(std::fs::read_dir(tmp.path()).expect("dir").count(), 0, "entry left behind after an error");

        let err =
            ConfigfsTsm::with_fs(FakeKernel::new(tmp.path(), "arm_cca_guest")).evidence(&[0; 64]).expect_err("cca");
        assert!(err.to_string().contains("neither TDX nor SEV-SNP"), "{err}");

        let missing = ConfigfsTsm::new(&tmp.path().join("absent"));
        assert!(!missing.present());
        assert!(missing.evidence(&[0; 64]).is_err());
    }

    #[test]
    fn the_cpu_tee_seam_reads_the_vcek_from_the_certificate_table_and_refuses_tdx() {
        use ::sev::firmware::host::CertType;
        let tmp = tempfile::tempdir().expect("tmp");
        let table = CertTableEntry::cert_table_to_vec_bytes(&[CertTableEntry::new(CertType::VCEK, vec![0x30, 1, 2])])
            .expect("table");
        let snp = ConfigfsTsm::with_fs(FakeKernel { auxblob: table, ..FakeKernel::new(tmp.path(), "sev_guest") });
        let r = CpuTee::report(&snp, &[3; 64]).expect("report");
        assert_eq!(r.vek, vec![0x30, 1, 2]);
        assert_eq!(&r.report[5..], &[3; 64]);
        let tdx = ConfigfsTsm::with_fs(FakeKernel::new(tmp.path(), "tdx_guest"));
        assert!(matches!(CpuTee::report(&tdx, &[3; 64]), Err(TeeError::Unsupported(_))));
        let bad = ConfigfsTsm::with_fs(FakeKernel::new(tmp.path(), "sev_guest")); // auxblob "CERTS"
        assert!(matches!(CpuTee::report(&bad, &[3; 64]), Err(TeeError::CertTable { entry: 0, .. })));
    }

    #[test]
    fn real_configfs_reads_are_bounded() {
        let tmp = tempfile::tempdir().expect("tmp");
        let fs = Configfs::new(tmp.path());
        fs.create_entry("e").expect("mkdir");
        fs.write("e", "outblob", &[0; 100]).expect("write");
        assert!(fs.read("e", "outblob", 99).is_err());
        assert_eq!(fs.read("e", "outblob", 100).expect("read").len(), 100);
    }
}
