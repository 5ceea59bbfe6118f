//! PCI addresses, the [`PciBus`] trait and its two implementations, shared by the host shim and the guest
//! agent.
//!
//! - [`PciAddress`]: the typed PCI address (`DDDD:BB:DD.F`). Every device name that arrives from outside
//!   is parsed into one before it is allowed anywhere near a path.
//! - [`ids`]: NVIDIA's vendor id and the PCI classes ccgpu manages, in one place; small validated
//!   newtypes (driver names, IOMMU groups, class codes).
//! - [`PciBus`]: the narrow trait in front of the kernel's PCI driver core: read what a function is and
//!   who drives it, and make the writes the kernel understands (`driver_override`, `unbind`,
//!   `drivers_probe`, `bind`, `remove_id`).
//! - [`SysfsBus`]: the real implementation over a sysfs root given as a path (normally `/sys`).
//! - `sim` (feature `sim`, off by default): a simulated bus that keeps a model of functions, drivers and
//!   IOMMU groups and reacts to the same writes the way the kernel does, with injectable faults, and a
//!   fake sysfs tree for the real reader. It backs tests, benchmarks and the explicit `--simulate` modes;
//!   nothing selects it implicitly and production builds do not contain it.
//!
//! Nothing here knows about claims, CDI or checkpoints: those are host concepts and live in
//! `ccgpu-host-shim`.

#![deny(missing_docs)]

mod address;
mod bus;
pub mod ids;
#[cfg(feature = "sim")]
pub mod sim;
mod sysfs;

pub use address::{AddressError, PciAddress};
pub use bus::{PciBus, PciDevice, PciError, Sriov};
pub use ids::{ClassCode, DriverName, DriverNameError, IommuGroup};
pub use sysfs::SysfsBus;
