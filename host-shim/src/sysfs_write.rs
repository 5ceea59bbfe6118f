//! [`BoundedWrites`]: the sysfs writes that move a function between drivers, each performed on a helper
//! thread and waited for with a time limit.
//!
//! `driver/unbind` and `drivers_probe` run a driver's remove or probe callback inside the write, and
//! `driver_override` takes the device lock such a callback holds; a driver that does not return (the
//! NVIDIA driver waiting for a handle to close, a wedged device) would block the writer forever. So each
//! write runs on a helper thread and the caller waits at most its limit (helpers are kept for reuse, a
//! few at a time, so a write costs two channel hand-overs rather than a thread). What cannot be bounded: a write
//! that timed out goes on in the kernel, and its thread with it, until the driver returns; nothing in
//! user space can cancel it. While it is pending, a further write to that function waits for it (within
//! its own limit) and then fails instead of piling up more blocked threads; the claim that needed it fails with its record kept, and the next
//! call for it (or recovery at restart) finishes the job once the kernel lets go.
//!
//! Reads (`driver`, `driver_override`, `describe`) are not run this way: they take no device lock.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ccgpu_pci::{DriverName, PciAddress, PciBus, PciError};

/// Which write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `driver_override`.
    DriverOverride,
    /// `driver/unbind`.
    Unbind,
    /// `drivers_probe`.
    Probe,
}

impl Write {
    /// Its sysfs name.
    pub fn as_str(self) -> &'static str {
        match self {
            Write::DriverOverride => "driver_override",
            Write::Unbind => "unbind",
            Write::Probe => "drivers_probe",
        }
    }
}

/// A bounded write that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The kernel refused the write (EBUSY, ENODEV, …).
    #[error(transparent)]
    Refused(#[from] PciError),
    /// The write did not return within its limit; it is still pending in the kernel.
    #[error("did not return within {} ms: the driver is still inside it, the write stays pending", waited.as_millis())]
    TimedOut {
        /// How long we waited.
        waited: Duration,
    },
    /// An earlier write to the function has not returned yet.
    #[error("an earlier {} to this function has not returned yet", pending.as_str())]
    Pending {
        /// The earlier write.
        pending: Write,
    },
    /// No helper thread could be started.
    #[error("starting a helper thread")]
    Helper(#[source] io::Error),
}

impl WriteError {
    /// The OS error number when the kernel refused the write.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            WriteError::Refused(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

/// The bus, with its driver-moving writes bounded (see the module documentation).
#[derive(Debug, Clone)]
pub struct BoundedWrites {
    bus: Arc<dyn PciBus>,
    /// Functions with a write still in the kernel, and which write.
    pending: Arc<Pending>,
}

/// The functions with a write in flight, and a signal when one returns.
#[derive(Debug, Default)]
struct Pending {
    writes: Mutex<BTreeMap<PciAddress, Write>>,
    returned: Condvar,
}

impl BoundedWrites {
    /// Writes through `bus`.
    pub fn new(bus: Arc<dyn PciBus>) -> Self {
        Self { bus, pending: Arc::default() }
    }

    /// The bus, for reads.
    pub fn bus(&self) -> &dyn PciBus {
        self.bus.as_ref()
    }

    /// Writes `driver` (or clears it) to `address`'s `driver_override`, waiting at most `limit`.
    pub fn set_driver_override(
        &self,
        address: PciAddress,
        driver: Option<&DriverName>,
        limit: Duration,
    ) -> Result<(), WriteError> {
        let driver = driver.cloned();
        self.run(address, Write::DriverOverride, limit, move |bus| bus.set_driver_override(address, driver.as_ref()))
    }

    /// Unbinds `address` from its driver, waiting at most `limit`.
    pub fn unbind(&self, address: PciAddress, limit: Duration) -> Result<(), WriteError> {
        self.run(address, Write::Unbind, limit, move |bus| bus.unbind(address))
    }

    /// Writes `address` to `drivers_probe`, waiting at most `limit`.
    pub fn probe(&self, address: PciAddress, limit: Duration) -> Result<(), WriteError> {
        self.run(address, Write::Probe, limit, move |bus| bus.probe(address))
    }

    /// Functions with a write still pending in the kernel.
    pub fn pending(&self) -> Vec<(PciAddress, Write)> {
        lock(&self.pending.writes).iter().map(|(a, w)| (*a, *w)).collect()
    }

    fn run(
        &self,
        address: PciAddress,
        write: Write,
        limit: Duration,
        op: impl FnOnce(&dyn PciBus) -> Result<(), PciError> + Send + 'static,
    ) -> Result<(), WriteError> {
        let start = Instant::now();
        {
            // An earlier write to the function (one that timed out) may still return within our limit.
            let mut writes = lock(&self.pending.writes);
            while let Some(earlier) = writes.get(&address).copied() {
                let left = limit.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(WriteError::Pending { pending: earlier });
                }
                writes = self.pending.returned.wait_timeout(writes, left).unwrap_or_else(PoisonError::into_inner).0;
            }
            writes.insert(address, write);
        }
        let (done, result) = mpsc::sync_channel(1);
        let bus = self.bus.clone();
        let clear = Clear { pending: self.pending.clone(), address };
        let job: Job = Box::new(move || {
            let r = op(bus.as_ref());
            // Cleared before the result is sent (a caller that got the result finds the function free),
            // and by unwinding if the bus panicked.
            drop(clear);
            // The caller may have stopped waiting; then nobody wants the result.
            let _ = done.send(r);
        });
        // On failure the job, and the `Clear` in it, is dropped: the function is free again.
        helpers().run(job).map_err(WriteError::Helper)?;
        match result.recv_timeout(limit.saturating_sub(start.elapsed())) {
            Ok(r) => r.map_err(WriteError::Refused),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::error!(bdf = %address, write = write.as_str(), waited_ms = start.elapsed().as_millis(),
                    "sysfs write did not return in time; it stays pending in the kernel");
                Err(WriteError::TimedOut { waited: start.elapsed() })
            }
            // The helper died without sending: it panicked inside the bus (a bug in a bus implementation).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(WriteError::Helper(io::Error::other("the helper thread died")))
            }
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Idle helper threads kept for the next write; more are started when all are busy (or stuck).
const IDLE_HELPERS: usize = 8;

/// The process's helper threads: each idle one waits on its own channel for a job.
#[derive(Debug, Default)]
struct Helpers {
    idle: Mutex<Vec<mpsc::SyncSender<Job>>>,
}

fn helpers() -> &'static Helpers {
    static HELPERS: OnceLock<Helpers> = OnceLock::new();
    HELPERS.get_or_init(Helpers::default)
}

impl Helpers {
    /// Hands `job` to an idle helper, or to a new one.
    fn run(&'static self, mut job: Job) -> io::Result<()> {
        loop {
            let Some(helper) = lock(&self.idle).pop() else { break };
            match helper.send(job) {
                Ok(()) => return Ok(()),
                // That helper is gone (it panicked in a job): try the next.
                Err(mpsc::SendError(back)) => job = back,
            }
        }
        thread::Builder::new().name("ccgpu-sysfs-write".into()).spawn(move || self.serve(job)).map(drop)
    }

    /// A helper's life: run the job, offer itself for the next, or leave when enough are idle.
    fn serve(&'static self, mut job: Job) {
        loop {
            job();
            let (offer, next) = mpsc::sync_channel(1);
            {
                let mut idle = lock(&self.idle);
                if idle.len() >= IDLE_HELPERS {
                    return;
                }
                idle.push(offer);
            }
            match next.recv() {
                Ok(j) => job = j,
                Err(mpsc::RecvError) => return,
            }
        }
    }
}

/// Marks a function free again when dropped.
struct Clear {
    pending: Arc<Pending>,
    address: PciAddress,
}

impl Drop for Clear {
    fn drop(&mut self) {
        lock(&self.pending.writes).remove(&self.address);
        self.pending.returned.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
