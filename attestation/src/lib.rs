//! Pure verification of confidential-computing evidence for ccgpu.
//!
//! Every verdict is a function of its inputs: evidence bytes, the verification time, trust anchors and a
//! policy. The verifiers open no files or sockets and never read the clock, so a verdict can be
//! reproduced exactly and tests can pin time; the one module that touches files is the attestation log's
//! appender/reader. An appraisal records every check's outcome, and a verdict is affirming only when
//! every check passed.
//!
//! What it trusts: only the trust anchors it is handed ([`Anchors::nvidia`] ships NVIDIA's production
//! roots, [`AmdRoots::amd`] AMD's). What it does not trust: every byte of evidence, which comes from the
//! devices through an untrusted host.
//!
//! # Map
//!
//! Modules are private; this file's one `pub use` block is the whole surface. A module imports only from
//! its own layer (without loops) and the layers listed before it:
//!
//! 1. Primitives: `der`, `der_write`, `oid`, `reader`, `crypto`, `error_chain`.
//! 2. Shared mechanisms: `x509` (chains, path validation, FWID), `ocsp` (RFC 6960), `cache` (verified
//!    links and document inspections), `appraisal` (the [`Check`] trait, [`Checks`], [`Verdict`]).
//! 3. Vendor formats: `nvidia/` (SPDM reports, RIMs, measurements, architectures, NVIDIA's anchors) and
//!    the AMD formats inside `snp/` (`report`, `vek`, `chain`, `roots`, `product`, `tcb`, `policy`).
//! 4. `policy`: the appraisal policy, which names each kind's rules.
//! 5. Appraisals, one folder per kind with the same files: `gpu/`, `switch/` (NVSwitch LS10) and `snp/` — `evidence` (inputs),
//!    `check` (the kind's checks, in order), `appraise` (the numbered steps), `checks/` (one function per
//!    step), `identity`, `result`.
//! 6. Composition: `ppcie/` (an HGX board's GPUs and NVSwitches and their topology), `bundle/` (a VM's CPU and GPU evidence, bound by REPORT_DATA), `nvidia_claims`
//!    (NVIDIA's v3 claim set of a GPU appraisal), `ear_result` (IETF EAR), `log/` (the tamper-evident
//!    attestation log).
//!
//! With the `sim` feature: `sim` (simulated PKIs, evidence and negative corpora) and `testing`
//! (internals this crate's own tests, benches and fuzz targets reach into).
//!
//! Adding an appraisal kind (a device such as NVSwitch, or a CPU TEE such as Intel TDX): a folder beside
//! `gpu/` and `snp/` with the same files (`mod`, `evidence`, `check`, `appraise`, `checks/`, `identity`,
//! `result`), its formats in a vendor folder (or in its own folder when no other kind shares them), its
//! rules in `policy`, its items in this file's `pub use` block, and its place in `bundle/` and
//! `ear_result`.

#![deny(missing_docs)]

mod appraisal;
mod bundle;
mod cache;
mod crypto;
mod der;
mod der_write;
mod ear_result;
mod error_chain;
mod gpu;
mod log;
mod nvidia;
mod nvidia_claims;
mod ocsp;
mod oid;
mod policy;
mod ppcie;
mod reader;
#[cfg(feature = "sim")]
pub mod sim;
mod snp;
mod switch;
mod tdx;
#[cfg(feature = "sim")]
pub mod testing;
mod x509;

pub use crate::{
    appraisal::{Check, CheckResult, Checks, Outcome, Verdict},
    bundle::{
        BINDING_TAG_SWITCHES, BundleAppraise, BundleCheck, BundleDocument, BundleError, BundleRevocation,
        CompositeAppraisal, CpuDocument, CpuEvidence, EvidenceBundle, GpuBundleEvidence, GpuDocument, GpuEntry,
        MAX_SWITCHES, SwitchBundleEvidence, SwitchDocument, SwitchEntry, appraise_bundle,
        appraise_bundle_with_switches, report_data, report_data_with_switches,
    },
    cache::VerifierCache,
    crypto::{EcPublicKey, SignatureError, sha384},
    der::DerError,
    ear_result::EAR_PROFILE,
    error_chain::error_chain,
    gpu::{
        ChainSummary, GpuAppraisal, GpuAppraise, GpuCheck, GpuEvidence, GpuIdentity, Revocation, RevocationMode,
        appraise_gpu, implied_rim_ids, revocation_queries,
    },
    log::{
        AppendOptions, Appended, Appender, BreakKind, ChainReport, Checkpoint, CheckpointKey, CheckpointSigner,
        Checkpointing, ClaimRef, Continues, DEFAULT_CHECKPOINT_EVERY, DeviceEntry, DeviceKind, Entry, EvidenceDigests,
        FORMAT, FORMAT_VERSION, Filter, GpuRef, Head, Header, HexBytes, LogContext, LogError, LogId, LogReader,
        LogRecord, LogSummary, LogVerdict, Repair, SegmentReport, Sha384Digest, Timestamp, VERIFIER, VerdictCounts,
        repair_torn_tail, verify_segments,
    },
    nvidia::{
        anchors::Anchors,
        arch::GpuArch,
        measurements::{Comparison, Mismatch, Source},
        rim::{
            KNOWN_TEST_RIMS, MAX_RIM_LEN, MAX_SERVICE_ANSWER, RimIds, RimServiceError, is_safe_rim_id, known_test_rim,
            rim_file_candidates, rim_from_service_answer,
        },
        spdm::{
            AttestationReport, FeatureFlag, GetMeasurementsRequest, MeasurementBlock, MeasurementsResponse,
            Nvdec0Status, OpaqueData, OpaqueEntry, OpaqueType, Pdi, ReportLayout, SWITCH_GPU_PDIS, SpdmError,
            SwitchOpaque, VbiosVersion,
        },
    },
    ocsp::{
        CertId, CertStatus, HashAlg, OcspError, OcspQuery, OcspRequirement, OcspResponse, ResponderId,
        RevocationReason, SingleResponse,
    },
    policy::{BundlePolicy, GpuPolicy, OcspPolicy, Policy, PolicyError, RimRef},
    ppcie::{
        DeviceLinks, HGX_GPUS, HGX_SWITCHES, PpcieAppraisal, TopologyAppraisal, TopologyCheck, appraise_ppcie,
        appraise_topology,
    },
    reader::Truncated,
    snp::{
        AmdRoots, CrlError, HostData, Intermediate, MAX_CRL_LEN, Measurement, NotRevoked, Product, ProductRoots,
        RootsError, SnpAppraisal, SnpAppraise, SnpCheck, SnpEvidence, SnpIdentity, SnpPolicy, SnpRevocation, Tcb,
        VekKind, appraise_snp, check_not_revoked, parse_crl,
    },
    switch::{SwitchAppraisal, SwitchCheck, SwitchEvidence, SwitchIdentity, appraise_switch, device_pdi},
    tdx::{
        BodyKind, CollateralError, CollateralNeeded, HEADER_LEN, Hex, INTEL_SGX_ROOT_CA_PEM, IntelRoots,
        MAX_COLLATERAL_LEN, MAX_QUOTE_LEN, ModuleIdentity, ModuleIdentityEntry, PckCa, PckExtension, PckExtensionError,
        PcsResponses, QeIdentity, QeReport, QuoteError, TD_REPORT10_LEN, TD_REPORT15_LEN, TcbInfo, TcbLevel, TcbStatus,
        TcbVerdict, TdReport, TdxAppraisal, TdxAppraise, TdxCheck, TdxCollateral, TdxEvidence, TdxIdentity, TdxPolicy,
        TdxQuote, appraise_tdx, body_offset, crl_der, header_offset, qe_offset, split_signed, td_attribute,
    },
    x509::{CertChain, ChainParseError, TrustAnchor},
};
