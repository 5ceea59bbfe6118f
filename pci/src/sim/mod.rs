//! SIMULATION (feature `sim`): [`SimBus`], a simulated PCI driver core that reacts to writes the way the Linux kernel does.
//!
//! It keeps a model of functions, registered drivers (with their static id tables and dynamic ids) and
//! IOMMU groups, and applies the kernel's rules on every write:
//!
//! - `driver_override` only records the override; binding is unchanged until a probe.
//! - `unbind` detaches the driver (`ENOENT` when none is bound, as the `driver/unbind` file is absent).
//! - `drivers_probe` attaches the first matching driver in registration order; with an override, only
//!   the named driver matches, whatever its id table says. A failing probe leaves the function unbound
//!   and the write still succeeds, as in the kernel.
//! - `bind` attaches one named driver (`EBUSY` when bound, `ENODEV` when it does not match or its probe
//!   fails).
//! - `remove_id` drops a dynamic id (`ENODEV` when the driver has no such id).
//! - a function bound to a VFIO driver gets a `vfioN` cdev when the model has cdev support.
//!
//! Faults can be injected ([`SimFault`]): `EBUSY` on unbind, a probe that leaves the function unbound, a
//! write that fails with any errno, a new function that appears in an IOMMU group after some writes.
//! Every write is logged ([`SimBus::writes`]) so tests can assert what was touched.
//!
//! This is a model, not a mock: it is used by tests, benchmarks and an explicit `--simulate` mode, never
//! chosen implicitly.

//!
//! Also here: [`FakeSysfs`], a sysfs tree laid out like the kernel's in a temporary directory, for tests
//! of the real [`crate::SysfsBus`] and of code that reads sysfs through it.

mod bus;
mod fake_sysfs;
mod fault;
mod function;

pub use bus::SimBus;
pub use fake_sysfs::FakeSysfs;
pub use fault::{SimFault, SimOp, SimWrite};
pub use function::{IdMatch, SimFunction};
