//! The errors of the node layer: [`ClaimError`] (a claim operation failed, with the claim and the cause
//! chain) and [`OpenError`] (the node layer could not start).

use ccgpu_pci::{DriverName, IommuGroup, PciAddress, PciError};

use crate::atomic_file::FileError;
use crate::binding::BindError;
use crate::cdi::CdiError;
use crate::checkpoint::{CheckpointError, CorruptRecord};
use crate::effects::Interrupted;
use crate::group::PlanError;
use crate::names::{ClaimUid, DeviceName};
use crate::usage::UsageError;
use crate::vfio::VfioError;

/// A claim operation failed; the claim is named, the cause follows in the chain.
#[derive(Debug, thiserror::Error)]
#[error("claim {claim}")]
pub struct ClaimError {
    /// The claim.
    pub claim: ClaimUid,
    /// What went wrong.
    #[source]
    pub failure: Box<ClaimFailure>,
}

/// What went wrong with one claim.
#[derive(Debug, thiserror::Error)]
pub enum ClaimFailure {
    /// A PPCIe unit was asked for that this node cannot offer now.
    #[error("PPCIe unit {unit} cannot be prepared: {reason}")]
    PpcieUnit {
        /// The unit as named.
        unit: DeviceName,
        /// Why.
        reason: String,
    },
    /// A GPU or NVSwitch in PPCIe mode was asked for on its own.
    #[error("device {device} is in PPCIe mode and cannot be prepared alone: {reason}")]
    PpcieMember {
        /// The device.
        device: DeviceName,
        /// Its unit, or why the board is withheld.
        reason: String,
    },
    /// The bus could not be listed.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::DiscoveryError),
    /// No devices were requested.
    #[error("no devices requested")]
    EmptyRequest,
    /// Nothing was left of the claim's budget for the node work (the API read or the wait for the claim
    /// took it all).
    #[error("the claim's time budget was used up before the node work began")]
    BudgetSpent,
    /// Another call for the same claim held it for the whole wait.
    #[error("another call for this claim is still running after {waited_ms} ms; the kubelet retries")]
    Busy {
        /// How long we waited.
        waited_ms: u128,
    },
    /// A device was requested twice.
    #[error("device {0} requested twice")]
    DuplicateDevice(DeviceName),
    /// The named device is not on this node.
    #[error("device {0} is not on this node")]
    UnknownDevice(DeviceName),
    /// The named device is not one we manage (or not of the kind its name says).
    #[error("device {name} is not a managed {kind:?} (vendor {vendor:04x}, class {class})")]
    NotManaged {
        /// The name.
        name: DeviceName,
        /// The kind its name claims.
        kind: crate::names::DeviceKind,
        /// Actual vendor.
        vendor: u16,
        /// Actual class.
        class: ccgpu_pci::ClassCode,
    },
    /// Its group cannot be taken.
    #[error("device {device}")]
    Plan {
        /// The device.
        device: DeviceName,
        /// Why.
        #[source]
        source: PlanError,
    },
    /// Its group is held by another claim.
    #[error("IOMMU group {group} (device {device}) is held by claim {holder}")]
    GroupHeld {
        /// The group.
        group: IommuGroup,
        /// The requested device.
        device: DeviceName,
        /// The claim holding it.
        holder: ClaimUid,
    },
    /// The claim is already prepared with other devices.
    #[error("already prepared with devices {prepared:?}, now asked for {requested:?}")]
    ClaimChanged {
        /// Devices now requested.
        requested: Vec<DeviceName>,
        /// Devices prepared.
        prepared: Vec<DeviceName>,
    },
    /// A prepared claim's device left vfio-pci behind our back.
    #[error("prepared device {address} is no longer on a VFIO driver (now {driver:?}); unprepare and retry")]
    Drifted {
        /// The function.
        address: PciAddress,
        /// Its driver now.
        driver: Option<DriverName>,
    },
    /// A GPU is still held open on the host.
    #[error("{address} is still in use after {waited_ms} ms by {holders}")]
    InUse {
        /// The function.
        address: PciAddress,
        /// Who holds it.
        holders: String,
        /// How long we waited.
        waited_ms: u128,
    },
    /// Could not tell whether a GPU is in use.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// vfio-pci is not loaded.
    #[error("the vfio-pci driver is not registered (modprobe vfio-pci)")]
    VfioPciMissing,
    /// Moving a function failed.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The group changed while we bound it.
    #[error("IOMMU group {group} changed while binding: planned {planned:?}, now {now:?}")]
    GroupChanged {
        /// The group.
        group: IommuGroup,
        /// Members we planned for (bridges excluded).
        planned: Vec<PciAddress>,
        /// Members now.
        now: Vec<PciAddress>,
    },
    /// The device is bound but not usable through VFIO.
    #[error(transparent)]
    Vfio(#[from] VfioError),
    /// iommufd hand-over is configured but the kernel made no VFIO cdev.
    #[error(
        "{address} has no VFIO cdev (vfio-dev/vfioN): the kernel lacks CONFIG_VFIO_DEVICE_CDEV (Linux >= 6.6); \
         confidential guests need /dev/vfio/devices/vfioN, the legacy group node is only for non-CC use"
    )]
    NoIommufdCdev {
        /// The function.
        address: PciAddress,
    },
    /// Reading the bus failed.
    #[error("reading {address}")]
    Pci {
        /// The function.
        address: PciAddress,
        /// Bus error.
        #[source]
        source: PciError,
    },
    /// The checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The claim's checkpoint record is corrupt.
    #[error("checkpoint record is corrupt: {0}")]
    CorruptRecord(CorruptRecord),
    /// The CDI spec could not be written or removed.
    #[error(transparent)]
    Cdi(#[from] CdiError),
    /// A step was stopped (crash simulation or injected fault).
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The operation failed and undoing it failed too; the record stays for a later attempt.
    #[error("{}; rolling back also failed", crate::error_chain(cause.as_ref()))]
    RollbackFailed {
        /// The original failure.
        cause: Box<ClaimFailure>,
        /// The rollback failure.
        #[source]
        rollback: Box<ClaimFailure>,
    },
}

/// Opening the node layer failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A directory could not be created or the lock file opened.
    #[error(transparent)]
    File(#[from] FileError),
    /// Another process holds the node lock.
    #[error("another ccgpu node process holds {path}")]
    Locked {
        /// The lock file.
        path: std::path::PathBuf,
    },
    /// Recovery could not read the checkpoint or the bus.
    #[error("recovering after restart")]
    Recovery(#[source] Box<ClaimFailure>),
}
