//! The SEV-SNP appraisal policy: what "acceptable" means for a guest beyond the checks that are never
//! optional (report structure and reserved fields, the AMD chain, the report signature, the VCEK/VLEK
//! TCB and hwID binding).
//!
//! Every field defaults to the strict choice: debug guests and migration agents are refused, an expected
//! REPORT_DATA is required, and fields that name reference values (VMPL, minimum TCB, measurements, host
//! data) constrain nothing until set. SMT is allowed by default because every SNP guest we have seen sets
//! it; a policy that needs SMT off says so. Unknown fields are refused, so a typo cannot silently loosen a
//! policy.
//!
//! ```json
//! { "allow_debug": false, "vmpl": 0,
//!   "min_tcb": { "milan": { "bootloader": 3, "tee": 0, "snp": 8, "microcode": 115 } },
//!   "measurements": ["6b0e…(96 hex digits)"], "host_data": "00…(64 hex digits)" }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::product::Product;
use super::tcb::Tcb;

/// Policy for one SEV-SNP guest's appraisal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnpPolicy {
    /// Accept a guest whose policy allows debugging (guest policy bit 19): the host can then read and
    /// write its memory. Default false; ccgpu never releases a workload to such a guest unless told to.
    pub allow_debug: bool,
    /// Accept a guest that may be associated with a migration agent (bit 18). Default false.
    pub allow_migration_agent: bool,
    /// Accept a guest that allows the host to use SMT (bit 16). Default true.
    pub allow_smt: bool,
    /// Require the caller to pass an expected REPORT_DATA (the nonce binding). Default true: without one
    /// the report is not bound to this verification and could be a replay.
    pub require_report_data: bool,
    /// The VMPL the report must have been requested from (0 = the most privileged). Default: any.
    pub vmpl: Option<u32>,
    /// Minimum reported TCB per product; a report from a product missing here is refused when the map is
    /// not empty. Default: none.
    pub min_tcb: BTreeMap<Product, Tcb>,
    /// Launch measurements accepted. Default: any (`None`); an empty list accepts none.
    pub measurements: Option<Vec<Measurement>>,
    /// HOST_DATA the guest must have been launched with. Default: any.
    pub host_data: Option<HostData>,
}

impl Default for SnpPolicy {
    fn default() -> Self {
        Self {
            allow_debug: false,
            allow_migration_agent: false,
            allow_smt: true,
            require_report_data: true,
            vmpl: None,
            min_tcb: BTreeMap::new(),
            measurements: None,
            host_data: None,
        }
    }
}

/// A 48-byte launch measurement, written as 96 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measurement(pub [u8; 48]);

/// 32 bytes of HOST_DATA, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostData(pub [u8; 32]);

macro_rules! hex_newtype {
    ($ty:ident, $len:literal) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), hex::encode(self.0))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                let bytes = hex::decode(s.trim()).map_err(|e| format!("not hex: {e}"))?;
                let array: [u8; $len] =
                    bytes.try_into().map_err(|b: Vec<u8>| format!("{} bytes, expected {}", b.len(), $len))?;
                Ok(Self(array))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(|e: String| D::Error::custom(format!("{}: {e}", stringify!($ty))))
            }
        }
    };
}

hex_newtype!(Measurement, 48);
hex_newtype!(HostData, 32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_strict_and_unknown_fields_are_refused() {
        let p: SnpPolicy = serde_json::from_str("{}").expect("empty policy");
        assert_eq!(p, SnpPolicy::default());
        assert!(!p.allow_debug && !p.allow_migration_agent && p.require_report_data);
        let err = serde_json::from_str::<SnpPolicy>(r#"{"allow_debg": true}"#).expect_err("refused");
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = serde_json::from_str::<SnpPolicy>(r#"{"min_tcb": {"venice": {}}}"#).expect_err("refused");
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    #[test]
    fn reference_values_parse_from_hex() {
        let m = "ab".repeat(48);
        let json = format!(
            r#"{{"vmpl": 0, "measurements": ["{m}"], "host_data": "{}",
                "min_tcb": {{"genoa": {{"bootloader": 10, "tee": 0, "snp": 27, "microcode": 27}}}}}}"#,
            "00".repeat(32)
        );
        let p: SnpPolicy = serde_json::from_str(&json).expect("policy");
        assert_eq!(p.vmpl, Some(0));
        assert_eq!(p.measurements, Some(vec![Measurement([0xab; 48])]));
        assert_eq!(p.host_data, Some(HostData([0; 32])));
        assert_eq!(p.min_tcb[&Product::Genoa].snp, 27);
        let back: SnpPolicy = serde_json::from_str(&serde_json::to_string(&p).expect("json")).expect("round trip");
        assert_eq!(back, p);
        let err = serde_json::from_str::<SnpPolicy>(r#"{"host_data": "00"}"#).expect_err("refused");
        assert!(err.to_string().contains("1 bytes, expected 32"), "{err}");
    }
}
