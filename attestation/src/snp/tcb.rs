//! TCB versions: the security version numbers (SPLs) of the AMD Secure Processor's firmware components
//! that a report states and that a VCEK/VLEK certifies.
//!
//! Milan and Genoa encode a TCB as `[bootloader, tee, 0, 0, 0, 0, snp, microcode]`; Turin adds the FMC and
//! packs `[fmc, bootloader, tee, snp, 0, 0, 0, microcode]`. The `sev` crate decodes both; this type is ours
//! so that it can be compared, printed and written in a policy file.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One TCB version (the SPL of every component).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcb {
    /// AMD Secure Processor bootloader SPL.
    pub bootloader: u8,
    /// AMD Secure Processor OS (TEE) SPL.
    pub tee: u8,
    /// SEV-SNP firmware SPL.
    pub snp: u8,
    /// Lowest microcode patch level of all cores.
    pub microcode: u8,
    /// Firmware Mezzanine Controller SPL (Turin and later only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

impl Tcb {
    /// The components of `self` that are below `min`, as `name self < min` texts. A minimum that names an
    /// FMC SPL is not met by a TCB without one.
    pub fn below(&self, min: &Tcb) -> Vec<String> {
        let mut out = Vec::new();
        for (name, have, want) in [
            ("bootloader", self.bootloader, min.bootloader),
            ("tee", self.tee, min.tee),
            ("snp", self.snp, min.snp),
            ("microcode", self.microcode, min.microcode),
        ] {
            if have < want {
                out.push(format!("{name} {have} < {want}"));
            }
        }
        match (self.fmc, min.fmc) {
            (Some(have), Some(want)) if have < want => out.push(format!("fmc {have} < {want}")),
            (None, Some(want)) => out.push(format!("fmc absent, policy requires {want}")),
            _ => {}
        }
        out
    }
}

impl From<sev::firmware::host::TcbVersion> for Tcb {
    fn from(t: sev::firmware::host::TcbVersion) -> Self {
        Self { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, fmc: t.fmc }
    }
}

impl fmt::Display for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc {fmc}, ")?;
        }
        write!(f, "bootloader {}, tee {}, snp {}, microcode {}", self.bootloader, self.tee, self.snp, self.microcode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_names_every_short_component() {
        let have = Tcb { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: None };
        assert!(have.below(&have).is_empty());
        let min = Tcb { bootloader: 4, tee: 0, snp: 8, microcode: 200, fmc: Some(1) };
        assert_eq!(have.below(&min), ["bootloader 3 < 4", "microcode 115 < 200", "fmc absent, policy requires 1"]);
        assert_eq!(have.to_string(), "bootloader 3, tee 0, snp 8, microcode 115");
    }
}
