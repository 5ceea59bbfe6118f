//! Comparing a report's runtime measurements with the golden values of the driver and VBIOS RIMs.
//!
//! Trusts its golden values only because they come from [`VerifiedRim`]s. The golden list is the union of
//! the active measurements of both RIMs; an index active in both is an error (NVIDIA's
//! `vbios-index-no-conflict`). Golden index `i` is compared with the SPDM block of index `i + 1`; a
//! measurement matches when any of its alternatives equals the runtime value (same size). When NVDEC0 is
//! disabled, golden index 35 is not required to match.

use std::fmt;

use serde::Serialize;

use crate::nvidia::rim::VerifiedRim;
use crate::nvidia::spdm::{AttestationReport, Nvdec0Status};

/// The golden index NVIDIA exempts when NVDEC0 is disabled.
pub const NVDEC0_INDEX: usize = 35;

/// Which RIM a golden value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The driver RIM.
    Driver,
    /// The VBIOS RIM.
    Vbios,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Driver => "driver",
            Self::Vbios => "VBIOS",
        })
    }
}

/// One golden value that the report does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Golden index (SPDM block `index + 1`).
    pub index: usize,
    /// RIM the golden value came from.
    pub source: Source,
    /// Runtime value, hex (absent when the report has no such block).
    pub found: Option<String>,
    /// Acceptable values, hex.
    pub expected: Vec<String>,
}

/// Result of comparing every active golden value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Active golden values per source: (driver, VBIOS).
    pub active: (usize, usize),
    /// Of those, how many matched: (driver, VBIOS).
    pub matched: (usize, usize),
    /// Golden indexes exempted (NVDEC0 disabled), with whether they happened to match anyway.
    pub exempt: Vec<(usize, bool)>,
    /// Every mismatch.
    pub mismatches: Vec<Mismatch>,
}

impl Comparison {
    /// Human summary, e.g. `driver 21/21, VBIOS 12/12 golden values match`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "driver {}/{}, VBIOS {}/{} golden values match",
            self.matched.0, self.active.0, self.matched.1, self.active.1
        );
        for (index, matched) in &self.exempt {
            let how = if *matched { "matches anyway" } else { "not compared" };
            s.push_str(&format!("; index {index} exempt (NVDEC0 disabled, {how})"));
        }
        s
    }
}

/// Golden indexes active in both RIMs (must be empty).
pub fn index_conflicts(driver: &VerifiedRim, vbios: &VerifiedRim) -> Vec<usize> {
    let mut out: Vec<usize> = driver
        .golden
        .iter()
        .filter(|d| d.active && vbios.golden.iter().any(|v| v.active && v.index == d.index))
        .map(|d| d.index)
        .collect();
    out.sort_unstable();
    out
}

/// Compares every active golden value of both RIMs with the report.
pub fn compare(report: &AttestationReport, driver: &VerifiedRim, vbios: &VerifiedRim) -> Comparison {
    compare_sources(report, &[(Source::Driver, driver), (Source::Vbios, vbios)])
}

/// Compares every active golden value of a VBIOS RIM alone with the report (an NVSwitch has no driver
/// RIM; the driver counts stay 0/0).
pub fn compare_vbios(report: &AttestationReport, vbios: &VerifiedRim) -> Comparison {
    compare_sources(report, &[(Source::Vbios, vbios)])
}

fn compare_sources(report: &AttestationReport, rims: &[(Source, &VerifiedRim)]) -> Comparison {
    let nvdec0_disabled = report.opaque().nvdec0_status == Some(Nvdec0Status::Disabled);
    let mut out = Comparison::default();
    for &(source, rim) in rims {
        for golden in rim.golden.iter().filter(|g| g.active) {
            let runtime = report.measurement(golden.index);
            let matched = runtime
                .is_some_and(|r| r.len() == golden.size && golden.alternatives.iter().any(|a| a.as_slice() == r));
            let (active, hits) = match source {
                Source::Driver => (&mut out.active.0, &mut out.matched.0),
                Source::Vbios => (&mut out.active.1, &mut out.matched.1),
            };
            *active += 1;
            if matched {
                *hits += 1;
            }
            if nvdec0_disabled && golden.index == NVDEC0_INDEX {
                out.exempt.push((golden.index, matched));
                continue;
            }
            if !matched {
                out.mismatches.push(Mismatch {
                    index: golden.index,
                    source,
                    found: runtime.map(hex::encode),
                    expected: golden.alternatives.iter().map(hex::encode).collect(),
                });
            }
        }
    }
    out
}
