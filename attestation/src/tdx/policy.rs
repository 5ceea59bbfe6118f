//! The TDX appraisal policy: what "acceptable" means for a TD beyond the checks that are never optional
//! (quote structure, the PCK chain, CRLs, the QE report and quote signatures, the collateral signatures
//! and validity, QE identity and TCB level matching).
//!
//! A debug TD (TDATTRIBUTES.DEBUG) is always refused: the host can read and write its memory and no
//! policy can change that. Every other field defaults to the strict choice: SEPT_VE_DISABLE must be on,
//! no service TD may be bound, an expected REPORT_DATA is required, only `UpToDate` is accepted, and no
//! advisory is accepted. Fields that name reference values (attributes, XFAM, MRTD, RTMRs, MRCONFIGID,
//! MROWNER, MROWNERCONFIG) constrain nothing until set; without a pinned MRTD the verdict is at most
//! `warning`. Unknown fields are refused.
//!
//! ```toml
//! [tdx]
//! mrtd = ["<96 hex digits>"]
//! rtmr1 = "<96 hex digits>"
//! accepted_tcb_statuses = ["UpToDate", "SWHardeningNeeded"]
//! accepted_advisories = ["INTEL-SA-00837"]
//! ```

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tcb_status::TcbStatus;

/// Policy for one TD's appraisal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TdxPolicy {
    /// Require SEPT_VE_DISABLE (TDATTRIBUTES bit 28): without it the host can inject #VE on pending
    /// pages into a TD that did not opt in. Default true.
    pub require_sept_ve_disable: bool,
    /// Accept a non-zero MRSERVICETD (a service TD bound to this TD, e.g. a migration TD). Default false.
    pub allow_service_td: bool,
    /// Require the caller to pass an expected REPORT_DATA. Default true.
    pub require_report_data: bool,
    /// TDATTRIBUTES must equal this value (16 hex digits, the report's little-endian bytes). Default: any
    /// non-debug attributes without reserved bits.
    pub td_attributes: Option<Hex<8>>,
    /// XFAM must equal this value (16 hex digits). Default: any.
    pub xfam: Option<Hex<8>>,
    /// MRTD values accepted. Default: any (`None`, verdict at most `warning`); an empty list accepts none.
    pub mrtd: Option<Vec<Hex<48>>>,
    /// RTMR0 pin.
    pub rtmr0: Option<Hex<48>>,
    /// RTMR1 pin.
    pub rtmr1: Option<Hex<48>>,
    /// RTMR2 pin.
    pub rtmr2: Option<Hex<48>>,
    /// RTMR3 pin.
    pub rtmr3: Option<Hex<48>>,
    /// MRCONFIGID pin.
    pub mr_config_id: Option<Hex<48>>,
    /// MROWNER pin.
    pub mr_owner: Option<Hex<48>>,
    /// MROWNERCONFIG pin.
    pub mr_owner_config: Option<Hex<48>>,
    /// TCB statuses accepted. Default `["UpToDate"]`. `Revoked` is never accepted. An accepted status other
    /// than `UpToDate` makes the verdict at most `warning`.
    pub accepted_tcb_statuses: Vec<TcbStatus>,
    /// Advisory ids accepted; a TCB level naming any other advisory is refused. Default: none.
    pub accepted_advisories: Vec<String>,
}

impl Default for TdxPolicy {
    fn default() -> Self {
        Self {
            require_sept_ve_disable: true,
            allow_service_td: false,
            require_report_data: true,
            td_attributes: None,
            xfam: None,
            mrtd: None,
            rtmr0: None,
            rtmr1: None,
            rtmr2: None,
            rtmr3: None,
            mr_config_id: None,
            mr_owner: None,
            mr_owner_config: None,
            accepted_tcb_statuses: vec![TcbStatus::UpToDate],
            accepted_advisories: Vec::new(),
        }
    }
}

impl TdxPolicy {
    /// The RTMR pins, RTMR0 first.
    pub fn rtmrs(&self) -> [Option<&Hex<48>>; 4] {
        [self.rtmr0.as_ref(), self.rtmr1.as_ref(), self.rtmr2.as_ref(), self.rtmr3.as_ref()]
    }
}

/// A fixed-length value written as hex (either case).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hex<const N: usize>(pub [u8; N]);

impl<const N: usize> fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl<const N: usize> fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({self})")
    }
}

impl<const N: usize> Serialize for Hex<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(|e| D::Error::custom(format!("{s:?} is not hex: {e}")))?;
        let len = v.len();
        v.try_into().map(Hex).map_err(|_| D::Error::custom(format!("{len} bytes, expected {N}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tdx_table_of_a_policy_file() {
        let toml = "[snp]\nallow_debug = false\n[tdx]\nrequire_sept_ve_disable = false\naccepted_tcb_statuses = [\"UpToDate\", \"OutOfDate\"]\nrtmr1 = \"".to_owned()
            + &"ab".repeat(48)
            + "\"\n";
        let tdx = |text: &str| crate::Policy::parse(text).map(|p| p.tdx.unwrap_or_default());
        let p = tdx(&toml).expect("parses");
        assert!(!p.require_sept_ve_disable);
        assert_eq!(p.accepted_tcb_statuses, vec![TcbStatus::UpToDate, TcbStatus::OutOfDate]);
        assert_eq!(p.rtmr1, Some(Hex([0xab; 48])));
        assert_eq!(tdx("{}").expect("json"), TdxPolicy::default());
        for bad in ["[tdx]\nallow_debug = true\n", "[tdx]\nmrtd = [\"00\"]\n", "{\"tdx\": {\"xfam\": 3}}"] {
            assert!(tdx(bad).is_err(), "{bad}");
        }
    }
}
