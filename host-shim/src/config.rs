//! Configuration of the node layer: OS roots, which devices we manage, how they are handed to the
//! container runtime, and the time budgets.
//!
//! Every OS location is a field here (sysfs, `/dev`, `/proc`, the CDI and checkpoint directories); no
//! module below builds a path from a literal root. Values come from the operator (flags, environment),
//! which we trust to configure us but still parse strictly.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ccgpu_pci::PciDevice;
use ccgpu_pci::ids::{CLASS_3D_CONTROLLER, CLASS_NVSWITCH, CLASS_VGA, NVIDIA_VENDOR};
use serde::{Deserialize, Serialize};

use crate::names::DeviceKind;

/// The OS locations the node layer reads and writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePaths {
    /// sysfs root (`/sys`).
    pub sysfs: PathBuf,
    /// Device-node root we open VFIO nodes under (`/dev`).
    pub dev: PathBuf,
    /// procfs root (`/proc`): boot id, open GPU handles.
    pub proc: PathBuf,
    /// Where CDI specs go (`/var/run/cdi`).
    pub cdi_dir: PathBuf,
    /// Where the claim checkpoint lives (`/var/lib/ccgpu`).
    pub checkpoint_dir: PathBuf,
    /// The device-node root as the container runtime sees it, written into CDI specs (`/dev`). Differs
    /// from [`NodePaths::dev`] only when we run with the host's `/dev` mounted elsewhere.
    pub cdi_dev_root: PathBuf,
}

impl Default for NodePaths {
    fn default() -> Self {
        Self {
            sysfs: "/sys".into(),
            dev: "/dev".into(),
            proc: "/proc".into(),
            cdi_dir: "/var/run/cdi".into(),
            checkpoint_dir: "/var/lib/ccgpu".into(),
            cdi_dev_root: "/dev".into(),
        }
    }
}

/// One device-matching rule: a vendor id and a 16-bit class (base class + subclass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRule {
    /// PCI vendor id.
    pub vendor: u16,
    /// Base class and subclass (`0x0302`).
    pub class16: u16,
}

impl MatchRule {
    /// The kind of device this rule selects: NVSwitch for [`CLASS_NVSWITCH`], GPU otherwise.
    pub fn kind(self) -> DeviceKind {
        if self.class16 == CLASS_NVSWITCH { DeviceKind::Nvswitch } else { DeviceKind::Gpu }
    }
}

/// Which PCI functions the node layer manages: any function matching one of the rules.
///
/// Parsed from `VENDOR:CLASS[,VENDOR:CLASS…]` in hex (`10de:0302,10de:0300,10de:0680`, the default). The
/// rule is configurable so the real-kernel test can select emulated devices through the same code path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMatch {
    rules: Vec<MatchRule>,
}

/// Why a match rule or CDI kind did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not `VENDOR:CLASS` pairs of 4-digit hex.
    #[error("{input:?} is not a list of VENDOR:CLASS pairs in 4-digit hex (e.g. 10de:0302,10de:0680)")]
    MatchRule {
        /// The refused input.
        input: String,
    },
    /// Not a CDI kind `vendor/class`.
    #[error("CDI kind {input:?}: {reason}")]
    CdiKind {
        /// The refused input.
        input: String,
        /// What is wrong with it, naming the part (`the vendor "1x.dev" must start with a letter`).
        reason: String,
    },
}

impl DeviceMatch {
    /// The rules.
    pub fn rules(&self) -> &[MatchRule] {
        &self.rules
    }

    /// The kind of device `d` is, when a rule matches it.
    pub fn classify(&self, d: &PciDevice) -> Option<DeviceKind> {
        self.rules.iter().find(|r| r.vendor == d.vendor && r.class16 == d.class.class16()).map(|r| r.kind())
    }
}

impl Default for DeviceMatch {
    /// NVIDIA's GPUs (3D and VGA controllers) and NVSwitches: `10de:0302,10de:0300,10de:0680`.
    fn default() -> Self {
        let rule = |class16| MatchRule { vendor: NVIDIA_VENDOR, class16 };
        Self { rules: vec![rule(CLASS_3D_CONTROLLER), rule(CLASS_VGA), rule(CLASS_NVSWITCH)] }
    }
}

impl FromStr for DeviceMatch {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || ConfigError::MatchRule { input: s.chars().take(200).collect() };
        let hex4 = |t: &str| {
            (t.len() == 4 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u16::from_str_radix(t, 16).ok())
                .flatten()
        };
        let mut rules = Vec::new();
        for pair in s.split(',') {
            let (v, c) = pair.trim().split_once(':').ok_or_else(refuse)?;
            rules.push(MatchRule { vendor: hex4(v).ok_or_else(refuse)?, class16: hex4(c).ok_or_else(refuse)? });
        }
        Ok(Self { rules })
    }
}

impl fmt::Display for DeviceMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.rules.iter().map(|r| format!("{:04x}:{:04x}", r.vendor, r.class16)).collect();
        f.write_str(&parts.join(","))
    }
}

/// Which VFIO device nodes a prepared device is handed over as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VfioNodes {
    /// The iommufd character device `/dev/vfio/devices/vfioN`: what confidential guests require (Kata
    /// refuses the legacy group node for CC). The default. `/dev/iommu` is named only when
    /// [`NodeConfig::cdi_iommu_device`] asks for it.
    Iommufd,
    /// The legacy group node `/dev/vfio/<group>` plus `/dev/vfio/vfio`: only for non-CC use, or
    /// kernels older than 6.6 without VFIO cdevs.
    LegacyGroup,
}

/// A CDI kind, `vendor/class` (`ccgpu.dev/gpu`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdiKind {
    vendor: String,
    class: String,
}

impl CdiKind {
    /// The vendor part (`ccgpu.dev`).
    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    /// The class part (`gpu`).
    pub fn class(&self) -> &str {
        &self.class
    }
}

impl Default for CdiKind {
    fn default() -> Self {
        Self { vendor: "ccgpu.dev".into(), class: "gpu".into() }
    }
}

impl fmt::Display for CdiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.vendor, self.class)
    }
}

impl FromStr for CdiKind {
    type Err = ConfigError;

    /// The CDI specification's rules (container-device-interface `parser.ValidateVendorName` and
    /// `ValidateClassName`): each part starts with a letter and ends with a letter or digit; the vendor
    /// is a domain-like name of letters, digits, `-`, `_` and `.`; the class is letters, digits, `-` and
    /// `_` (older CDI versions refuse a `.` in the class, so we do too). At most 63 characters each.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |reason: String| ConfigError::CdiKind { input: s.chars().take(200).collect(), reason };
        let (vendor, class) =
            s.split_once('/').ok_or_else(|| refuse("no '/' between the vendor and the class".to_owned()))?;
        check_kind_part("vendor", vendor, &['-', '_', '.']).map_err(refuse)?;
        check_kind_part("class", class, &['-', '_']).map_err(refuse)?;
        Ok(Self { vendor: vendor.to_owned(), class: class.to_owned() })
    }
}

/// Why `value`, the `part` (vendor or class) of a CDI kind, breaks the CDI rules, if it does; `inner`
/// are the punctuation characters allowed after the first and before the last.
fn check_kind_part(part: &str, value: &str, inner: &[char]) -> Result<(), String> {
    let shown: String = value.chars().take(80).collect();
    let first = value.chars().next().ok_or_else(|| format!("the {part} is empty"))?;
    if !first.is_ascii_alphabetic() {
        return Err(format!("the {part} {shown:?} must start with a letter"));
    }
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_alphanumeric() && !inner.contains(c)) {
        let allowed: Vec<String> = inner.iter().map(|c| format!("{c:?}")).collect();
        return Err(format!(
            "the {part} {shown:?} has the character {bad:?}; allowed are letters, digits and {}",
            allowed.join(", ")
        ));
    }
    if !value.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("the {part} {shown:?} must end with a letter or digit"));
    }
    if value.len() > 63 {
        return Err(format!("the {part} {shown:?} is longer than 63 characters"));
    }
    Ok(())
}

/// Time budgets.
///
/// One deadline, [`Budgets::total`] from the moment the kubelet's call reaches us, bounds everything a
/// claim's NodePrepareResources does: reading the claim from the API server, waiting for another call of
/// the same claim, the node work and, if that fails, the rollback. The forward work stops
/// [`Budgets::rollback`] before the end, so a rollback always has that much left. The default total (30 s)
/// leaves the kubelet's 45 s per call room for the answer; NodeUnprepareResources has the same total.
/// The other budgets bound single steps and are capped by what is left of the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// The whole prepare (or unprepare) of one claim, rollback included.
    pub total: Duration,
    /// The part of `total` kept for rolling back a failed prepare.
    pub rollback: Duration,
    /// Waiting for open `/dev/nvidiaN` handles on a GPU to go away.
    pub in_use: Duration,
    /// Waiting for one function to show up on its new driver after a probe.
    pub driver_switch: Duration,
    /// One sysfs write (`driver_override`, `unbind`, `drivers_probe`), run on a helper thread.
    pub sysfs_write: Duration,
    /// Poll interval of those waits.
    pub poll: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            total: Duration::from_secs(30),
            rollback: Duration::from_secs(10),
            in_use: Duration::from_secs(5),
            driver_switch: Duration::from_secs(5),
            sysfs_write: Duration::from_secs(10),
            poll: Duration::from_millis(20),
        }
    }
}

/// Everything the node layer is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// OS locations.
    pub paths: NodePaths,
    /// Which functions we manage.
    pub matching: DeviceMatch,
    /// How prepared devices are handed over.
    pub vfio_nodes: VfioNodes,
    /// The CDI kind our specs declare.
    pub cdi_kind: CdiKind,
    /// Whether each CDI spec names `/dev/iommu` (under [`NodePaths::cdi_dev_root`]), once, in its
    /// spec-wide `containerEdits`. Off by default: Kata's QEMU opens `/dev/iommu` itself, and a runtime
    /// given the node passes it into the guest as a stray device. For runtimes that hand the VFIO cdev
    /// to a container process which then needs the iommufd node too (the role of NVIDIA's
    /// `enableAPIDevice`).
    pub cdi_iommu_device: bool,
    /// Time budgets.
    pub budgets: Budgets,
    /// Device health polling, timeout and resend intervals (see [`crate::health`]).
    pub health: crate::health::HealthTiming,
    /// How long opening the node layer waits for the node lock that another process holds: zero (the
    /// default) fails at once; a rolling update's new plugin instance waits while the old one drains
    /// (deploy/README.md, "Rolling updates").
    pub lock_wait: Duration,
    /// This process's instance id (the plugin pod's UID), written into the node lock file once held, so
    /// the next holder knows whose sockets a crashed holder left behind.
    pub instance: Option<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            paths: NodePaths::default(),
            matching: DeviceMatch::default(),
            vfio_nodes: VfioNodes::Iommufd,
            cdi_kind: CdiKind::default(),
            cdi_iommu_device: false,
            budgets: Budgets::default(),
            health: crate::health::HealthTiming::default(),
            lock_wait: Duration::ZERO,
            instance: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_rules_parse_and_print() {
        let m = DeviceMatch::default();
        assert_eq!(m.to_string(), "10de:0302,10de:0300,10de:0680");
        assert_eq!(m.to_string(), crate::plugin::defaults::MATCH, "the flag's default is the same rule set");
        assert_eq!(m.rules()[2].kind(), DeviceKind::Nvswitch);
        let vm: DeviceMatch = "8086:0200, 1234:00ff".parse().expect("valid");
        assert_eq!(vm.rules().len(), 2);
        for bad in ["", "10de", "10de:302", "10de:0302,", "zzzz:0302", "10de:0302:1"] {
            assert!(bad.parse::<DeviceMatch>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_claim_budget_fits_the_kubelets_call_with_room_for_the_rollback() {
        let b = Budgets::default();
        // The kubelet gives a call 45 s; the service answers at most 2 s after the claim's deadline.
        assert!(b.total + Duration::from_secs(2) < Duration::from_secs(45));
        // A rollback can wait out one driver switch; the forward work one handle wait and one switch.
        assert!(b.driver_switch <= b.rollback && b.rollback < b.total);
        assert!(b.in_use + b.driver_switch <= b.total - b.rollback);
    }

    #[test]
    fn a_cdi_vendor_and_class_start_with_a_letter() {
        for (input, reason) in [
            ("1ccgpu.dev/gpu", r#"the vendor "1ccgpu.dev" must start with a letter"#),
            ("_ccgpu.dev/gpu", r#"the vendor "_ccgpu.dev" must start with a letter"#),
            ("ccgpu.dev/0gpu", r#"the class "0gpu" must start with a letter"#),
            ("ccgpu.dev/-gpu", r#"the class "-gpu" must start with a letter"#),
            // The other rules, each with the part and its value named.
            (
                "ccgpu dev/gpu",
                r#"the vendor "ccgpu dev" has the character ' '; allowed are letters, digits and '-', '_', '.'"#,
            ),
            ("ccgpu.dev/g.pu", r#"the class "g.pu" has the character '.'; allowed are letters, digits and '-', '_'"#),
            ("ccgpu.dev/gpu/x", r#"the class "gpu/x" has the character '/'; allowed are letters, digits and '-', '_'"#),
            ("ccgpu./gpu", r#"the vendor "ccgpu." must end with a letter or digit"#),
            ("ccgpu.dev/", "the class is empty"),
            ("gpu", "no '/' between the vendor and the class"),
        ] {
            let e = input.parse::<CdiKind>().expect_err(input);
            assert_eq!(e.to_string(), format!("CDI kind {input:?}: {reason}"), "{input}");
        }
        assert!("c0/g1".parse::<CdiKind>().is_ok());
    }

    #[test]
    fn cdi_kinds_follow_the_spec() {
        assert_eq!("ccgpu.dev/gpu".parse::<CdiKind>().expect("valid").to_string(), "ccgpu.dev/gpu");
        assert!("nvidia.com/pgpu".parse::<CdiKind>().is_ok());
        for bad in ["", "gpu", "/gpu", "a/", "a/b/c", ".a/b", "a./b", "a/b.c", "a/-b", "a b/c"] {
            assert!(bad.parse::<CdiKind>().is_err(), "{bad:?}");
        }
    }
}
