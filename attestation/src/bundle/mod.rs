//! The composite evidence bundle: one JSON document carrying everything needed to appraise a
//! confidential VM with GPUs — the nonce, the CPU TEE report (SEV-SNP) with its signing certificate, and
//! per GPU the SPDM report and device chain, optionally with RIMs and recorded OCSP responses so an
//! air-gapped verifier has everything.
//!
//! The binding: the SNP report's REPORT_DATA must equal
//! `SHA-512("ccgpu composite evidence v1\0" ‖ nonce ‖ u32be(#gpus) ‖ SHA-384(gpu evidence)…)`, where a
//! GPU's evidence digest is `SHA-384(u32be(len) ‖ report ‖ for each certificate: u32be(len) ‖ DER)`.
//! The verifier recomputes it from the bundle, so a GPU report cannot be moved to another VM's bundle,
//! dropped, added or reordered without the CPU report (signed by the AMD firmware) disagreeing.
//!
//! A protected-PCIe (PPCIe) VM's bundle also carries its NVSwitches (`switches`, each an LS10 report and
//! device chain, optionally its VBIOS RIM and OCSP responses). Then REPORT_DATA binds them too:
//! `SHA-512("ccgpu composite evidence v1 nvswitches\0" ‖ nonce ‖ u32be(#gpus) ‖ GPU digests… ‖
//! u32be(#switches) ‖ switch digests…)`, a switch's digest formed as a GPU's. Another tag, so a bundle
//! with switches and one without never share a binding; a bundle without switches binds exactly as before.
//! [`EvidenceBundle::parse`] refuses a document that carries switches (it could not appraise them);
//! [`EvidenceBundle::parse_with_switches`] reads both.
//!
//! Trusts nothing in the document: sizes and counts are bounded, unknown fields are refused, and every
//! piece of evidence goes through the same verifiers as when it arrives alone.

mod appraise;
mod check;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use appraise::{
    BundleAppraise, BundleRevocation, CompositeAppraisal, GpuEntry, SwitchEntry, appraise_bundle,
    appraise_bundle_with_switches,
};
pub use check::BundleCheck;

use crate::crypto;
use crate::x509::CertChain;

/// The `format` value of a bundle.
pub const BUNDLE_FORMAT: &str = "ccgpu-evidence-bundle";
/// The bundle version this code reads and writes.
pub const BUNDLE_VERSION: u32 = 1;
/// Domain-separation tag of the REPORT_DATA binding.
pub const BINDING_TAG: &[u8] = b"ccgpu composite evidence v1\0";
/// Largest bundle accepted (8 GPUs with RIMs and OCSP responses are ~500 KB).
pub const MAX_BUNDLE_LEN: usize = 8 * 1024 * 1024;
/// Most GPUs in one bundle (an HGX node has 8).
pub const MAX_GPUS: usize = 16;
/// Most OCSP responses per GPU.
const MAX_OCSP: usize = 32;
/// Domain-separation tag of the REPORT_DATA binding of a bundle that carries NVSwitches.
pub const BINDING_TAG_SWITCHES: &[u8] = b"ccgpu composite evidence v1 nvswitches\0";
/// Most NVSwitches in one bundle (an HGX board has 4).
pub const MAX_SWITCHES: usize = 8;

/// A bundle that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BundleError {
    /// Over `MAX_BUNDLE_LEN` (8 MiB).
    #[error("bundle is {0} bytes, more than the {MAX_BUNDLE_LEN}-byte limit")]
    TooLarge(usize),
    /// Not JSON of the bundle's shape.
    #[error("bundle is not valid: {0}")]
    Json(String),
    /// Wrong format marker or version.
    #[error("bundle format {format:?} version {version} is not {BUNDLE_FORMAT:?} version {BUNDLE_VERSION}")]
    Version {
        /// Found format.
        format: String,
        /// Found version.
        version: u32,
    },
    /// A field that does not decode.
    #[error("bundle field {field}: {reason}")]
    Field {
        /// Path of the field, e.g. `gpus[1].report`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn field(field: impl Into<String>, reason: impl ToString) -> BundleError {
    BundleError::Field { field: field.into(), reason: reason.to_string() }
}

/// The bundle as written on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleDocument {
    /// Always `ccgpu-evidence-bundle` (`BUNDLE_FORMAT`).
    pub format: String,
    /// Always 1 (`BUNDLE_VERSION`).
    pub version: u32,
    /// The 32-byte nonce, hex.
    pub nonce: String,
    /// CPU TEE evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuDocument>,
    /// GPU evidence, in binding order.
    pub gpus: Vec<GpuDocument>,
    /// NVSwitch evidence (protected PCIe), in binding order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<SwitchDocument>,
}

/// One NVSwitch's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchDocument {
    /// The switch's UUID as NSCQ reports it (informational; not trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The LS10 SPDM report, base64.
    pub report: String,
    /// The device certificate chain, PEM, attestation certificate first.
    pub cert_chain: String,
    /// The switch VBIOS RIM, base64 of the XML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbios_rim: Option<String>,
    /// Recorded OCSP responses, base64 DER each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ocsp: Vec<String>,
}

/// Decoded NVSwitch evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchBundleEvidence {
    /// UUID, informational.
    pub uuid: Option<String>,
    /// Report bytes.
    pub report: Vec<u8>,
    /// Device chain.
    pub chain: CertChain,
    /// VBIOS RIM.
    pub vbios_rim: Option<Vec<u8>>,
    /// OCSP responses (DER).
    pub ocsp: Vec<Vec<u8>>,
}

impl SwitchBundleEvidence {
    /// SHA-384 over the length-prefixed report and chain certificates (formed as a GPU's).
    pub fn digest(&self) -> [u8; 48] {
        gpu_evidence_digest(&self.report, &self.chain)
    }
}

/// SEV-SNP evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuDocument {
    /// Always `sev-snp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The 1184-byte report, base64.
    pub report: String,
    /// The VCEK or VLEK certificate, base64 DER.
    pub vek: String,
    /// The ASK/ASVK + ARK, PEM (optional: the built-in AMD roots are used otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_ark: Option<String>,
}

/// One GPU's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuDocument {
    /// The GPU's UUID as the driver reports it (informational; not trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The GPU's PCI address in the guest (informational; not trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bdf: Option<String>,
    /// The SPDM report, base64.
    pub report: String,
    /// The device certificate chain, PEM, attestation certificate first.
    pub cert_chain: String,
    /// Driver RIM, base64 of the XML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_rim: Option<String>,
    /// VBIOS RIM, base64 of the XML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbios_rim: Option<String>,
    /// Recorded OCSP responses, base64 DER each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ocsp: Vec<String>,
}

/// A decoded bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceBundle {
    /// The nonce.
    pub nonce: [u8; 32],
    /// CPU evidence.
    pub cpu: Option<CpuEvidence>,
    /// GPU evidence in binding order.
    pub gpus: Vec<GpuBundleEvidence>,
}

/// Decoded SNP evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuEvidence {
    /// Report bytes.
    pub report: Vec<u8>,
    /// VCEK/VLEK DER.
    pub vek: Vec<u8>,
    /// ASK/ASVK + ARK PEM.
    pub ask_ark: Option<Vec<u8>>,
}

/// Decoded GPU evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuBundleEvidence {
    /// UUID, informational.
    pub uuid: Option<String>,
    /// BDF, informational.
    pub bdf: Option<String>,
    /// Report bytes.
    pub report: Vec<u8>,
    /// Device chain.
    pub chain: CertChain,
    /// Driver RIM.
    pub driver_rim: Option<Vec<u8>>,
    /// VBIOS RIM.
    pub vbios_rim: Option<Vec<u8>>,
    /// OCSP responses (DER).
    pub ocsp: Vec<Vec<u8>>,
}

impl GpuBundleEvidence {
    /// SHA-384 over the length-prefixed report and chain certificates.
    pub fn digest(&self) -> [u8; 48] {
        gpu_evidence_digest(&self.report, &self.chain)
    }
}

/// SHA-384 of one GPU's evidence as the binding defines it.
pub fn gpu_evidence_digest(report: &[u8], chain: &CertChain) -> [u8; 48] {
    let mut buf = Vec::with_capacity(report.len() + 6 * 1024);
    let mut put = |bytes: &[u8]| {
        buf.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(bytes);
    };
    put(report);
    for der in chain.ders() {
        put(der);
    }
    crypto::sha384(&buf)
}

/// The REPORT_DATA a CPU report must carry for `nonce` and these GPU evidence digests.
pub fn report_data(nonce: &[u8; 32], gpu_digests: &[[u8; 48]]) -> [u8; 64] {
    let count = u32::try_from(gpu_digests.len()).unwrap_or(u32::MAX).to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![BINDING_TAG, nonce, &count];
    parts.extend(gpu_digests.iter().map(|d| d.as_slice()));
    crypto::sha512_parts(&parts)
}

/// The REPORT_DATA a CPU report must carry for `nonce`, these GPU and these NVSwitch evidence digests
/// ([`report_data`] when there are no switches).
pub fn report_data_with_switches(nonce: &[u8; 32], gpu_digests: &[[u8; 48]], switch_digests: &[[u8; 48]]) -> [u8; 64] {
    if switch_digests.is_empty() {
        return report_data(nonce, gpu_digests);
    }
    let gpus = u32::try_from(gpu_digests.len()).unwrap_or(u32::MAX).to_be_bytes();
    let switches = u32::try_from(switch_digests.len()).unwrap_or(u32::MAX).to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![BINDING_TAG_SWITCHES, nonce, &gpus];
    parts.extend(gpu_digests.iter().map(|d| d.as_slice()));
    parts.push(&switches);
    parts.extend(switch_digests.iter().map(|d| d.as_slice()));
    crypto::sha512_parts(&parts)
}

fn ocsp_list(list: &[String], at: &str) -> Result<Vec<Vec<u8>>, BundleError> {
    if list.len() > MAX_OCSP {
        return Err(field(format!("{at}.ocsp"), format!("more than {MAX_OCSP} responses")));
    }
    list.iter()
        .enumerate()
        .map(|(k, s)| {
            let der = b64(&format!("{at}.ocsp[{k}]"), s)?;
            crate::ocsp::OcspResponse::parse(&der).map_err(|e| field(format!("{at}.ocsp[{k}]"), e))?;
            Ok(der)
        })
        .collect()
}

fn b64(field_name: &str, s: &str) -> Result<Vec<u8>, BundleError> {
    base64::engine::general_purpose::STANDARD.decode(s.trim()).map_err(|e| field(field_name, e))
}

impl EvidenceBundle {
    /// Parses and decodes a bundle without NVSwitches; one that carries switches is refused (use
    /// [`Self::parse_with_switches`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let (bundle, switches) = Self::parse_with_switches(bytes)?;
        if !switches.is_empty() {
            return Err(field(
                "switches",
                format!("the bundle carries {} NVSwitch(es); read it with parse_with_switches", switches.len()),
            ));
        }
        Ok(bundle)
    }

    /// Parses and decodes a bundle and its NVSwitches (none when it carries none).
    pub fn parse_with_switches(bytes: &[u8]) -> Result<(Self, Vec<SwitchBundleEvidence>), BundleError> {
        if bytes.len() > MAX_BUNDLE_LEN {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let doc: BundleDocument = serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        if doc.format != BUNDLE_FORMAT || doc.version != BUNDLE_VERSION {
            return Err(BundleError::Version { format: doc.format, version: doc.version });
        }
        let nonce: [u8; 32] = hex::decode(&doc.nonce)
            .map_err(|e| field("nonce", e))?
            .try_into()
            .map_err(|_| field("nonce", "not 32 bytes"))?;
        if doc.gpus.len() > MAX_GPUS {
            return Err(field("gpus", format!("{} GPUs, more than {MAX_GPUS}", doc.gpus.len())));
        }
        let cpu = match doc.cpu {
            None => None,
            Some(c) => {
                if c.kind != "sev-snp" {
                    return Err(field("cpu.type", format!("{:?} is not sev-snp", c.kind)));
                }
                Some(CpuEvidence {
                    report: b64("cpu.report", &c.report)?,
                    vek: b64("cpu.vek", &c.vek)?,
                    ask_ark: c.ask_ark.map(String::into_bytes),
                })
            }
        };
        let mut gpus = Vec::with_capacity(doc.gpus.len());
        for (i, g) in doc.gpus.into_iter().enumerate() {
            let at = |f: &str| format!("gpus[{i}].{f}");
            if g.ocsp.len() > MAX_OCSP {
                return Err(field(at("ocsp"), format!("more than {MAX_OCSP} responses")));
            }
            gpus.push(GpuBundleEvidence {
                uuid: g.uuid,
                bdf: g.bdf,
                report: b64(&at("report"), &g.report)?,
                chain: CertChain::from_pem(g.cert_chain.as_bytes()).map_err(|e| field(at("cert_chain"), e))?,
                driver_rim: g.driver_rim.as_deref().map(|s| b64(&at("driver_rim"), s)).transpose()?,
                vbios_rim: g.vbios_rim.as_deref().map(|s| b64(&at("vbios_rim"), s)).transpose()?,
                ocsp: g
                    .ocsp
                    .iter()
                    .enumerate()
                    .map(|(k, s)| {
                        let der = b64(&format!("gpus[{i}].ocsp[{k}]"), s)?;
                        crate::ocsp::OcspResponse::parse(&der).map_err(|e| field(format!("gpus[{i}].ocsp[{k}]"), e))?;
                        Ok(der)
                    })
                    .collect::<Result<_, BundleError>>()?,
            });
        }
        if doc.switches.len() > MAX_SWITCHES {
            return Err(field("switches", format!("{} switches, more than {MAX_SWITCHES}", doc.switches.len())));
        }
        let mut switches = Vec::with_capacity(doc.switches.len());
        for (i, s) in doc.switches.into_iter().enumerate() {
            let at = |f: &str| format!("switches[{i}].{f}");
            switches.push(SwitchBundleEvidence {
                uuid: s.uuid,
                report: b64(&at("report"), &s.report)?,
                chain: CertChain::from_pem(s.cert_chain.as_bytes()).map_err(|e| field(at("cert_chain"), e))?,
                vbios_rim: s.vbios_rim.as_deref().map(|r| b64(&at("vbios_rim"), r)).transpose()?,
                ocsp: ocsp_list(&s.ocsp, &format!("switches[{i}]"))?,
            });
        }
        Ok((Self { nonce, cpu, gpus }, switches))
    }

    /// The REPORT_DATA this bundle's CPU report must carry when it also carries `switches`.
    pub fn expected_report_data_with(&self, switches: &[SwitchBundleEvidence]) -> [u8; 64] {
        let gpus: Vec<[u8; 48]> = self.gpus.iter().map(GpuBundleEvidence::digest).collect();
        let switches: Vec<[u8; 48]> = switches.iter().map(SwitchBundleEvidence::digest).collect();
        report_data_with_switches(&self.nonce, &gpus, &switches)
    }

    /// The wire form, with `switches`.
    pub fn to_document_with(&self, switches: &[SwitchBundleEvidence]) -> BundleDocument {
        let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut doc = self.to_document();
        doc.switches = switches
            .iter()
            .map(|s| SwitchDocument {
                uuid: s.uuid.clone(),
                report: enc(&s.report),
                cert_chain: s.chain.to_pem(),
                vbios_rim: s.vbios_rim.as_deref().map(enc),
                ocsp: s.ocsp.iter().map(|o| enc(o)).collect(),
            })
            .collect();
        doc
    }

    /// The bundle with `switches` as JSON bytes.
    pub fn to_json_with(&self, switches: &[SwitchBundleEvidence]) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.to_document_with(switches)).unwrap_or_default()
    }

    /// The REPORT_DATA this bundle's CPU report must carry.
    pub fn expected_report_data(&self) -> [u8; 64] {
        let digests: Vec<[u8; 48]> = self.gpus.iter().map(GpuBundleEvidence::digest).collect();
        report_data(&self.nonce, &digests)
    }

    /// The wire form.
    pub fn to_document(&self) -> BundleDocument {
        let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        BundleDocument {
            format: BUNDLE_FORMAT.into(),
            version: BUNDLE_VERSION,
            nonce: hex::encode(self.nonce),
            cpu: self.cpu.as_ref().map(|c| CpuDocument {
                kind: "sev-snp".into(),
                report: enc(&c.report),
                vek: enc(&c.vek),
                ask_ark: c.ask_ark.as_ref().map(|a| String::from_utf8_lossy(a).into_owned()),
            }),
            gpus: self
                .gpus
                .iter()
                .map(|g| GpuDocument {
                    uuid: g.uuid.clone(),
                    bdf: g.bdf.clone(),
                    report: enc(&g.report),
                    cert_chain: g.chain.to_pem(),
                    driver_rim: g.driver_rim.as_deref().map(enc),
                    vbios_rim: g.vbios_rim.as_deref().map(enc),
                    ocsp: g.ocsp.iter().map(|o| enc(o)).collect(),
                })
                .collect(),
            switches: Vec::new(),
        }
    }

    /// The bundle as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.to_document()).unwrap_or_default()
    }
}
