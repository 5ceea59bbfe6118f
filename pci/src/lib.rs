//! PCI addresses, the [`PciBus`] trait and its two implementations, shared by the host shim and the guest
//! agent.
//!
//! - [`address`]: the typed PCI address (`DDDD:BB:DD.F`). Every device name that arrives from outside is
//!   parsed into a [`PciAddress`] before it is allowed anywhere near a path.
//! - [`ids`]: small validated newtypes (driver names, IOMMU groups, class codes).
//! - [`bus`]: the narrow trait in front of the kernel's PCI driver core: read what a function is and who
//!   drives it, and make the writes the kernel understands (`driver_override`, `unbind`, `drivers_probe`,
//!   `bind`, `remove_id`).
//! - [`sysfs`]: the real implementation over a sysfs root given as a path (normally `/sys`).
//! - [`sim`]: a simulated bus that keeps a model of functions, drivers and IOMMU groups and reacts to the
//!   same writes the way the kernel does, with injectable faults. It backs tests, benchmarks and the
//!   plugin's explicit `--simulate` mode; nothing selects it implicitly.
//!
//! Nothing here knows about claims, CDI or checkpoints: those are host concepts and live in
//! `ccgpu-host-shim`.

pub mod address;
pub mod bus;
pub mod ids;
pub mod sim;
pub mod sysfs;

pub use address::{AddressError, PciAddress};
pub use bus::{PciBus, PciDevice, PciError, Sriov};
pub use ids::{ClassCode, DriverName, DriverNameError, IommuGroup};
pub use sim::SimBus;
pub use sysfs::SysfsBus;
