//! The appraisal policy: what "acceptable" means beyond the checks that are never optional.
//!
//! Signatures, chains, nonce, RIM identity and golden measurements are always enforced; the policy can
//! only make acceptance stricter, except for the few tolerances it names, which all default to the
//! strict choice. A policy is read from TOML or JSON (see `deploy/policy.example.toml`); unknown fields
//! are refused, so a misspelt key cannot silently leave a rule out. Every appraisal records the SHA-384
//! of the effective policy in its canonical JSON form ([`Policy::digest`]), so the record says which
//! rules a verdict was reached under, whatever the file's formatting.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::Duration;

use crate::ocsp::OcspRequirement;
use crate::snp::SnpPolicy;
use crate::tdx::{TcbStatus, TdxPolicy};

/// A policy that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// TOML syntax or schema error.
    #[error("policy (TOML): {0}")]
    Toml(String),
    /// JSON syntax or schema error.
    #[error("policy (JSON): {0}")]
    Json(String),
    /// A value that parses but makes no sense.
    #[error("policy: {0}")]
    Invalid(String),
}

/// The whole policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Rules for GPUs.
    pub gpu: GpuPolicy,
    /// Rules for revocation checking.
    pub ocsp: OcspPolicy,
    /// Rules for the CPU TEE (AMD SEV-SNP) report.
    pub snp: SnpPolicy,
    /// Rules for composite evidence bundles.
    pub bundle: BundlePolicy,
    /// Rules for an Intel TDX quote (`[tdx]`, [`TdxPolicy`]), so that one file can serve `verify snp`,
    /// `verify tdx` and the guest agent. Absent, it is left out of the canonical form, so the digest of
    /// a policy without it is what it was before the table existed; `verify tdx` then uses
    /// [`TdxPolicy::default`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdx: Option<TdxPolicy>,
}

/// Policy for composite bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BundlePolicy {
    /// Refuse a bundle without CPU TEE evidence: only the CPU report binds the GPU reports to one VM.
    /// Default: true.
    pub require_cpu_evidence: bool,
    /// Refuse to appraise a bundle without an expected nonce (`ccgpu verify bundle --nonce`): without it a
    /// replayed bundle is indistinguishable from a fresh one. Set false only where the nonce's issuer
    /// checks `eat_nonce` in the result itself. Default: true.
    pub require_nonce: bool,
}

impl Default for BundlePolicy {
    fn default() -> Self {
        Self { require_cpu_evidence: true, require_nonce: true }
    }
}

/// Policy for GPU evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpuPolicy {
    /// Accept a report that carries no FWID (opaque type 20), so the attestation certificate's FWID
    /// cannot be compared with it. NVIDIA's reference verifier silently skips the comparison then; ccgpu
    /// refuses by default. Reports from drivers older than 550 lack the FWID.
    pub allow_missing_fwid: bool,
    /// Driver versions accepted (exact, e.g. "550.90.07"); empty = any.
    pub allowed_driver_versions: Vec<String>,
    /// Lowest driver version accepted (numeric, dotted), e.g. "550.90".
    pub min_driver_version: Option<String>,
    /// VBIOS versions accepted (exact, e.g. "96.00.9F.00.01", case-insensitive); empty = any.
    pub allowed_vbios_versions: Vec<String>,
    /// Lowest VBIOS version accepted (hexadecimal dotted), e.g. "96.00.9F.00.00".
    pub min_vbios_version: Option<String>,
    /// Whether a GPU in confidential-computing *dev-tools* mode may ever be released. The SPDM report does
    /// not carry this mode; the guest agent reads it from the driver and enforces this. Default: never.
    pub allow_cc_dev_tools: bool,
    /// RIMs accepted, each `sha384:<96 hex digits>` (one exact document) or `tag:<tagId>` (every version
    /// NVIDIA signed under that SWID tag id); empty = any RIM NVIDIA signed. NVIDIA has signed documents
    /// with one tag id and version but different golden values (a test and a production VBIOS RIM), so only
    /// a digest pins golden values.
    pub accepted_rims: Vec<String>,
    /// Accept NVIDIA's known test RIMs (signed by the production RIM chain, with the identity of a
    /// production RIM, but golden values of a test build; told apart only by digest, see
    /// `ccgpu_attestation::KNOWN_TEST_RIMS`). Default: refused.
    pub allow_test_rims: bool,
}

/// One RIM as the policy judges it: which one, its SHA-384 and its SWID tag id (when readable).
#[derive(Debug, Clone, Copy)]
pub struct RimRef<'a> {
    /// `driver` or `VBIOS`.
    pub kind: &'a str,
    /// SHA-384 of the document.
    pub digest: &'a [u8; 48],
    /// `SoftwareIdentity@tagId`, when the structure was readable.
    pub tag_id: Option<&'a str>,
}

/// Policy for OCSP revocation checking of the device and RIM chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcspPolicy {
    /// `optional` (default): an explicit `--ocsp off` is accepted and recorded as not checked;
    /// `required`: revocation must be established for every certificate, so `--ocsp off` is refused.
    pub require: OcspRequirement,
    /// Accept a certificate on hold (`certificateHold`), reported as a warning. Default: no.
    pub allow_hold: bool,
    /// Accept status `unknown`, reported as a warning. Default: no.
    pub allow_unknown: bool,
    /// Clock-skew tolerance for producedAt/thisUpdate/nextUpdate, in seconds. Default: 300.
    pub tolerance_seconds: u32,
    /// Oldest acceptable thisUpdate when a response has no nextUpdate, in seconds. Default: 7 days.
    pub max_age_seconds: u32,
}

impl Default for OcspPolicy {
    fn default() -> Self {
        Self {
            require: OcspRequirement::Optional,
            allow_hold: false,
            allow_unknown: false,
            tolerance_seconds: 300,
            max_age_seconds: 7 * 24 * 3600,
        }
    }
}

impl OcspPolicy {
    /// The tolerance as a duration.
    pub fn tolerance(&self) -> Duration {
        Duration::seconds(i64::from(self.tolerance_seconds))
    }

    /// The maximum age as a duration.
    pub fn max_age(&self) -> Duration {
        Duration::seconds(i64::from(self.max_age_seconds))
    }
}

impl Policy {
    /// Parses a policy: JSON when the text starts with `{`, TOML otherwise.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let policy: Self = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?
        };
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        if let Some(v) = &self.gpu.min_driver_version {
            DottedVersion::parse(v, 10)
                .ok_or_else(|| PolicyError::Invalid(format!("gpu.min_driver_version {v:?} is not a dotted number")))?;
        }
        if let Some(v) = &self.gpu.min_vbios_version {
            DottedVersion::parse(v, 16).ok_or_else(|| {
                PolicyError::Invalid(format!("gpu.min_vbios_version {v:?} is not dotted hexadecimal"))
            })?;
        }
        for (i, entry) in self.gpu.accepted_rims.iter().enumerate() {
            let ok = match entry.split_once(':') {
                Some(("sha384", hex)) => hex.len() == 96 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                Some(("tag", id)) => !id.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(PolicyError::Invalid(format!(
                    "gpu.accepted_rims[{i}] {entry:?} is neither sha384:<96 hex digits> nor tag:<tagId>"
                )));
            }
        }
        if let Some(tdx) = &self.tdx {
            if let Some(i) = tdx.accepted_tcb_statuses.iter().position(|s| *s == TcbStatus::Revoked) {
                return Err(PolicyError::Invalid(format!(
                    "tdx.accepted_tcb_statuses[{i}] is Revoked, which is never accepted"
                )));
            }
            if let Some(i) = tdx.accepted_advisories.iter().position(|a| a.trim().is_empty()) {
                return Err(PolicyError::Invalid(format!("tdx.accepted_advisories[{i}] is empty")));
            }
        }
        Ok(())
    }

    /// Judges the RIMs an appraisal used: NVIDIA's known test RIMs are refused unless
    /// `gpu.allow_test_rims`, and with `gpu.accepted_rims` set every RIM must be listed (by digest or tag
    /// id). `Ok(description)` or `Err(reason)`.
    pub fn judge_rims(&self, rims: &[RimRef<'_>]) -> Result<String, String> {
        let g = &self.gpu;
        for rim in rims {
            let digest = hex::encode(rim.digest);
            if let Some(name) = crate::nvidia::rim::known_test_rim(rim.digest)
                && !g.allow_test_rims
            {
                return Err(format!(
                    "the {} RIM sha384:{digest} is NVIDIA's test RIM {name}: refused (policy gpu.allow_test_rims)",
                    rim.kind
                ));
            }
            if !g.accepted_rims.is_empty() {
                let by_digest = g
                    .accepted_rims
                    .iter()
                    .any(|a| a.strip_prefix("sha384:").is_some_and(|h| h.eq_ignore_ascii_case(&digest)));
                let by_tag =
                    rim.tag_id.is_some_and(|t| g.accepted_rims.iter().any(|a| a.strip_prefix("tag:") == Some(t)));
                if !by_digest && !by_tag {
                    return Err(format!(
                        "the {} RIM sha384:{digest} (tag {}) is not in gpu.accepted_rims",
                        rim.kind,
                        rim.tag_id.unwrap_or("unreadable")
                    ));
                }
            }
        }
        Ok(match (g.accepted_rims.is_empty(), rims.len()) {
            (_, 0) => "no RIM to judge".to_owned(),
            (true, _) => "no RIM pinned by the policy; no known test RIM".to_owned(),
            (false, n) => format!("{n} RIM(s) in gpu.accepted_rims"),
        })
    }

    /// SHA-384 of the canonical JSON of the effective policy, hex.
    pub fn digest(&self) -> String {
        // Serialising plain structs of strings, numbers and booleans cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(crate::crypto::sha384(&json))
    }

    /// Judges the GPU's driver and VBIOS versions; `Ok(description)` or `Err(reason)`.
    pub fn judge_gpu_versions(&self, driver: Option<&str>, vbios: Option<&str>) -> Result<String, String> {
        let g = &self.gpu;
        let mut rules = Vec::new();
        if !g.allowed_driver_versions.is_empty() || g.min_driver_version.is_some() {
            let d = driver.ok_or("the report does not state a driver version")?;
            if !g.allowed_driver_versions.is_empty() && !g.allowed_driver_versions.iter().any(|a| a == d) {
                return Err(format!("driver {d} is not in allowed_driver_versions {:?}", g.allowed_driver_versions));
            }
            if let Some(min) = &g.min_driver_version {
                at_least(d, min, 10).map_err(|e| format!("driver {e}"))?;
            }
            rules.push(format!("driver {d}"));
        }
        if !g.allowed_vbios_versions.is_empty() || g.min_vbios_version.is_some() {
            let v = vbios.ok_or("the report does not state a VBIOS version")?;
            if !g.allowed_vbios_versions.is_empty()
                && !g.allowed_vbios_versions.iter().any(|a| a.eq_ignore_ascii_case(v))
            {
                return Err(format!("VBIOS {v} is not in allowed_vbios_versions {:?}", g.allowed_vbios_versions));
            }
            if let Some(min) = &g.min_vbios_version {
                at_least(v, min, 16).map_err(|e| format!("VBIOS {e}"))?;
            }
            rules.push(format!("VBIOS {v}"));
        }
        Ok(if rules.is_empty() {
            "no version rules in the policy".into()
        } else {
            format!("{} allowed by the policy", rules.join(", "))
        })
    }
}

fn at_least(version: &str, min: &str, radix: u32) -> Result<(), String> {
    let (Some(v), Some(m)) = (DottedVersion::parse(version, radix), DottedVersion::parse(min, radix)) else {
        return Err(format!("{version} cannot be compared with {min}"));
    };
    if v < m { Err(format!("{version} is below the minimum {min}")) } else { Ok(()) }
}

/// A dotted version compared component by component as numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DottedVersion(Vec<u64>);

impl DottedVersion {
    fn parse(s: &str, radix: u32) -> Option<Self> {
        let parts: Option<Vec<u64>> = s.split('.').map(|p| u64::from_str_radix(p, radix).ok()).collect();
        parts.filter(|p| !p.is_empty() && p.len() <= 8).map(Self)
    }
}

impl fmt::Display for DottedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_strict_and_digest_is_stable() {
        let p = Policy::default();
        assert!(!p.gpu.allow_missing_fwid && !p.gpu.allow_cc_dev_tools && !p.ocsp.allow_hold && !p.ocsp.allow_unknown);
        assert_eq!(Policy::parse("").expect("empty TOML is the default"), p);
        assert_eq!(Policy::parse("{}").expect("empty JSON is the default").digest(), p.digest());
        assert_ne!(Policy::parse("[ocsp]\nallow_hold = true\n").expect("toml").digest(), p.digest());
    }

    #[test]
    fn unknown_fields_and_bad_versions_are_refused() {
        assert!(matches!(Policy::parse("[gpu]\nallow_missing_fwd = true\n"), Err(PolicyError::Toml(_))));
        assert!(matches!(Policy::parse("{\"gpu\": {\"min_driver_version\": \"x.y\"}}"), Err(PolicyError::Invalid(_))));
    }

    #[test]
    fn versions_compare_numerically() {
        let p = Policy::parse("[gpu]\nmin_driver_version = \"550.90\"\nmin_vbios_version = \"96.00.9F.00.00\"\n")
            .expect("toml");
        assert!(p.judge_gpu_versions(Some("550.90.07"), Some("96.00.9F.00.01")).is_ok());
        assert_eq!(
            p.judge_gpu_versions(Some("550.54.14"), Some("96.00.9F.00.01")),
            Err("driver 550.54.14 is below the minimum 550.90".into())
        );
        assert!(p.judge_gpu_versions(Some("550.100.1"), Some("96.00.A0.00.00")).is_ok(), "100 > 90 and A0 > 9F");
        assert!(p.judge_gpu_versions(Some("550.90.07"), Some("96.00.5E.00.01")).is_err());
        let exact = Policy::parse("[gpu]\nallowed_driver_versions = [\"550.90.07\"]\n").expect("toml");
        assert!(exact.judge_gpu_versions(Some("550.90.07"), None).is_ok());
        assert!(exact.judge_gpu_versions(Some("550.90.08"), None).is_err());
    }

    #[test]
    fn a_tdx_table_next_to_snp_is_parsed_into_the_tdx_policy() {
        let mrtd = "ab".repeat(48);
        let text = format!(
            "[snp]\nallow_debug = false\n\n[tdx]\nmrtd = [\"{mrtd}\"]\naccepted_tcb_statuses = [\"UpToDate\", \"SWHardeningNeeded\"]\n"
        );
        let p = Policy::parse(&text).expect("snp and tdx in one file");
        let tdx = p.tdx.as_ref().expect("[tdx] kept");
        assert_eq!(tdx.mrtd.as_ref().map(Vec::len), Some(1));
        assert_eq!(tdx.accepted_tcb_statuses, [TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded]);
        assert!(tdx.require_sept_ve_disable, "unset fields keep their strict defaults");
        // The same in JSON, and the pin changes the digest.
        let json = format!(r#"{{"tdx": {{"mrtd": ["{mrtd}"]}}}}"#);
        assert_eq!(Policy::parse(&json).expect("json").tdx.and_then(|t| t.mrtd), tdx.mrtd.clone());
        assert_ne!(p.digest(), Policy { tdx: None, ..p.clone() }.digest());
    }

    #[test]
    fn without_a_tdx_table_the_canonical_form_and_digest_are_unchanged() {
        let p = Policy::parse("[snp]\nallow_debug = false\n").expect("snp only");
        assert_eq!(p.tdx, None);
        let json = serde_json::to_value(&p).expect("json");
        let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["bundle", "gpu", "ocsp", "snp"]);
        // An empty [tdx] table is kept (the defaults, stated) and is part of the digest.
        let empty = Policy::parse("[tdx]\n").expect("empty tdx");
        assert_eq!(empty.tdx, Some(TdxPolicy::default()));
        assert_ne!(empty.digest(), Policy::default().digest());
    }

    #[test]
    fn a_malformed_tdx_table_is_refused_naming_the_field() {
        for (text, needle) in [
            ("[tdx]\nmrtd_typo = []\n", "mrtd_typo"),
            ("[tdx]\nrtmr1 = \"abc\"\n", "rtmr1"),
            ("[tdx]\naccepted_tcb_statuses = [\"Fine\"]\n", "Fine"),
            ("[tdx]\naccepted_tcb_statuses = [\"UpToDate\", \"Revoked\"]\n", "accepted_tcb_statuses[1]"),
            ("[tdx]\naccepted_advisories = [\" \"]\n", "accepted_advisories[0]"),
            ("[tdx]\nrequire_sept_ve_disable = \"no\"\n", "require_sept_ve_disable"),
        ] {
            let e = Policy::parse(text).expect_err(text);
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }
}
