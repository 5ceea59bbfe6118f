//! Protected PCIe (PPCIe): the multi-GPU confidential-computing mode of an HGX H100/H200 board, in which
//! all eight GPUs and all four NVSwitches go to one confidential VM together — and what the node makes of
//! each device's mode ([`classify`]): per-device offers, one PPCIe unit, or a board withheld as mixed.
//!
//! How the host knows the mode. NVML (`is_multi_gpu_protected_pcie_enabled`) answers only while a GPU is
//! on the NVIDIA host driver, and never for an NVSwitch; a passthrough host has no NVIDIA driver. NVIDIA's
//! gpu-admin-tools (`nvidia_gpu_tools.py --query-ppcie-mode`, used by the GPU Operator's cc-manager) read
//! the mode straight from the device's BAR0 through sysfs `resourceN`, with no driver: on a Hopper GPU bit
//! 5 of the secure scratch register at `0x1182cc` (whose bits 1:0 hold the CC mode), on an LS10 NVSwitch
//! bit 0 of `0x28c50`. [`Bar0PpcieMode`] does the same read (the `mmap(2)` is in the ioctl module, the
//! crate's only `unsafe`). The register offsets are as public ports of gpu-admin-tools give them; no
//! Hopper board was at hand to confirm them, so a read of all ones (a device that does not answer) is an
//! error, never a mode.
//!
//! Trusts: the kernel's sysfs and the device's register for the mode the host acts on. The host's reading
//! is advisory, as the CC mode is: the guest verifies every GPU's and switch's mode from signed evidence.
//! A device whose mode cannot be read is withheld and says why; it is never guessed to be off.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use ccgpu_pci::PciDevice;
use ccgpu_pci::ids::NVIDIA_VENDOR;
use serde::{Deserialize, Serialize};

use crate::names::{DeviceKind, DeviceName};

/// GPUs on an HGX board in PPCIe mode.
pub const UNIT_GPUS: usize = 8;
/// NVSwitches on an HGX board in PPCIe mode.
pub const UNIT_SWITCHES: usize = 4;

/// Hopper's secure scratch register holding the CC and PPCIe state (gpu-admin-tools).
pub const HOPPER_STATE_REGISTER: u64 = 0x1182cc;
/// The PPCIe bit of [`HOPPER_STATE_REGISTER`].
pub const HOPPER_PPCIE_BIT: u32 = 1 << 5;
/// The LS10 NVSwitch register holding its PPCIe state (gpu-admin-tools).
pub const SWITCH_STATE_REGISTER: u64 = 0x28c50;
/// The PPCIe bit of [`SWITCH_STATE_REGISTER`].
pub const SWITCH_PPCIE_BIT: u32 = 1;

/// A device's PPCIe mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PpcieMode {
    /// Not in PPCIe mode (single-GPU CC or no CC).
    Off,
    /// In PPCIe mode.
    On,
}

impl fmt::Display for PpcieMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PpcieMode::Off => "off",
            PpcieMode::On => "on",
        })
    }
}

/// The PPCIe mode of one device as the node knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "detail")]
pub enum PpcieState {
    /// Read (or remembered from a read).
    Mode(PpcieMode),
    /// The model has no PPCIe mode (not a Hopper GPU or LS10 switch): it can only be offered alone.
    Unsupported,
    /// It could not be read; why.
    Unreadable(String),
}

impl PpcieState {
    /// Whether the model has no PPCIe mode.
    pub fn is_unsupported(&self) -> bool {
        *self == PpcieState::Unsupported
    }

    /// Whether the device is known to be in PPCIe mode.
    pub fn is_on(&self) -> bool {
        *self == PpcieState::Mode(PpcieMode::On)
    }
}

/// A failed read of a device's PPCIe mode.
#[derive(Debug, thiserror::Error)]
pub enum PpcieModeError {
    /// BAR0 could not be mapped or read.
    #[error("reading register {offset:#x} of {address} through {}", path.display())]
    Io {
        /// The function.
        address: ccgpu_pci::PciAddress,
        /// The sysfs resource file.
        path: PathBuf,
        /// The register.
        offset: u64,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The register read as all ones: the device did not answer (in reset, powered down, gone).
    #[error("register {offset:#x} of {address} read as 0xffffffff: the device does not answer")]
    NoAnswer {
        /// The function.
        address: ccgpu_pci::PciAddress,
        /// The register.
        offset: u64,
    },
    /// Another source could not say (a simulated fault; an unknown state).
    #[error("PPCIe mode of {address}: {reason}")]
    Unknown {
        /// The function.
        address: ccgpu_pci::PciAddress,
        /// Why.
        reason: String,
    },
}

/// Where PPCIe modes come from.
pub trait PpcieModeSource: Send + Sync + fmt::Debug {
    /// The PPCIe mode of `device` (a GPU or an NVSwitch, as `kind` says). `Ok(None)`: the model has no
    /// PPCIe mode.
    fn ppcie_mode(&self, device: &PciDevice, kind: DeviceKind) -> Result<Option<PpcieMode>, PpcieModeError>;
}

/// Whether an NVIDIA device id is a Hopper GPU (GH100: `0x2300`–`0x23ff`) or the LS10 NVSwitch
/// (`0x22a3`): the models with a PPCIe mode.
pub fn has_ppcie(vendor: u16, device: u16, kind: DeviceKind) -> bool {
    vendor == NVIDIA_VENDOR
        && match kind {
            DeviceKind::Gpu => (0x2300..=0x23ff).contains(&device),
            DeviceKind::Nvswitch => device == 0x22a3,
            DeviceKind::PpcieSet => false,
        }
}

/// The real source: the state register read from BAR0 through `<sysfs>/bus/pci/devices/<bdf>/resource0`,
/// as gpu-admin-tools does, with or without a driver.
#[derive(Debug, Clone)]
pub struct Bar0PpcieMode {
    sysfs: PathBuf,
}

impl Bar0PpcieMode {
    /// Reads under the sysfs root `sysfs` (`/sys`).
    pub fn new(sysfs: impl Into<PathBuf>) -> Self {
        Self { sysfs: sysfs.into() }
    }
}

impl PpcieModeSource for Bar0PpcieMode {
    fn ppcie_mode(&self, device: &PciDevice, kind: DeviceKind) -> Result<Option<PpcieMode>, PpcieModeError> {
        if !has_ppcie(device.vendor, device.device, kind) {
            return Ok(None);
        }
        let (offset, bit) = match kind {
            DeviceKind::Gpu => (HOPPER_STATE_REGISTER, HOPPER_PPCIE_BIT),
            _ => (SWITCH_STATE_REGISTER, SWITCH_PPCIE_BIT),
        };
        let address = device.address;
        let path = self.sysfs.join("bus/pci/devices").join(address.to_string()).join("resource0");
        let value = crate::vfio::read_bar_u32(&path, offset).map_err(|source| PpcieModeError::Io {
            address,
            path: path.clone(),
            offset,
            source,
        })?;
        Ok(Some(mode_from_register(address, offset, value, bit)?))
    }
}

/// The mode a state register's `value` says (`bit` set: on); all ones is no answer.
pub fn mode_from_register(
    address: ccgpu_pci::PciAddress,
    offset: u64,
    value: u32,
    bit: u32,
) -> Result<PpcieMode, PpcieModeError> {
    if value == u32::MAX {
        return Err(PpcieModeError::NoAnswer { address, offset });
    }
    Ok(if value & bit != 0 { PpcieMode::On } else { PpcieMode::Off })
}

/// A whole PPCIe unit: its published name (the first GPU's address, `ppcie-0000-18-00-0`) and members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// The unit's device name.
    pub name: DeviceName,
    /// Its GPUs, by address.
    pub gpus: Vec<DeviceName>,
    /// Its NVSwitches, by address.
    pub switches: Vec<DeviceName>,
}

impl Unit {
    /// GPUs then switches: the devices a claim on the unit prepares, in this order.
    pub fn members(&self) -> Vec<DeviceName> {
        self.gpus.iter().chain(&self.switches).copied().collect()
    }
}

/// What the node offers, from every managed device's PPCIe state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// No device is in PPCIe mode: each device on its own, as in single-GPU CC mode.
    Single,
    /// Every GPU and switch of an 8 + 4 board is in PPCIe mode: one unit, no per-device offers.
    Unit(Unit),
    /// Some device is in PPCIe mode but the board is not a whole unit: nothing of it is offered.
    Mixed(String),
}

/// The layout of a node whose managed devices are in `states` (any order).
pub fn classify<'a>(states: impl IntoIterator<Item = (DeviceName, &'a PpcieState)>) -> Layout {
    let mut all: BTreeMap<DeviceName, &PpcieState> = BTreeMap::new();
    for (name, state) in states {
        if name.kind() != DeviceKind::PpcieSet {
            all.insert(name, state);
        }
    }
    if !all.values().any(|s| s.is_on()) {
        return Layout::Single;
    }
    let of = |kind| all.iter().filter(move |(n, _)| n.kind() == kind);
    let gpus: Vec<DeviceName> = of(DeviceKind::Gpu).map(|(n, _)| *n).collect();
    let switches: Vec<DeviceName> = of(DeviceKind::Nvswitch).map(|(n, _)| *n).collect();
    let mut problems = Vec::new();
    let not_on: Vec<String> = all
        .iter()
        .filter(|(_, s)| !s.is_on())
        .map(|(n, s)| match s {
            PpcieState::Mode(m) => format!("{n} is {m}"),
            PpcieState::Unsupported => format!("{n} has no PPCIe mode"),
            PpcieState::Unreadable(why) => format!("{n} is unreadable ({why})"),
        })
        .collect();
    if !not_on.is_empty() {
        problems.push(format!("not in PPCIe mode: {}", not_on.join(", ")));
    }
    if gpus.len() != UNIT_GPUS || switches.len() != UNIT_SWITCHES {
        problems.push(format!(
            "{} GPUs and {} NVSwitches, a PPCIe unit is {UNIT_GPUS} and {UNIT_SWITCHES}",
            gpus.len(),
            switches.len()
        ));
    }
    if !problems.is_empty() {
        return Layout::Mixed(format!("mixed PPCIe state: {}", problems.join("; ")));
    }
    let name = DeviceName::new(DeviceKind::PpcieSet, gpus[0].address());
    Layout::Unit(Unit { name, gpus, switches })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(i: u8) -> DeviceName {
        DeviceName::new(DeviceKind::Gpu, ccgpu_pci::PciAddress::new(0, 0x18 + i * 0x10, 0, 0).expect("address"))
    }

    fn switch(i: u8) -> DeviceName {
        DeviceName::new(DeviceKind::Nvswitch, ccgpu_pci::PciAddress::new(0, 0xc5 + i, 0, 0).expect("address"))
    }

    fn board(gpus: u8, switches: u8, state: impl Fn(DeviceName) -> PpcieState) -> Vec<(DeviceName, PpcieState)> {
        (0..gpus).map(gpu).chain((0..switches).map(switch)).map(|n| (n, state(n))).collect()
    }

    fn layout(b: &[(DeviceName, PpcieState)]) -> Layout {
        classify(b.iter().map(|(n, s)| (*n, s)))
    }

    const ON: PpcieState = PpcieState::Mode(PpcieMode::On);
    const OFF: PpcieState = PpcieState::Mode(PpcieMode::Off);

    #[test]
    fn a_whole_board_in_ppcie_mode_is_one_unit_named_after_its_first_gpu() {
        let Layout::Unit(unit) = layout(&board(8, 4, |_| ON)) else { panic!("not a unit") };
        assert_eq!(unit.name.to_string(), "ppcie-0000-18-00-0");
        assert_eq!(unit.members().len(), 12);
        assert_eq!(unit.members()[8], switch(0));
    }

    #[test]
    fn a_board_without_ppcie_is_offered_device_by_device() {
        assert_eq!(layout(&board(8, 4, |_| OFF)), Layout::Single);
        assert_eq!(layout(&board(2, 0, |_| PpcieState::Unsupported)), Layout::Single);
        assert_eq!(layout(&[]), Layout::Single);
    }

    #[test]
    fn mixed_boards_are_withheld_with_the_reason() {
        let one_off = board(8, 4, |n| if n == gpu(3) { OFF } else { ON });
        let Layout::Mixed(why) = layout(&one_off) else { panic!("not mixed") };
        assert!(why.contains("gpu-0000-48-00-0 is off"), "{why}");
        let Layout::Mixed(why) = layout(&board(8, 3, |_| ON)) else { panic!("not mixed") };
        assert!(why.contains("8 GPUs and 3 NVSwitches"), "{why}");
        let unreadable = board(8, 4, |n| if n == switch(2) { PpcieState::Unreadable("no answer".into()) } else { ON });
        let Layout::Mixed(why) = layout(&unreadable) else { panic!("not mixed") };
        assert!(why.contains("nvswitch-0000-c7-00-0 is unreadable (no answer)"), "{why}");
        let Layout::Mixed(why) = layout(&board(4, 4, |_| ON)) else { panic!("not mixed") };
        assert!(why.contains("4 GPUs"), "{why}");
    }

    #[test]
    fn the_register_bit_decides_and_all_ones_is_no_answer() {
        let a = ccgpu_pci::PciAddress::new(0, 0x18, 0, 0).expect("address");
        assert_eq!(mode_from_register(a, HOPPER_STATE_REGISTER, 0x21, HOPPER_PPCIE_BIT).ok(), Some(PpcieMode::On));
        assert_eq!(mode_from_register(a, HOPPER_STATE_REGISTER, 0x01, HOPPER_PPCIE_BIT).ok(), Some(PpcieMode::Off));
        assert!(matches!(
            mode_from_register(a, SWITCH_STATE_REGISTER, u32::MAX, SWITCH_PPCIE_BIT),
            Err(PpcieModeError::NoAnswer { .. })
        ));
        assert!(has_ppcie(NVIDIA_VENDOR, 0x2335, DeviceKind::Gpu));
        assert!(has_ppcie(NVIDIA_VENDOR, 0x22a3, DeviceKind::Nvswitch));
        assert!(!has_ppcie(NVIDIA_VENDOR, 0x2901, DeviceKind::Gpu), "Blackwell has no PPCIe mode");
    }
}
