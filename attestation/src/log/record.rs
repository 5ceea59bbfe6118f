//! The typed lines of an attestation log — the header, appraisal records, checkpoints — and building a
//! record from a GPU appraisal.
//!
//! Every type here (de)serializes to exactly one JSON object with a fixed field order and
//! `deny_unknown_fields`; digests are lowercase hex, times RFC 3339. Nothing here trusts what it parses: a
//! line that deserializes is only well-formed; whether it belongs in the chain is [`super::verify`]'s job.

use std::fmt;
use std::str::FromStr;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::digest::{Sha384Digest, StrVisitor, decode_lower_hex};
use super::error::LogError;
use crate::appraisal::Verdict;
use crate::gpu::GpuAppraisal;

/// The `format` value of every header.
pub const FORMAT: &str = tag::Format::VALUE;

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a record names as its verifier unless the caller says otherwise.
pub const VERIFIER: &str = concat!("ccgpu-attestation ", env!("CARGO_PKG_VERSION"));

/// Parsing a digest from text, with the log's error (the digest's own module knows nothing of the log's
/// errors, which name digests).
impl FromStr for Sha384Digest {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, LogError> {
        Self::from_hex(s.as_bytes()).ok_or_else(|| invalid("sha384", s, "not 96 lowercase hex digits"))
    }
}

/// A log's identity: 128 random bits, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogId(pub [u8; 16]);

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogId({self})")
    }
}

/// Bytes of any length written as lowercase hex (nonces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl FromStr for HexBytes {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, LogError> {
        parse_hex_vec(s).ok_or_else(|| invalid("hex", s, "not an even number of lowercase hex digits"))
    }
}

/// A point in time, normalised to UTC and written as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// `t`, converted to UTC.
    pub fn new(t: OffsetDateTime) -> Self {
        Self(t.to_offset(UtcOffset::UTC))
    }

    /// The time.
    pub fn time(self) -> OffsetDateTime {
        self.0
    }

    /// Parses an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Self, LogError> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::new).map_err(|e| invalid("time", text, &e.to_string()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Years 0..=9999 always format; a value outside that range cannot come from parsing RFC 3339.
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

/// A trust tier, named as in EAR (IETF EAT Attestation Results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogVerdict {
    /// Every check passed.
    Affirming,
    /// Acceptable, with reservations the policy tolerates.
    Warning,
    /// At least one check failed or could not run.
    Contraindicated,
}

impl LogVerdict {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Affirming => "affirming",
            Self::Warning => "warning",
            Self::Contraindicated => "contraindicated",
        }
    }
}

impl From<Verdict> for LogVerdict {
    fn from(v: Verdict) -> Self {
        // Mapped through the shared EAR tier name so a tier added to `Verdict` maps without touching this
        // file; a name this format does not know fails closed.
        match v.to_string().as_str() {
            "affirming" => Self::Affirming,
            "warning" => Self::Warning,
            _ => Self::Contraindicated,
        }
    }
}

impl fmt::Display for LogVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogVerdict {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, LogError> {
        match s {
            "affirming" => Ok(Self::Affirming),
            "warning" => Ok(Self::Warning),
            "contraindicated" => Ok(Self::Contraindicated),
            _ => Err(invalid("verdict", s, "expected affirming, warning or contraindicated")),
        }
    }
}

/// The first line of every log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    kind: tag::Header,
    format: tag::Format,
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The log's random identity.
    pub log_id: LogId,
    /// When the log was created.
    pub created: Timestamp,
    /// Only in a rotated segment (a file after the first of a log): the last line of the file before it,
    /// so the chain runs on across files ([`super::verify_segments`]). Absent in a log's first file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<Continues>,
}

/// The head of the previous file of a rotated log, as a segment's header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Continues {
    /// The previous file's last line number.
    pub line: u64,
    /// SHA-384 of that line's bytes.
    pub hash: Sha384Digest,
}

impl Header {
    /// A header for a new log.
    pub fn new(log_id: LogId, created: OffsetDateTime) -> Self {
        Self {
            kind: tag::Header,
            format: tag::Format,
            version: FORMAT_VERSION,
            log_id,
            created: Timestamp::new(created),
            continues: None,
        }
    }

    /// The header of a segment that continues log `log_id` after a file whose last line is `previous`.
    pub fn segment(log_id: LogId, created: OffsetDateTime, previous: Continues) -> Self {
        Self { continues: Some(previous), ..Self::new(log_id, created) }
    }
}

/// The Kubernetes objects an appraisal was made for. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRef {
    /// Namespace of the pod and claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// ResourceClaim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ResourceClaim UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

/// What kind of device a [`DeviceEntry`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// An NVIDIA GPU (SPDM evidence).
    Gpu,
    /// An AMD SEV-SNP guest (the CPU side of composite evidence).
    Snp,
}

/// SHA-384s of the evidence a device presented, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceDigests {
    /// The attestation report (GPU SPDM report or SNP report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Sha384Digest>,
    /// The certificate chain as received (GPU device chain; SNP VCEK/VLEK chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Sha384Digest>,
    /// The driver RIM document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_rim: Option<Sha384Digest>,
    /// The VBIOS RIM document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbios_rim: Option<Sha384Digest>,
}

/// One appraised device of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// GPU or SNP guest.
    pub kind: DeviceKind,
    /// GPU UUID (`GPU-…`), as the node knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// PCI address, as the node knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bdf: Option<String>,
    /// This device's own verdict.
    pub verdict: LogVerdict,
    /// This device's failed (or not run) checks, by name.
    pub failed_checks: Vec<String>,
    /// What was accepted only because the policy tolerates it (e.g. a certificate on hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Driver version the evidence claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// VBIOS version the evidence claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbios_version: Option<String>,
    /// Digests of the evidence.
    pub evidence: EvidenceDigests,
}

/// What the caller of [`DeviceEntry::from_gpu`] knows about the GPU beyond its evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuRef {
    /// GPU UUID.
    pub uuid: Option<String>,
    /// PCI address.
    pub bdf: Option<String>,
    /// SHA-384 of the certificate chain bytes as received.
    pub chain_digest: Option<Sha384Digest>,
}

impl DeviceEntry {
    /// The entry for one appraised GPU.
    pub fn from_gpu(appraisal: &GpuAppraisal, gpu: &GpuRef) -> Result<Self, LogError> {
        let digest = |field: &'static str, hex: &str| {
            Sha384Digest::from_hex(hex.as_bytes()).ok_or_else(|| invalid(field, hex, "not a SHA-384 in lowercase hex"))
        };
        let (driver_rim, vbios_rim) = &appraisal.rim_digests;
        Ok(Self {
            kind: DeviceKind::Gpu,
            uuid: gpu.uuid.clone(),
            bdf: gpu.bdf.clone(),
            verdict: appraisal.verdict.into(),
            failed_checks: appraisal.checks.failures().into_iter().map(|c| c.name().to_owned()).collect(),
            warnings: appraisal.warnings.clone(),
            driver_version: appraisal.identity.driver_version.clone(),
            vbios_version: appraisal.identity.vbios_version.clone(),
            evidence: EvidenceDigests {
                report: Some(digest("report_digest", &appraisal.report_digest)?),
                chain: gpu.chain_digest,
                driver_rim: driver_rim.as_deref().map(|d| digest("driver_rim", d)).transpose()?,
                vbios_rim: vbios_rim.as_deref().map(|d| digest("vbios_rim", d)).transpose()?,
            },
        })
    }
}

/// Who and where, for a record: what the caller knows that the evidence does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogContext {
    /// When the appraisal is logged.
    pub time: OffsetDateTime,
    /// The node that ran the appraisal.
    pub node: Option<String>,
    /// The claim and pod it was for.
    pub claim: Option<ClaimRef>,
    /// SHA-384 of the policy file the appraisal used.
    pub policy_digest: Option<Sha384Digest>,
    /// Name and version of the verifier.
    pub verifier: String,
}

impl LogContext {
    /// A context with only the time set and [`VERIFIER`] as the verifier.
    pub fn new(time: OffsetDateTime) -> Self {
        Self { time, node: None, claim: None, policy_digest: None, verifier: VERIFIER.to_owned() }
    }
}

/// One appraisal: a line of the log after the header.
///
/// `prev` and `line` place the record in the chain. A record built by a constructor is not yet chained
/// (`line` 0); the appender assigns both when it writes the record, whatever they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    /// SHA-384 of the previous line's bytes (without its newline).
    pub prev: Sha384Digest,
    /// This line's 1-based number (the header is line 1).
    pub line: u64,
    kind: tag::Appraisal,
    /// When the appraisal was logged.
    pub time: Timestamp,
    /// The time the evidence was verified at (certificate validity), when it differs from `time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Timestamp>,
    /// The node that ran the appraisal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The claim and pod it was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimRef>,
    /// The nonce the evidence had to carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<HexBytes>,
    /// SHA-384 of the policy used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<Sha384Digest>,
    /// The overall verdict.
    pub verdict: LogVerdict,
    /// Every failed (or not run) check of the whole appraisal, by name.
    pub failed_checks: Vec<String>,
    /// Name and version of the verifier.
    pub verifier: String,
    /// The devices appraised, in evidence order.
    pub devices: Vec<DeviceEntry>,
}

impl LogRecord {
    /// A record of an appraisal of `devices`, not yet chained.
    pub fn new(ctx: &LogContext, verdict: LogVerdict, failed_checks: Vec<String>, devices: Vec<DeviceEntry>) -> Self {
        Self {
            prev: Sha384Digest([0; 48]),
            line: 0,
            kind: tag::Appraisal,
            time: Timestamp::new(ctx.time),
            verified_at: None,
            node: ctx.node.clone(),
            claim: ctx.claim.clone(),
            nonce: None,
            policy_digest: ctx.policy_digest,
            verdict,
            failed_checks,
            verifier: ctx.verifier.clone(),
            devices,
        }
    }

    /// The record of one GPU's appraisal, not yet chained. The policy digest is the one the appraisal
    /// recorded (the policy it really used); `ctx.policy_digest` is ignored.
    pub fn from_gpu(appraisal: &GpuAppraisal, ctx: &LogContext, gpu: &GpuRef) -> Result<Self, LogError> {
        let device = DeviceEntry::from_gpu(appraisal, gpu)?;
        let mut record = Self::new(ctx, device.verdict, device.failed_checks.clone(), vec![device]);
        record.policy_digest = Some(appraisal.policy_digest.parse()?);
        record.nonce = Some(appraisal.nonce.parse()?);
        record.verified_at = Some(Timestamp::parse(&appraisal.verified_at)?);
        Ok(record)
    }

    /// True when `id` equals (ignoring ASCII case) the UUID or the PCI address of any device.
    pub fn names_gpu(&self, id: &str) -> bool {
        self.devices.iter().any(|d| {
            d.uuid.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(id))
                || d.bdf.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(id))
        })
    }
}

/// A signed statement of the chain head: "the `line - 1` lines before me hash to `prev`".
///
/// The signature is ECDSA P-384/SHA-384 (ASN.1 DER, hex) over `checkpoint::signed_message`: a
/// domain tag, the log id, and the line's own bytes up to (not including) `,"signature":`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// SHA-384 of the previous line: the chain head being attested.
    pub prev: Sha384Digest,
    /// This line's 1-based number.
    pub line: u64,
    kind: tag::Checkpoint,
    /// When the checkpoint was written.
    pub time: Timestamp,
    /// SHA-384 of the signing key's SubjectPublicKeyInfo (DER).
    pub key_id: Sha384Digest,
    /// The signature, DER, as hex. Always the last field.
    pub signature: HexBytes,
}

impl Checkpoint {
    /// An unsigned checkpoint (empty signature) for the signer to complete.
    pub(crate) fn unsigned(prev: Sha384Digest, line: u64, time: OffsetDateTime, key_id: Sha384Digest) -> Self {
        Self { prev, line, kind: tag::Checkpoint, time: Timestamp::new(time), key_id, signature: HexBytes(Vec::new()) }
    }
}

/// A parsed line after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // yielded one at a time, never stored in bulk
pub enum Entry {
    /// An appraisal.
    Record(LogRecord),
    /// A checkpoint.
    Checkpoint(Checkpoint),
}

impl Entry {
    /// The line number the entry carries.
    pub fn line(&self) -> u64 {
        match self {
            Self::Record(r) => r.line,
            Self::Checkpoint(c) => c.line,
        }
    }
}

pub(crate) fn invalid(field: &'static str, value: &str, reason: &str) -> LogError {
    let mut shown: String = value.chars().take(120).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    LogError::InvalidField { field, value: shown, reason: reason.to_owned() }
}

fn parse_hex_vec(s: &str) -> Option<HexBytes> {
    let mut out = vec![0u8; s.len() / 2];
    decode_lower_hex(s.as_bytes(), &mut out).then_some(HexBytes(out))
}

impl Serialize for LogId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for LogId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor("32 lowercase hex digits", |s| {
            let mut out = [0u8; 16];
            decode_lower_hex(s.as_bytes(), &mut out).then_some(Self(out))
        }))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor("lowercase hex", parse_hex_vec))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format(&Rfc3339).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor("an RFC 3339 time", |s| Timestamp::parse(s).ok()))
    }
}

/// Constant string fields (`kind`, `format`) as zero-sized types: they serialize to their one value and
/// refuse any other.
mod tag {
    use serde::de::Deserializer;
    use serde::{Deserialize, Serialize, Serializer};

    macro_rules! tag {
        ($name:ident, $value:literal) => {
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
            pub(crate) struct $name;

            impl $name {
                pub(crate) const VALUE: &'static str = $value;
            }

            impl Serialize for $name {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_str($value)
                }
            }

            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    d.deserialize_str(super::StrVisitor(concat!("\"", $value, "\""), |s| {
                        (s == $value).then_some($name)
                    }))
                }
            }
        };
    }

    tag!(Header, "header");
    tag!(Format, "ccgpu-attestation-log");
    tag!(Appraisal, "appraisal");
    tag!(Checkpoint, "checkpoint");
}

pub(crate) use tag::{Appraisal as AppraisalTag, Checkpoint as CheckpointTag, Header as HeaderTag};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appraisal::Checks;
    use crate::gpu::{ChainSummary, GpuCheck, GpuIdentity, RevocationMode};
    use time::macros::datetime;

    fn appraisal() -> GpuAppraisal {
        let mut checks = Checks::default();
        checks.pass(GpuCheck::ReportParsed, "ok");
        checks.fail(GpuCheck::Nonce, "nonce differs");
        checks.not_run(GpuCheck::Measurements, "no RIMs");
        GpuAppraisal {
            verdict: checks.verdict(),
            checks,
            identity: GpuIdentity { driver_version: Some("550.90.07".into()), ..GpuIdentity::default() },
            rim_ids: None,
            measurements: None,
            device_chain: ChainSummary {
                status: "valid",
                expiration: None,
                ocsp_status: None,
                revocation_reason: None,
            },
            driver_rim_chain: None,
            vbios_rim_chain: None,
            oemid: None,
            nonce: "00ff".repeat(16),
            verified_at: "2025-09-01T00:00:00Z".into(),
            revocation: RevocationMode::NotChecked,
            warnings: vec!["certificate on hold accepted by policy".into()],
            policy_digest: "ef".repeat(48),
            report_digest: "ab".repeat(48),
            rim_digests: (Some("cd".repeat(48)), None),
        }
    }

    #[test]
    fn record_from_gpu_appraisal_keeps_field_order_and_round_trips() {
        let mut ctx = LogContext::new(datetime!(2025-09-01 12:00 +02:00));
        ctx.node = Some("node-a".into());
        ctx.claim = Some(ClaimRef { namespace: Some("ml".into()), uid: Some("u-1".into()), ..ClaimRef::default() });
        let gpu = GpuRef { uuid: Some("GPU-1".into()), bdf: Some("0000:41:00.0".into()), chain_digest: None };
        let record = LogRecord::from_gpu(&appraisal(), &ctx, &gpu).expect("record");
        assert_eq!(record.verdict, LogVerdict::Contraindicated);
        assert_eq!(record.failed_checks, ["nonce", "measurements"]);
        assert_eq!(record.devices[0].failed_checks, ["nonce", "measurements"]);
        assert_eq!(record.devices[0].evidence.driver_rim, Some(Sha384Digest([0xcd; 48])));
        assert_eq!(record.nonce, Some(HexBytes([0x00, 0xff].repeat(16))));
        assert_eq!(record.policy_digest, Some(Sha384Digest([0xef; 48])));
        assert_eq!(record.devices[0].warnings, ["certificate on hold accepted by policy"]);

        let json = serde_json::to_string(&record).expect("json");
        assert!(
            json.starts_with(&format!(
                r#"{{"prev":"{}","line":0,"kind":"appraisal","time":"2025-09-01T10:00:00Z","#,
                "0".repeat(96)
            )),
            "{json}"
        );
        assert!(json.contains(r#""claim":{"namespace":"ml","uid":"u-1"}"#), "{json}");
        assert_eq!(serde_json::from_str::<LogRecord>(&json).expect("parse"), record);
        assert!(record.names_gpu("gpu-1") && record.names_gpu("0000:41:00.0") && !record.names_gpu("GPU-2"));
    }

    #[test]
    fn strict_parsing_refuses_unknown_fields_uppercase_hex_and_wrong_tags() {
        let header = Header::new(LogId([1; 16]), datetime!(2025-01-01 0:00 UTC));
        let json = serde_json::to_string(&header).expect("json");
        assert_eq!(
            json,
            r#"{"kind":"header","format":"ccgpu-attestation-log","version":1,"log_id":"01010101010101010101010101010101","created":"2025-01-01T00:00:00Z"}"#
        );
        assert!(serde_json::from_str::<Header>(&json.replace("\"header\"", "\"headers\"")).is_err());
        assert!(serde_json::from_str::<Header>(&json.replace('}', r#","x":1}"#)).is_err());
        assert!(serde_json::from_str::<LogId>("\"0101010101010101010101010101010A\"").is_err());
        assert!(serde_json::from_str::<Sha384Digest>(&format!("\"{}\"", "a".repeat(94))).is_err());
        assert!(serde_json::from_str::<HexBytes>("\"abc\"").is_err());
        // Escaped strings decode like plain ones.
        assert_eq!(serde_json::from_str::<HexBytes>("\"\\u0061b\"").expect("escaped"), HexBytes(vec![0xab]));
    }

    #[test]
    fn verdict_names() {
        for v in [LogVerdict::Affirming, LogVerdict::Warning, LogVerdict::Contraindicated] {
            assert_eq!(v.name().parse::<LogVerdict>().expect("parse"), v);
        }
        assert_eq!(LogVerdict::from(Verdict::Affirming), LogVerdict::Affirming);
        assert_eq!(LogVerdict::from(Verdict::Contraindicated), LogVerdict::Contraindicated);
        assert!("ok".parse::<LogVerdict>().is_err());
    }
}
