//! Faults the simulated kernel can be told to produce, and the record of every write it received.

use super::function::SimFunction;
use crate::address::PciAddress;

/// A fault to inject into the simulated kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// The next `times` unbinds of `address` fail with `EBUSY`.
    UnbindBusy {
        /// Function.
        address: PciAddress,
        /// How many unbinds fail.
        times: u32,
    },
    /// The next `times` probes of `address` (by any driver) fail, leaving it unbound.
    ProbeFails {
        /// Function.
        address: PciAddress,
        /// How many probes fail.
        times: u32,
    },
    /// The next `times` writes of kind `op` concerning `address` fail with `errno`.
    WriteFails {
        /// Function.
        address: PciAddress,
        /// Which write.
        op: SimOp,
        /// The error number returned.
        errno: i32,
        /// How many writes fail.
        times: u32,
    },
    /// After `after_writes` more writes (of any kind), `function` appears (hot-plug) — typically in an
    /// IOMMU group someone is binding: the group changes under them.
    FunctionAppears {
        /// Writes to let through first.
        after_writes: u32,
        /// The new function.
        function: SimFunction,
    },
}

/// The kinds of write the bus accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimOp {
    /// `driver_override`.
    DriverOverride,
    /// `driver/unbind`.
    Unbind,
    /// `drivers_probe`.
    Probe,
    /// `drivers/<d>/bind`.
    Bind,
    /// `drivers/<d>/remove_id`.
    RemoveId,
}

/// One write the simulated kernel received (whether or not it succeeded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimWrite {
    /// Which write.
    pub op: SimOp,
    /// The function concerned (`None` for `remove_id`).
    pub address: Option<PciAddress>,
    /// The value written (driver name, or `vendor device` for `remove_id`).
    pub value: String,
    /// The errno it failed with, if it did.
    pub errno: Option<i32>,
}
