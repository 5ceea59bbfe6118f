//! NVIDIA's attestation formats, shared by the GPU appraisal (`crate::gpu`) and the coming NVSwitch one:
//! SPDM attestation reports with NVIDIA's opaque data ([`spdm`]), Reference Integrity Manifests
//! ([`rim`]), comparing a report with the RIMs' golden values ([`measurements`]), the architectures
//! ([`arch`]) and NVIDIA's production trust anchors ([`anchors`]).
//!
//! Formats only: each parses or verifies what it is given and trusts nothing but the anchor it is
//! handed; deciding what a verdict is belongs to the appraisals. Certificate chains ([`crate::x509`]) and
//! OCSP ([`crate::ocsp`]) are standards, shared with other vendors, and live beside this folder.
//! NVIDIA's v3 claim set is a view of a GPU appraisal, so it is `crate::nvidia_claims`.

pub(crate) mod anchors;
pub(crate) mod arch;
pub(crate) mod measurements;
pub(crate) mod rim;
pub(crate) mod spdm;
