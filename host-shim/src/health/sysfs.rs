//! [`SysfsHealth`]: a device's health as the kernel shows it in sysfs.
//!
//! For the function at `<root>/bus/pci/devices/<bdf>`: absent → gone; its `driver` link names the driver;
//! `aer_dev_fatal` (Documentation/ABI/testing/sysfs-bus-pci-devices-aer_stats, Linux 4.19+) lists one
//! `<error name> <count>` per line and ends with `TOTAL_ERR_FATAL <count>`, the number of ERR_FATAL
//! messages the device reported. A function without AER capability (or a kernel without AER) has no such
//! file and reads as 0: it cannot report fatal errors this way. Trusts the kernel's sysfs under the root.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ccgpu_pci::{DriverName, PciAddress};

use super::{HealthReadError, HealthSource, Observation};

/// Reads health from sysfs under a root (`/sys` on a node).
#[derive(Clone, Debug)]
pub struct SysfsHealth {
    root: PathBuf,
}

impl SysfsHealth {
    /// Health from the sysfs tree at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

/// The fatal AER count in the text of `aer_dev_fatal`: `TOTAL_ERR_FATAL` when present, else the sum of
/// the per-error counters. `None` when a line does not end in a count.
pub fn parse_aer_fatal(text: &str) -> Option<u64> {
    let mut sum: u64 = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, count) = line.rsplit_once(char::is_whitespace)?;
        let count: u64 = count.parse().ok()?;
        if name.trim() == "TOTAL_ERR_FATAL" {
            return Some(count);
        }
        sum = sum.saturating_add(count);
    }
    Some(sum)
}

impl HealthSource for SysfsHealth {
    fn observe(&self, address: PciAddress) -> Result<Observation, HealthReadError> {
        let dir = self.root.join("bus/pci/devices").join(address.to_string());
        let error = |path: &Path| {
            let path = path.to_owned();
            move |source| HealthReadError { address, path, source }
        };
        match fs::symlink_metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Observation::Gone),
            Err(e) => return Err(error(&dir)(e)),
        }
        let link = dir.join("driver");
        let driver = match fs::read_link(&link) {
            Ok(target) => {
                let name = target.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                Some(name.parse::<DriverName>().map_err(|e| {
                    error(&link)(io::Error::new(io::ErrorKind::InvalidData, format!("driver link {name:?}: {e}")))
                })?)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(error(&link)(e)),
        };
        let aer = dir.join("aer_dev_fatal");
        let fatal_aer = match fs::read_to_string(&aer) {
            Ok(text) => parse_aer_fatal(&text).ok_or_else(|| {
                let shown: String = text.chars().take(200).collect();
                error(&aer)(io::Error::new(io::ErrorKind::InvalidData, format!("not AER counters: {shown:?}")))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(error(&aer)(e)),
        };
        Ok(Observation::Present { driver, fatal_aer })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const CLEAN: &str = "Undefined 0\nData Link Protocol 0\nSurprise Down Error 0\nPoisoned TLP 0\n\
                         Completion Timeout 0\nUncorrectable Internal Error 0\nTOTAL_ERR_FATAL 0\n";

    fn address() -> PciAddress {
        PciAddress::new(0, 0x18, 0, 0).expect("an address")
    }

    /// A sysfs tree with one function on `driver`, and its `aer_dev_fatal` when given.
    fn tree(driver: Option<&str>, aer: Option<&str>) -> (tempfile::TempDir, SysfsHealth) {
        let root = tempfile::tempdir().expect("tempdir");
        let real = root.path().join("devices/pci0000:10/0000:18:00.0");
        fs::create_dir_all(&real).expect("device dir");
        let bus = root.path().join("bus/pci/devices");
        fs::create_dir_all(&bus).expect("bus dir");
        symlink("../../../devices/pci0000:10/0000:18:00.0", bus.join("0000:18:00.0")).expect("bus link");
        if let Some(d) = driver {
            let drv = root.path().join("bus/pci/drivers").join(d);
            fs::create_dir_all(&drv).expect("driver dir");
            symlink(format!("../../../bus/pci/drivers/{d}"), real.join("driver")).expect("driver link");
        }
        if let Some(text) = aer {
            fs::write(real.join("aer_dev_fatal"), text).expect("aer file");
        }
        let health = SysfsHealth::new(root.path());
        (root, health)
    }

    #[test]
    fn reads_driver_and_aer_counters() {
        let (_root, h) = tree(Some("vfio-pci"), Some(CLEAN));
        assert_eq!(
            h.observe(address()).expect("readable"),
            Observation::Present { driver: Some(DriverName::vfio_pci()), fatal_aer: 0 }
        );
        let (_root, h) = tree(
            None,
            Some(
                &CLEAN
                    .replace("Surprise Down Error 0", "Surprise Down Error 2")
                    .replace("TOTAL_ERR_FATAL 0", "TOTAL_ERR_FATAL 1"),
            ),
        );
        assert_eq!(h.observe(address()).expect("readable"), Observation::Present { driver: None, fatal_aer: 1 });
    }

    #[test]
    fn without_aer_reporting_no_fatal_errors_and_a_missing_function_is_gone() {
        let (root, h) = tree(Some("nvidia"), None);
        assert!(matches!(h.observe(address()), Ok(Observation::Present { fatal_aer: 0, .. })));
        fs::remove_file(root.path().join("bus/pci/devices/0000:18:00.0")).expect("unplug");
        assert_eq!(h.observe(address()).expect("readable"), Observation::Gone);
    }

    #[test]
    fn unreadable_or_garbled_counters_are_errors_naming_the_device() {
        let (_root, h) = tree(Some("vfio-pci"), Some("TOTAL_ERR_FATAL lots\n"));
        let e = h.observe(address()).expect_err("garbled");
        let text = crate::error_chain(&e);
        assert!(text.contains("0000:18:00.0") && text.contains("aer_dev_fatal"), "{text}");
        let (root, h) = tree(Some("vfio-pci"), None);
        fs::create_dir(root.path().join("devices/pci0000:10/0000:18:00.0/aer_dev_fatal")).expect("a directory");
        assert!(h.observe(address()).is_err(), "a counter file that cannot be read is an error, not 0");
    }

    #[test]
    fn parses_the_kernels_format() {
        assert_eq!(parse_aer_fatal(CLEAN), Some(0));
        assert_eq!(parse_aer_fatal("Undefined 1\nPoisoned TLP 2\n"), Some(3), "no total: the sum");
        assert_eq!(parse_aer_fatal("TOTAL_ERR_FATAL 7"), Some(7));
        assert_eq!(parse_aer_fatal("garbage"), None);
    }
}
