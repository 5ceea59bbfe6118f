//! The list of durable side effects the node layer makes, and a hook that sees each one before it
//! happens.
//!
//! Prepare and unprepare are sequences of steps that change the machine or the disk: sysfs writes,
//! checkpoint writes and removals, CDI writes and removals. Each goes through [`Effects::step`] first,
//! which logs it and asks the [`StepHook`]. The production hook ([`NoHook`]) lets everything through;
//! the crash-consistency tests use hooks that stop the world after step N (as if the process were
//! killed there) or fail one step, and then check that a restarted node ends consistent.

use std::fmt;
use std::sync::Arc;

use ccgpu_pci::PciAddress;

use crate::names::ClaimUid;

/// One durable side effect, named before it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A write to `driver_override`.
    SetOverride(PciAddress),
    /// A write to `driver/unbind`.
    Unbind(PciAddress),
    /// A write to `drivers_probe`.
    Probe(PciAddress),
    /// A write of a claim's checkpoint record.
    SaveCheckpoint(&'a ClaimUid),
    /// Removal of a claim's checkpoint record.
    RemoveCheckpoint(&'a ClaimUid),
    /// A write of a claim's CDI spec.
    WriteCdi(&'a ClaimUid),
    /// Removal of a CDI spec.
    RemoveCdi(&'a str),
}

impl fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SetOverride(a) => write!(f, "driver_override {a}"),
            Step::Unbind(a) => write!(f, "unbind {a}"),
            Step::Probe(a) => write!(f, "drivers_probe {a}"),
            Step::SaveCheckpoint(c) => write!(f, "save checkpoint {c}"),
            Step::RemoveCheckpoint(c) => write!(f, "remove checkpoint {c}"),
            Step::WriteCdi(c) => write!(f, "write CDI spec {c}"),
            Step::RemoveCdi(file) => write!(f, "remove CDI spec {file}"),
        }
    }
}

/// A step the hook refused: the operation stops there, as if the process had died or the step failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("step {step} was interrupted")]
pub struct Interrupted {
    /// The step, rendered.
    pub step: String,
}

/// Sees every durable step before it happens and may stop it.
pub trait StepHook: Send + Sync + fmt::Debug {
    /// `Err` stops the step (and, for a simulated crash, every later one).
    fn before(&self, step: &Step<'_>) -> Result<(), Interrupted>;
}

/// The production hook: every step goes ahead.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl StepHook for NoHook {
    fn before(&self, _step: &Step<'_>) -> Result<(), Interrupted> {
        Ok(())
    }
}

/// The gate every durable step passes through.
#[derive(Debug, Clone)]
pub struct Effects {
    hook: Arc<dyn StepHook>,
}

impl Effects {
    /// Effects gated by `hook`.
    pub fn new(hook: Arc<dyn StepHook>) -> Self {
        Self { hook }
    }

    /// Announces `step`; `Err` means it must not happen.
    pub fn step(&self, step: Step<'_>) -> Result<(), Interrupted> {
        tracing::debug!(%step, "step");
        self.hook.before(&step)
    }
}

impl Default for Effects {
    fn default() -> Self {
        Self::new(Arc::new(NoHook))
    }
}
