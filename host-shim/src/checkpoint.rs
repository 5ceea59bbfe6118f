//! The claim checkpoint: one crash-safe, checksummed record per prepared (or in-flight) claim.
//!
//! A record says everything needed to undo a claim without asking anyone — which functions were moved,
//! from which driver and `driver_override`, which CDI spec was written — and in which phase the claim is
//! (two-phase: [`Phase::PrepareStarted`] → [`Phase::PrepareCompleted`], and
//! [`Phase::UnprepareStarted`] while undoing). It is tagged with the node's boot id: after a reboot the
//! devices are back on their boot drivers and the record is stale.
//!
//! On disk, `claim-<uid>.json` = a header line `ccgpu-checkpoint v1 crc32=<8 hex>` and the JSON body;
//! the checksum is verified over the body bytes as read, before parsing. Written with
//! [`crate::atomic_file::write_atomic`]. Trusts its own directory only as far as the checksum goes: a bad
//! record is reported and set aside, never half-trusted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ccgpu_pci::{DriverName, IommuGroup, PciAddress};
use serde::{Deserialize, Serialize};

use crate::atomic_file::{self, FileError};
use crate::ccmode::CcMode;
use crate::crc32::crc32;
use crate::names::{ClaimUid, DeviceName};

const HEADER_PREFIX: &str = "ccgpu-checkpoint v1 crc32=";
const FILE_PREFIX: &str = "claim-";
const FILE_SUFFIX: &str = ".json";
/// Records larger than this are refused unread (a claim of 8 GPUs is about 3 KiB).
const MAX_RECORD: u64 = 1 << 20;

/// Where a claim is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Devices may be partly moved to vfio-pci; roll back on recovery.
    PrepareStarted,
    /// Every device is on vfio-pci and the CDI spec is written.
    PrepareCompleted,
    /// Undoing; finish the undo on recovery.
    UnprepareStarted,
}

/// How a function relates to the claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A device the claim asked for.
    Requested,
    /// Another function of the same IOMMU group that must go to vfio-pci with it (HDA audio, a second
    /// GPU or NVSwitch sharing the group).
    Companion,
}

/// One function a claim moved (or will move) to vfio-pci, with what to restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The function.
    pub address: PciAddress,
    /// Its IOMMU group.
    pub group: IommuGroup,
    /// Requested or companion.
    pub role: Role,
    /// Driver bound before prepare (`None`: unbound).
    pub original_driver: Option<DriverName>,
    /// `driver_override` before prepare.
    pub original_override: Option<DriverName>,
    /// CC mode seen while the GPU was still on its host driver, remembered for discovery.
    pub cc_mode: Option<CcMode>,
}

/// The CDI spec of a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdiRecord {
    /// File name in the CDI directory.
    pub file: String,
    /// Fully qualified CDI device ids (`vendor/class=name`), one per requested device, in request order.
    pub device_ids: Vec<String>,
}

/// The checkpoint record of one claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// The claim.
    pub claim_uid: ClaimUid,
    /// `/proc/sys/kernel/random/boot_id` when written.
    pub boot_id: String,
    /// Phase.
    pub phase: Phase,
    /// The devices asked for, in request order.
    pub requested: Vec<DeviceName>,
    /// Every function moved, requested and companions, in the order they were moved.
    pub devices: Vec<DeviceRecord>,
    /// The CDI spec (its file name is fixed before any device moves).
    pub cdi: CdiRecord,
}

/// A checkpoint failure, with the claim or path.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Could not write or remove a record.
    #[error("checkpoint of claim {claim}")]
    Write {
        /// The claim.
        claim: ClaimUid,
        /// The file error.
        #[source]
        source: FileError,
    },
    /// Could not list or read the checkpoint directory.
    #[error("reading checkpoint {path}")]
    Read {
        /// File or directory.
        path: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// Could not serialise a record (a bug).
    #[error("encoding checkpoint of claim {claim}")]
    Encode {
        /// The claim.
        claim: ClaimUid,
        /// The encoder error.
        #[source]
        source: serde_json::Error,
    },
    /// Could not set a bad record aside.
    #[error("setting aside corrupt checkpoint {path}")]
    SetAside {
        /// The record.
        path: PathBuf,
        /// OS error.
        #[source]
        source: io::Error,
    },
}

/// Why a record on disk was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptRecord {
    /// Too large to be ours.
    #[error("{size} bytes, more than a record can be")]
    TooLarge {
        /// Size in bytes.
        size: u64,
    },
    /// No valid header line.
    #[error("missing or malformed header line")]
    Header,
    /// The checksum does not match the body.
    #[error("checksum mismatch: header says {expected:08x}, body has {actual:08x}")]
    Checksum {
        /// From the header.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// The body is not a record.
    #[error("body does not parse: {0}")]
    Body(String),
    /// The record is for another claim than its file name says.
    #[error("file name says claim {file}, record says {record}")]
    WrongClaim {
        /// From the file name.
        file: String,
        /// From the record.
        record: String,
    },
}

/// What [`CheckpointStore::load_all`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid records.
    pub records: Vec<ClaimRecord>,
    /// Records that failed verification (path and reason).
    pub corrupt: Vec<(PathBuf, CorruptRecord)>,
}

/// The checkpoint directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, FileError> {
        atomic_file::ensure_dir(dir)?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_name(claim: &ClaimUid) -> String {
        format!("{FILE_PREFIX}{claim}{FILE_SUFFIX}")
    }

    /// Writes a record, atomically and durably.
    pub fn save(&self, record: &ClaimRecord) -> Result<(), CheckpointError> {
        let claim = &record.claim_uid;
        let body = serde_json::to_vec_pretty(record)
            .map_err(|source| CheckpointError::Encode { claim: claim.clone(), source })?;
        let mut bytes = format!("{HEADER_PREFIX}{:08x}\n", crc32(&body)).into_bytes();
        bytes.extend_from_slice(&body);
        atomic_file::write_atomic(&self.dir, &Self::file_name(claim), &bytes)
            .map_err(|source| CheckpointError::Write { claim: claim.clone(), source })
    }

    /// Removes a claim's record (absent is fine).
    pub fn remove(&self, claim: &ClaimUid) -> Result<(), CheckpointError> {
        atomic_file::remove_durable(&self.dir, &Self::file_name(claim))
            .map_err(|source| CheckpointError::Write { claim: claim.clone(), source })
    }

    /// One claim's record, if it has one. A corrupt record reads as an error naming the file.
    pub fn load(&self, claim: &ClaimUid) -> Result<Option<Result<ClaimRecord, CorruptRecord>>, CheckpointError> {
        let path = self.dir.join(Self::file_name(claim));
        match read_bounded(&path) {
            Ok(bytes) => Ok(Some(bytes.and_then(|b| decode(&b, claim.as_str())))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CheckpointError::Read { path, source }),
        }
    }

    /// The readable records in the directory now, touching nothing: safe while claims are being written
    /// (unlike [`CheckpointStore::load_all`], which removes temp files and is for recovery). A record
    /// removed between listing and reading is skipped, and so is a corrupt one (recovery sets it aside).
    pub fn records_now(&self) -> Result<Vec<ClaimRecord>, CheckpointError> {
        let read_err = |source| CheckpointError::Read { path: self.dir.clone(), source };
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(read_err)? {
            let name = entry.map_err(read_err)?.file_name();
            let Some(uid) =
                name.to_str().and_then(|n| n.strip_prefix(FILE_PREFIX)).and_then(|n| n.strip_suffix(FILE_SUFFIX))
            else {
                continue;
            };
            let path = self.dir.join(&name);
            match read_bounded(&path) {
                Ok(Ok(bytes)) => {
                    if let Ok(record) = decode(&bytes, uid) {
                        out.push(record);
                    }
                }
                Ok(Err(_)) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(CheckpointError::Read { path, source }),
            }
        }
        Ok(out)
    }

    /// Every record in the directory, with the corrupt ones listed apart. Temp files from a crash are
    /// removed first, so this must not run while claims are being written (recovery, before serving).
    pub fn load_all(&self) -> Result<Loaded, CheckpointError> {
        let read_err = |source| CheckpointError::Read { path: self.dir.clone(), source };
        atomic_file::remove_temps(&self.dir, |n| n.starts_with(FILE_PREFIX))
            .map_err(|e| CheckpointError::Read { path: e.path, source: e.source })?;
        let mut loaded = Loaded::default();
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(read_err)? {
            let name = entry.map_err(read_err)?.file_name();
            if let Some(name) = name.to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        for name in names {
            let Some(uid) = name.strip_prefix(FILE_PREFIX).and_then(|n| n.strip_suffix(FILE_SUFFIX)) else {
                continue;
            };
            let path = self.dir.join(&name);
            let bytes = read_bounded(&path).map_err(|source| CheckpointError::Read { path: path.clone(), source })?;
            match bytes.and_then(|b| decode(&b, uid)) {
                Ok(record) => loaded.records.push(record),
                Err(reason) => loaded.corrupt.push((path, reason)),
            }
        }
        Ok(loaded)
    }

    /// Renames a corrupt record to `<name>.corrupt` so it is kept for an operator but no longer loaded.
    pub fn set_aside(&self, path: &Path) -> Result<PathBuf, CheckpointError> {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".corrupt");
        let aside = PathBuf::from(aside);
        fs::rename(path, &aside).map_err(|source| CheckpointError::SetAside { path: path.to_owned(), source })?;
        Ok(aside)
    }
}

fn read_bounded(path: &Path) -> io::Result<Result<Vec<u8>, CorruptRecord>> {
    let size = fs::metadata(path)?.len();
    if size > MAX_RECORD {
        return Ok(Err(CorruptRecord::TooLarge { size }));
    }
    fs::read(path).map(Ok)
}

fn decode(bytes: &[u8], file_uid: &str) -> Result<ClaimRecord, CorruptRecord> {
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or(CorruptRecord::Header)?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| CorruptRecord::Header)?;
    let hex = header.strip_prefix(HEADER_PREFIX).ok_or(CorruptRecord::Header)?;
    if hex.len() != 8 {
        return Err(CorruptRecord::Header);
    }
    let expected = u32::from_str_radix(hex, 16).map_err(|_| CorruptRecord::Header)?;
    let body = &bytes[newline + 1..];
    let actual = crc32(body);
    if actual != expected {
        return Err(CorruptRecord::Checksum { expected, actual });
    }
    let record: ClaimRecord = serde_json::from_slice(body).map_err(|e| CorruptRecord::Body(e.to_string()))?;
    if record.claim_uid.as_str() != file_uid {
        return Err(CorruptRecord::WrongClaim { file: file_uid.to_owned(), record: record.claim_uid.to_string() });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: &str) -> ClaimRecord {
        let address: PciAddress = "0000:3b:00.0".parse().expect("valid");
        ClaimRecord {
            claim_uid: uid.parse().expect("valid"),
            boot_id: "b0".into(),
            phase: Phase::PrepareStarted,
            requested: vec![DeviceName::new(crate::names::DeviceKind::Gpu, address)],
            devices: vec![DeviceRecord {
                address,
                group: IommuGroup(3),
                role: Role::Requested,
                original_driver: Some("nvidia".parse().expect("valid")),
                original_override: None,
                cc_mode: Some(CcMode::On),
            }],
            cdi: CdiRecord { file: "ccgpu.dev-gpu_u1.json".into(), device_ids: vec![] },
        }
    }

    #[test]
    fn save_load_roundtrip_and_remove() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let r = record("u1");
        store.save(&r).expect("save");
        let loaded = store.load_all().expect("load");
        assert_eq!(loaded.records, vec![r.clone()]);
        assert!(loaded.corrupt.is_empty());
        assert_eq!(store.load(&r.claim_uid).expect("read"), Some(Ok(r.clone())));
        store.remove(&r.claim_uid).expect("remove");
        assert_eq!(store.load(&r.claim_uid).expect("read"), None);
    }

    #[test]
    fn records_now_reads_without_touching_writes_in_flight() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let r = record("u1");
        store.save(&r).expect("save");
        // A concurrent save's temp file, and a corrupt record.
        let temp = dir.path().join(format!(".{FILE_PREFIX}u2{FILE_SUFFIX}.tmp"));
        fs::write(&temp, b"half").expect("temp");
        fs::write(dir.path().join(format!("{FILE_PREFIX}u3{FILE_SUFFIX}")), b"garbage").expect("corrupt");
        assert_eq!(store.records_now().expect("read"), vec![r]);
        assert!(temp.exists(), "an in-flight write's temp file is left alone");
        store.load_all().expect("recovery's read");
        assert!(!temp.exists(), "whereas recovery's read removes it");
    }

    #[test]
    fn a_flipped_byte_or_a_renamed_file_is_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        store.save(&record("u1")).expect("save");
        let path = dir.path().join("claim-u1.json");
        let mut bytes = fs::read(&path).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        fs::write(&path, &bytes).expect("write");
        fs::copy(dir.path().join("claim-u1.json"), dir.path().join("claim-u2.json")).expect("copy");
        store.save(&record("u3")).expect("save");
        fs::rename(dir.path().join("claim-u3.json"), dir.path().join("claim-u4.json")).expect("rename");
        fs::write(dir.path().join("claim-u5.json"), "no header").expect("write");
        let loaded = store.load_all().expect("load");
        assert!(loaded.records.is_empty());
        let reasons: Vec<_> = loaded.corrupt.iter().map(|(_, r)| r.clone()).collect();
        assert!(matches!(reasons[0], CorruptRecord::Checksum { .. }), "{reasons:?}");
        assert!(matches!(reasons[1], CorruptRecord::Checksum { .. }));
        assert!(matches!(reasons[2], CorruptRecord::WrongClaim { .. }));
        assert_eq!(reasons[3], CorruptRecord::Header);
        let aside = store.set_aside(&loaded.corrupt[0].0).expect("set aside");
        assert!(aside.to_string_lossy().ends_with(".json.corrupt"));
        assert_eq!(store.load_all().expect("load").corrupt.len(), 3);
    }
}
