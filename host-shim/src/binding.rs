//! Moving one function to vfio-pci and back, the way the kernel wants it, with bounded waits.
//!
//! To vfio-pci: `driver_override = vfio-pci`, unbind from the current driver, `drivers_probe`, then wait
//! until the function shows up on a VFIO driver. Back: unbind, `driver_override = <original driver>`
//! (so that only that driver can take it, whatever dynamic ids vfio-pci carries), `drivers_probe`, wait,
//! then restore the original `driver_override`. A function that started on a VFIO driver (pre-bound with
//! `vfio-pci.ids=`) is never moved either way. Both directions are idempotent: each step is taken only
//! when the state read back says it is needed, so a retry after a crash continues where it stopped.
//!
//! Every write goes through [`BoundedWrites`]: on a helper thread, bounded by the write budget and the
//! claim's deadline, so a driver that never returns fails the claim instead of hanging it.
//!
//! We never use `new_id`/`remove_id`: they change a driver for every matching device on the node.

use std::time::Duration;

use ccgpu_pci::{DriverName, PciAddress, PciError};

use crate::checkpoint::DeviceRecord;
use crate::config::Budgets;
use crate::deadline::Deadline;
use crate::effects::{Effects, Interrupted, Step};
use crate::sysfs_write::{BoundedWrites, WriteError};

/// A failed move, with the function.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A sysfs write failed (EBUSY on unbind, ENODEV, …) or did not return in time.
    #[error("{step} of {address}")]
    Write {
        /// The function.
        address: PciAddress,
        /// Which write.
        step: &'static str,
        /// Why.
        #[source]
        source: WriteError,
    },
    /// Reading the function's state failed.
    #[error("reading the state of {address}")]
    Read {
        /// The function.
        address: PciAddress,
        /// The bus error.
        #[source]
        source: PciError,
    },
    /// The probe left the function without a driver for the whole wait.
    #[error("{address} is still unbound {waited:?} after drivers_probe (expected {expected})")]
    ProbeLeftUnbound {
        /// The function.
        address: PciAddress,
        /// The driver we waited for.
        expected: DriverName,
        /// How long we waited.
        waited: Duration,
    },
    /// The probe bound another driver.
    #[error("{address} was bound to {found} instead of {expected}")]
    BoundToOther {
        /// The function.
        address: PciAddress,
        /// The driver we wanted.
        expected: DriverName,
        /// The driver that took it.
        found: DriverName,
    },
    /// A step was stopped by the step hook.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

fn read<T>(address: PciAddress, r: Result<T, PciError>) -> Result<T, BindError> {
    r.map_err(|source| BindError::Read { address, source })
}

fn write(address: PciAddress, step: &'static str, r: Result<(), WriteError>) -> Result<(), BindError> {
    r.map_err(|source| BindError::Write { address, step, source })
}

/// The least a write is waited for, even at the deadline: a write the kernel finishes at once must not
/// be reported as hanging (and left pending) only because the deadline is near.
const MIN_WRITE_WAIT: Duration = Duration::from_millis(50);

/// How long one write may take: its budget, not past the deadline (but at least [`MIN_WRITE_WAIT`]).
fn limit(deadline: Deadline, budgets: &Budgets) -> Duration {
    budgets.sysfs_write.min(deadline.remaining()).max(MIN_WRITE_WAIT)
}

/// Unbinds, tolerating a function that lost its driver in the meantime (the write then fails with
/// ENOENT because `driver/unbind` is gone).
fn unbind(
    writes: &BoundedWrites,
    effects: &Effects,
    address: PciAddress,
    deadline: Deadline,
    budgets: &Budgets,
) -> Result<(), BindError> {
    effects.step(Step::Unbind(address))?;
    match writes.unbind(address, limit(deadline, budgets)) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && read(address, writes.bus().driver(address))?.is_none() => {
            Ok(())
        }
        Err(source) => Err(BindError::Write { address, step: "unbind", source }),
    }
}

fn set_override(
    writes: &BoundedWrites,
    effects: &Effects,
    address: PciAddress,
    want: Option<&DriverName>,
    deadline: Deadline,
    budgets: &Budgets,
) -> Result<(), BindError> {
    if read(address, writes.bus().driver_override(address))?.as_ref() == want {
        return Ok(());
    }
    effects.step(Step::SetOverride(address))?;
    write(address, "driver_override", writes.set_driver_override(address, want, limit(deadline, budgets)))
}

/// Probes and waits until `accept` says the bound driver is the one we want.
fn probe_and_wait(
    writes: &BoundedWrites,
    effects: &Effects,
    address: PciAddress,
    expected: &DriverName,
    accept: impl Fn(&DriverName) -> bool,
    deadline: Deadline,
    budgets: &Budgets,
) -> Result<(), BindError> {
    effects.step(Step::Probe(address))?;
    write(address, "drivers_probe", writes.probe(address, limit(deadline, budgets)))?;
    let bus = writes.bus();
    let waited = deadline.poll_until(budgets.driver_switch, budgets.poll, || match bus.driver(address) {
        Ok(Some(d)) if accept(&d) => Ok(Some(())),
        Ok(Some(found)) => Err(BindError::BoundToOther { address, expected: expected.clone(), found }),
        Ok(None) => Ok(None),
        Err(source) => Err(BindError::Read { address, source }),
    })?;
    waited.map_err(|t| BindError::ProbeLeftUnbound { address, expected: expected.clone(), waited: t.waited })
}

/// Moves one function to vfio-pci (no-op when it is on a VFIO driver already).
pub fn move_to_vfio(
    writes: &BoundedWrites,
    effects: &Effects,
    address: PciAddress,
    deadline: Deadline,
    budgets: &Budgets,
) -> Result<(), BindError> {
    let current = read(address, writes.bus().driver(address))?;
    if current.as_ref().is_some_and(DriverName::is_vfio) {
        return Ok(());
    }
    let vfio = DriverName::vfio_pci();
    set_override(writes, effects, address, Some(&vfio), deadline, budgets)?;
    if current.is_some() {
        unbind(writes, effects, address, deadline, budgets)?;
    }
    tracing::debug!(bdf = %address, from = ?current, "probing for vfio-pci");
    probe_and_wait(writes, effects, address, &vfio, DriverName::is_vfio, deadline, budgets)
}

/// Puts one function back on its original driver and `driver_override` (no-op when it is there).
pub fn restore(
    writes: &BoundedWrites,
    effects: &Effects,
    record: &DeviceRecord,
    deadline: Deadline,
    budgets: &Budgets,
) -> Result<(), BindError> {
    let address = record.address;
    let current = match writes.bus().driver(address) {
        Ok(c) => c,
        // Hot-unplugged while claimed: nothing left to restore.
        Err(PciError::NoSuchDevice { .. }) => return Ok(()),
        Err(source) => return Err(BindError::Read { address, source }),
    };
    if current != record.original_driver {
        if current.is_some() {
            unbind(writes, effects, address, deadline, budgets)?;
        }
        if let Some(original) = &record.original_driver {
            set_override(writes, effects, address, Some(original), deadline, budgets)?;
            tracing::debug!(bdf = %address, to = %original, "probing for the original driver");
            probe_and_wait(writes, effects, address, original, |d| d == original, deadline, budgets)?;
        }
    }
    set_override(writes, effects, address, record.original_override.as_ref(), deadline, budgets)
}
