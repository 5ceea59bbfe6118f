//! [`SimGpus`]: simulated NVIDIA GPUs behind [`GpuManagement`], with their own device PKI.
//!
//! Every simulated GPU answers an attestation-report request with a real SPDM 1.1 GET_MEASUREMENTS +
//! MEASUREMENTS report in NVIDIA's layout for the nonce it was given, signed by the attestation key of a
//! simulated 5-certificate device chain (root → … → attestation certificate carrying the report's FWID),
//! and the RIM store ([`SimRims`]) holds driver and VBIOS RIMs signed by a simulated RIM PKI whose golden
//! values match the measurements. So the whole verification path — signatures included — runs without
//! hardware. The simulated roots ([`SimGpuModel::anchors`]) verify only when a caller passes them.
//!
//! Faults ([`GpuFault`]) are persistent until cleared and target one GPU or all: NVML errors per call,
//! CC off, dev-tools on, a report for another nonce, a report signed by a foreign key, a measurement that
//! matches no RIM, a GPU NVML does not list, a ready state that does not stick.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ccgpu_attestation::{
    Anchors, AttestationReport, CertChain, implied_rim_ids,
    sim::{
        DevicePki, GoldenSpec, OpaqueBuilder, Pki, RECORDED_H200, ReportBuilder, RimPki, SimError, SimFirmware,
        rim_document, sign_rim,
    },
};
use ccgpu_pci::PciAddress;
use nvml_wrapper::error::NvmlError;

use crate::gpu::{CcSettings, GpuBackend, GpuError, GpuInfo, GpuManagement, RimError, RimSource};

/// Chip family of the simulated GPUs.
pub const SIM_CHIP: &str = "GH100";
/// Firmware the simulated GPUs run: the versions a real H200 reported (see [`RECORDED_H200`]).
pub const SIM_FIRMWARE: SimFirmware = RECORDED_H200;
/// Driver version the simulated GPUs report.
pub const SIM_DRIVER: &str = SIM_FIRMWARE.driver;
/// Measurement blocks per report.
const BLOCKS: u8 = 8;
/// Golden indexes below this come from the driver RIM, the rest from the VBIOS RIM.
const DRIVER_BLOCKS: usize = 4;

/// The NVML call a fault makes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvmlCall {
    /// Listing GPUs.
    List,
    /// UUID and versions.
    Info,
    /// CC settings.
    CcSettings,
    /// The attestation report.
    Report,
    /// The certificate chain.
    Certificate,
    /// Reading the ready state.
    Ready,
    /// Setting the ready state.
    SetReady,
}

/// An injected GPU fault. `gpu: None` targets every GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuFault {
    /// NVML cannot be initialised at all.
    Init,
    /// An NVML call fails with `error`.
    Nvml {
        /// The call.
        call: NvmlCall,
        /// The GPU, or every GPU.
        gpu: Option<PciAddress>,
        /// NVML's error.
        error: NvmlErrorKind,
    },
    /// CC mode is off. As on a real H200 with driver 580.159.04 (recorded 2026-12-04), the CC settings
    /// read as all off, the ready state reads as not ready, and NVML refuses the attestation report and
    /// the certificate chain with `NVML_ERROR_UNKNOWN` (999) — not `NOT_SUPPORTED`.
    CcOff(Option<PciAddress>),
    /// CC dev-tools mode is on.
    DevTools(Option<PciAddress>),
    /// The report is for another nonce than the one asked.
    WrongNonce(Option<PciAddress>),
    /// The report is signed by a key that is not the attestation certificate's.
    ForeignKey(Option<PciAddress>),
    /// One measurement differs from the RIMs' golden value (the GPU runs other firmware).
    RimMismatch(Option<PciAddress>),
    /// NVML does not list this GPU.
    Missing(PciAddress),
    /// Setting the ready state succeeds but it reads back as not set.
    ReadyDoesNotStick,
}

/// NVML error kinds a fault can return (NVML's own error type is not `Clone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvmlErrorKind {
    /// `NVML_ERROR_GPU_IS_LOST`.
    GpuLost,
    /// `NVML_ERROR_UNKNOWN`.
    Unknown,
    /// `NVML_ERROR_NOT_SUPPORTED`.
    NotSupported,
    /// `NVML_ERROR_TIMEOUT`.
    Timeout,
}

impl NvmlErrorKind {
    fn error(self) -> NvmlError {
        match self {
            Self::GpuLost => NvmlError::GpuLost,
            Self::Unknown => NvmlError::Unknown,
            Self::NotSupported => NvmlError::NotSupported,
            Self::Timeout => NvmlError::Timeout,
        }
    }
}

fn targets(target: Option<PciAddress>, gpu: PciAddress) -> bool {
    target.is_none_or(|t| t == gpu)
}

/// Most simulated GPUs one model serves (each has its own device certificate and attestation key).
pub const MAX_SIM_GPUS: usize = 16;

/// The PKIs and firmware every simulated GPU shares: one vendor PKI (each GPU with its own device
/// certificate and attestation key under it, as real GPUs have), one RIM PKI and one firmware.
pub struct SimGpuModel {
    devices: Vec<Pki>,
    foreign: Pki,
    rim_pki: Pki,
    fwid: [u8; 48],
    measurements: Vec<Vec<u8>>,
    vbios_version: String,
    rims: SimRims,
}

impl fmt::Debug for SimGpuModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimGpuModel").field("chip", &SIM_CHIP).finish_non_exhaustive()
    }
}

impl SimGpuModel {
    /// Fresh simulated device and RIM PKIs, firmware measurements and matching signed RIMs.
    pub fn generate() -> Result<Self, SimError> {
        let fwid = [0x5a; 48];
        let devices = DevicePki::generate_fleet(SIM_CHIP, &fwid, MAX_SIM_GPUS)?;
        let foreign = DevicePki::generate(SIM_CHIP, &fwid)?;
        let rim_pki = RimPki::generate()?;
        let measurements: Vec<Vec<u8>> =
            (0..BLOCKS).map(|i| ccgpu_attestation::sha384(&[b's', b'i', b'm', i]).to_vec()).collect();
        let mut model = Self {
            devices,
            foreign,
            rim_pki,
            fwid,
            measurements,
            vbios_version: String::new(),
            rims: SimRims::default(),
        };
        let sample = model.builder(&[0; 32]).sign(model.device(0))?;
        let parsed = AttestationReport::parse(&sample).map_err(|e| SimError::Chain(e.to_string()))?;
        let ids = implied_rim_ids(&parsed, &model.device(0).chain)
            .ok_or_else(|| SimError::Chain("the simulated report implies no RIM ids".into()))?;
        let vbios_version = parsed.opaque().vbios_version.map(|v| v.dotted_upper()).unwrap_or_default();
        model.vbios_version.clone_from(&vbios_version);
        let golden = |range: std::ops::Range<usize>| -> Vec<GoldenSpec> {
            range
                .map(|i| GoldenSpec { index: i, active: true, alternatives: vec![model.measurements[i].clone()] })
                .collect()
        };
        let driver = sign_rim(&rim_document(SIM_CHIP, SIM_DRIVER, &golden(0..DRIVER_BLOCKS)), &model.rim_pki)?;
        let vbios = sign_rim(
            &rim_document(SIM_CHIP, &vbios_version, &golden(DRIVER_BLOCKS..usize::from(BLOCKS))),
            &model.rim_pki,
        )?;
        let mut map = BTreeMap::new();
        if let (Some(d), Some(v)) = (ids.driver, ids.vbios) {
            map.insert(d, driver.into_bytes());
            map.insert(v, vbios.into_bytes());
        }
        model.rims = SimRims(Arc::new(map));
        Ok(model)
    }

    /// The anchors that trust this simulation's device and RIM roots (and nothing else).
    pub fn anchors(&self) -> Anchors {
        Anchors { device: self.device(0).anchor.clone(), rim: self.rim_pki.anchor.clone() }
    }

    /// The device identity of simulated GPU number `index` (GPUs beyond [`MAX_SIM_GPUS`] reuse the last one,
    /// which the verifier refuses as one GPU counted twice).
    fn device(&self, index: usize) -> &Pki {
        &self.devices[index.min(self.devices.len() - 1)]
    }

    /// `good` OCSP responses (DER) for every certificate below the root of the first `gpus` simulated
    /// GPUs' device chains and of the RIM signing chain, produced at `at` and valid for a day, each signed
    /// by a delegated responder of its simulated PKI: what a relying party's OCSP source would hold.
    pub fn ocsp_responses(&self, gpus: usize, at: time::OffsetDateTime) -> Result<Vec<Vec<u8>>, SimError> {
        use ccgpu_attestation::sim::{SimStatus, ocsp_response};
        let day = time::Duration::days(1);
        let mut out = Vec::new();
        for pki in self.devices.iter().take(gpus).chain(std::iter::once(&self.rim_pki)) {
            for position in 0..pki.chain.len().saturating_sub(1) {
                out.push(ocsp_response(pki, position, SimStatus::Good, at, at - day, Some(at + day), true)?);
            }
        }
        Ok(out)
    }

    /// The RIM store.
    pub fn rims(&self) -> SimRims {
        self.rims.clone()
    }

    fn builder(&self, nonce: &[u8; 32]) -> ReportBuilder {
        ReportBuilder {
            nonce: *nonce,
            measurements: self.measurements.clone(),
            responder_nonce: [0x3c; 32],
            opaque: OpaqueBuilder::hopper_with(&SIM_FIRMWARE, &self.fwid),
        }
    }
}

/// The simulated RIMs, by RIM id.
#[derive(Debug, Clone, Default)]
pub struct SimRims(Arc<BTreeMap<String, Vec<u8>>>);

impl SimRims {
    /// Every RIM: its id and the signed document.
    pub fn documents(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(id, doc)| (id.as_str(), doc.as_slice()))
    }
}

impl RimSource for SimRims {
    fn rim(&self, id: &str) -> Result<Option<Vec<u8>>, RimError> {
        Ok(self.0.get(id).cloned())
    }
}

#[derive(Debug, Default)]
struct SimState {
    ready: bool,
    set_ready_calls: Vec<bool>,
    report_calls: usize,
    faults: Vec<GpuFault>,
}

/// Simulated GPUs.
#[derive(Debug)]
pub struct SimGpus {
    model: Arc<SimGpuModel>,
    gpus: Vec<(PciAddress, String)>,
    state: Mutex<SimState>,
}

impl SimGpus {
    /// GPUs at `addresses` sharing `model`.
    pub fn new(model: Arc<SimGpuModel>, addresses: &[PciAddress]) -> Self {
        let gpus =
            addresses.iter().enumerate().map(|(i, a)| (*a, format!("GPU-5a5a5a5a-0000-4000-8000-{i:012x}"))).collect();
        Self { model, gpus, state: Mutex::new(SimState::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Injects a fault.
    pub fn inject(&self, fault: GpuFault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every `set_ready` call, in order.
    pub fn set_ready_calls(&self) -> Vec<bool> {
        self.lock().set_ready_calls.clone()
    }

    /// The ready state now.
    pub fn is_ready(&self) -> bool {
        self.lock().ready
    }

    /// Forces the ready state (as if something else had set it).
    pub fn force_ready(&self, ready: bool) {
        self.lock().ready = ready;
    }

    /// How many attestation reports were produced.
    pub fn report_calls(&self) -> usize {
        self.lock().report_calls
    }

    fn has(&self, pick: impl Fn(&GpuFault) -> bool) -> bool {
        self.lock().faults.iter().any(pick)
    }

    fn nvml_fault(&self, call: NvmlCall, gpu: Option<PciAddress>) -> Result<(), GpuError> {
        let found = self.lock().faults.iter().find_map(|f| match f {
            GpuFault::Nvml { call: c, gpu: target, error } if *c == call && (target.is_none() || *target == gpu) => {
                Some(*error)
            }
            _ => None,
        });
        match found {
            Some(kind) => Err(GpuError::Nvml { operation: call_name(call), gpu, source: kind.error() }),
            None => Ok(()),
        }
    }

    /// What a real driver answers evidence requests with while CC is off.
    fn cc_off_refuses(&self, call: NvmlCall, gpu: PciAddress) -> Result<(), GpuError> {
        if self.has(|f| matches!(f, GpuFault::CcOff(t) if targets(*t, gpu))) {
            return Err(GpuError::Nvml { operation: call_name(call), gpu: Some(gpu), source: NvmlError::Unknown });
        }
        Ok(())
    }

    /// The GPU's position in this machine, which selects its device identity.
    fn index(&self, gpu: PciAddress) -> usize {
        self.gpus.iter().position(|(a, _)| *a == gpu).unwrap_or(0)
    }

    fn known(&self, gpu: PciAddress) -> Result<&str, GpuError> {
        if self.has(|f| *f == GpuFault::Missing(gpu)) {
            return Err(GpuError::NotFound(gpu));
        }
        self.gpus.iter().find(|(a, _)| *a == gpu).map(|(_, u)| u.as_str()).ok_or(GpuError::NotFound(gpu))
    }
}

fn call_name(call: NvmlCall) -> &'static str {
    match call {
        NvmlCall::List => "device count",
        NvmlCall::Info => "UUID",
        NvmlCall::CcSettings => "CC mode",
        NvmlCall::Report => "attestation report",
        NvmlCall::Certificate => "attestation certificate chain",
        NvmlCall::Ready => "CC ready state",
        NvmlCall::SetReady => "setting the CC ready state",
    }
}

impl GpuManagement for SimGpus {
    fn gpus(&self) -> Result<Vec<PciAddress>, GpuError> {
        self.nvml_fault(NvmlCall::List, None)?;
        Ok(self.gpus.iter().map(|(a, _)| *a).filter(|a| !self.has(|f| *f == GpuFault::Missing(*a))).collect())
    }

    fn info(&self, gpu: PciAddress) -> Result<GpuInfo, GpuError> {
        let uuid = self.known(gpu)?.to_owned();
        self.nvml_fault(NvmlCall::Info, Some(gpu))?;
        Ok(GpuInfo { uuid, driver_version: SIM_DRIVER.to_owned(), vbios_version: self.model.vbios_version.clone() })
    }

    fn cc_settings(&self, gpu: PciAddress) -> Result<CcSettings, GpuError> {
        self.known(gpu)?;
        self.nvml_fault(NvmlCall::CcSettings, Some(gpu))?;
        Ok(CcSettings {
            cc_enabled: !self.has(|f| matches!(f, GpuFault::CcOff(t) if targets(*t, gpu))),
            dev_tools: self.has(|f| matches!(f, GpuFault::DevTools(t) if targets(*t, gpu))),
            protected_pcie: false,
        })
    }

    fn attestation_report(&self, gpu: PciAddress, nonce: &[u8; 32]) -> Result<Vec<u8>, GpuError> {
        self.known(gpu)?;
        self.nvml_fault(NvmlCall::Report, Some(gpu))?;
        self.cc_off_refuses(NvmlCall::Report, gpu)?;
        self.lock().report_calls += 1;
        let mut b = self.model.builder(nonce);
        if self.has(|f| matches!(f, GpuFault::WrongNonce(t) if targets(*t, gpu))) {
            b.nonce[0] ^= 0xff;
        }
        if self.has(|f| matches!(f, GpuFault::RimMismatch(t) if targets(*t, gpu)))
            && let Some(m) = b.measurements.get_mut(2)
        {
            m[0] ^= 0x01;
        }
        let pki = if self.has(|f| matches!(f, GpuFault::ForeignKey(t) if targets(*t, gpu))) {
            &self.model.foreign
        } else {
            self.model.device(self.index(gpu))
        };
        b.sign(pki).map_err(|e| GpuError::Malformed {
            operation: "simulated report",
            gpu: Some(gpu),
            reason: e.to_string(),
        })
    }

    fn certificate_chain(&self, gpu: PciAddress) -> Result<CertChain, GpuError> {
        self.known(gpu)?;
        self.nvml_fault(NvmlCall::Certificate, Some(gpu))?;
        self.cc_off_refuses(NvmlCall::Certificate, gpu)?;
        Ok(self.model.device(self.index(gpu)).chain.clone())
    }

    fn ready(&self) -> Result<bool, GpuError> {
        self.nvml_fault(NvmlCall::Ready, None)?;
        Ok(self.lock().ready)
    }

    fn set_ready(&self, ready: bool) -> Result<(), GpuError> {
        self.lock().set_ready_calls.push(ready);
        self.nvml_fault(NvmlCall::SetReady, None)?;
        let sticks = !self.has(|f| *f == GpuFault::ReadyDoesNotStick);
        let mut s = self.lock();
        s.ready = ready && sticks;
        Ok(())
    }
}

/// Opens [`SimGpus`] (or fails, under [`GpuFault::Init`]).
#[derive(Debug, Clone)]
pub struct SimGpuBackend(pub Arc<SimGpus>);

impl GpuBackend for SimGpuBackend {
    fn open(&self) -> Result<Arc<dyn GpuManagement>, GpuError> {
        if self.0.has(|f| *f == GpuFault::Init) {
            return Err(GpuError::Init {
                library: "simulated libnvidia-ml.so.1".into(),
                source: NvmlError::DriverNotLoaded,
            });
        }
        Ok(Arc::clone(&self.0) as Arc<dyn GpuManagement>)
    }
}
