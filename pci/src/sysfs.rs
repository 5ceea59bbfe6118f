//! [`SysfsBus`]: the real [`PciBus`] over a sysfs tree rooted at a path given by the caller (`/sys` on a
//! host, another mount point in a container or a test).
//!
//! Trusts the kernel's sysfs layout, and nothing else: every directory entry that becomes an address is
//! parsed into a [`PciAddress`]; every driver name read from a symlink is validated. A read that fails for
//! any reason other than "the kernel does not provide this attribute" is an error.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::address::PciAddress;
use crate::bus::{PciBus, PciDevice, PciError, Sriov};
use crate::ids::{ClassCode, DriverName, IommuGroup};

/// The Linux PCI driver core as seen through sysfs.
#[derive(Debug, Clone)]
pub struct SysfsBus {
    root: PathBuf,
}

impl SysfsBus {
    /// A bus over the sysfs tree mounted at `sysfs_root` (normally `/sys`).
    pub fn new(sysfs_root: impl Into<PathBuf>) -> Self {
        Self { root: sysfs_root.into() }
    }

    /// The sysfs root this bus reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn pci_bus(&self) -> PathBuf {
        self.root.join("bus/pci")
    }

    fn device_dir(&self, address: PciAddress) -> PathBuf {
        self.pci_bus().join("devices").join(address.to_string())
    }

    fn driver_dir(&self, driver: &DriverName) -> PathBuf {
        self.pci_bus().join("drivers").join(driver.as_str())
    }

    /// Fails with [`PciError::NoSuchDevice`] when the function's directory is absent, so that a later
    /// missing attribute is a real error and not a vanished device.
    fn existing_device_dir(&self, address: PciAddress) -> Result<PathBuf, PciError> {
        let dir = self.device_dir(address);
        match fs::symlink_metadata(&dir) {
            Ok(_) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(PciError::NoSuchDevice { address }),
            Err(source) => Err(PciError::Read { path: dir, source }),
        }
    }
}

impl PciBus for SysfsBus {
    fn devices(&self) -> Result<Vec<PciAddress>, PciError> {
        let dir = self.pci_bus().join("devices");
        let mut out = Vec::new();
        for name in read_dir_names(&dir)? {
            out.push(parse_entry(&dir, &name)?);
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self, address: PciAddress) -> Result<PciDevice, PciError> {
        let dir = self.existing_device_dir(address)?;
        let vendor = read_hex(&dir.join("vendor"), "vendor id")?;
        let device = read_hex(&dir.join("device"), "device id")?;
        let class = read_hex(&dir.join("class"), "class code")?;
        let numa_node = match read_optional(&dir.join("numa_node"))? {
            None => None,
            Some(text) => {
                let n: i64 = text.parse().map_err(|_| parse_error(&dir.join("numa_node"), "NUMA node", &text))?;
                u32::try_from(n).ok()
            }
        };
        let sriov = match read_optional(&dir.join("sriov_totalvfs"))? {
            None => None,
            Some(total) => {
                let total_vfs =
                    total.parse().map_err(|_| parse_error(&dir.join("sriov_totalvfs"), "VF count", &total))?;
                let num = read_text(&dir.join("sriov_numvfs"))?;
                let num_vfs = num.parse().map_err(|_| parse_error(&dir.join("sriov_numvfs"), "VF count", &num))?;
                let mut vfs = Vec::new();
                for name in read_dir_names(&dir)? {
                    if name.strip_prefix("virtfn").is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
                        vfs.push(link_target_address(&dir.join(&name))?);
                    }
                }
                vfs.sort();
                Some(Sriov { total_vfs, num_vfs, vfs })
            }
        };
        let physfn = match fs::symlink_metadata(dir.join("physfn")) {
            Ok(_) => Some(link_target_address(&dir.join("physfn"))?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PciError::Read { path: dir.join("physfn"), source });
            }
        };
        Ok(PciDevice {
            address,
            vendor: narrow(vendor, &dir.join("vendor"), "vendor id")?,
            device: narrow(device, &dir.join("device"), "device id")?,
            class: ClassCode(class),
            driver: self.driver(address)?,
            iommu_group: iommu_group_of(&dir)?,
            numa_node,
            pcie_root: pcie_root_of(&dir)?,
            vfio_cdev: vfio_cdev_of(&dir)?,
            sriov,
            physfn,
        })
    }

    fn driver(&self, address: PciAddress) -> Result<Option<DriverName>, PciError> {
        let dir = self.existing_device_dir(address)?;
        let link = dir.join("driver");
        match fs::read_link(&link) {
            Ok(target) => Ok(Some(driver_name_of(&link, &target)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PciError::Read { path: link, source }),
        }
    }

    fn driver_override(&self, address: PciAddress) -> Result<Option<DriverName>, PciError> {
        let path = self.existing_device_dir(address)?.join("driver_override");
        let text = read_text(&path)?;
        if text.is_empty() || text == "(null)" {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| parse_error(&path, "driver name", &text))
    }

    fn iommu_group_members(&self, group: IommuGroup) -> Result<Vec<PciAddress>, PciError> {
        let dir = self.root.join("kernel/iommu_groups").join(group.to_string()).join("devices");
        let mut out = Vec::new();
        for name in read_dir_names(&dir)? {
            out.push(parse_entry(&dir, &name)?);
        }
        out.sort();
        Ok(out)
    }

    fn driver_registered(&self, driver: &DriverName) -> Result<bool, PciError> {
        let dir = self.driver_dir(driver);
        match fs::metadata(&dir) {
            Ok(meta) => Ok(meta.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(PciError::Read { path: dir, source }),
        }
    }

    fn set_driver_override(&self, address: PciAddress, driver: Option<&DriverName>) -> Result<(), PciError> {
        let path = self.existing_device_dir(address)?.join("driver_override");
        // The kernel clears the override on an empty write (a lone newline is stripped to empty).
        let value = driver.map_or_else(|| "\n".to_owned(), |d| d.as_str().to_owned());
        write_attr(&path, &value)
    }

    fn unbind(&self, address: PciAddress) -> Result<(), PciError> {
        let path = self.existing_device_dir(address)?.join("driver/unbind");
        write_attr(&path, &address.to_string())
    }

    fn probe(&self, address: PciAddress) -> Result<(), PciError> {
        write_attr(&self.pci_bus().join("drivers_probe"), &address.to_string())
    }

    fn bind(&self, driver: &DriverName, address: PciAddress) -> Result<(), PciError> {
        write_attr(&self.driver_dir(driver).join("bind"), &address.to_string())
    }

    fn remove_id(&self, driver: &DriverName, vendor: u16, device: u16) -> Result<(), PciError> {
        write_attr(&self.driver_dir(driver).join("remove_id"), &format!("{vendor:04x} {device:04x}"))
    }
}

/// One `write(2)` of the whole value, as sysfs attributes expect (no create, no truncate).
fn write_attr(path: &Path, value: &str) -> Result<(), PciError> {
    let result = fs::OpenOptions::new().write(true).open(path).and_then(|mut f| f.write_all(value.as_bytes()));
    tracing::trace!(path = %path.display(), value, ok = result.is_ok(), "sysfs write");
    result.map_err(|source| PciError::Write { path: path.to_owned(), value: value.to_owned(), source })
}

fn read_text(path: &Path) -> Result<String, PciError> {
    fs::read_to_string(path)
        .map(|s| s.trim_end_matches('\n').to_owned())
        .map_err(|source| PciError::Read { path: path.to_owned(), source })
}

/// `None` only when the attribute does not exist; any other failure is an error.
fn read_optional(path: &Path) -> Result<Option<String>, PciError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim_end_matches('\n').to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PciError::Read { path: path.to_owned(), source }),
    }
}

fn read_hex(path: &Path, what: &'static str) -> Result<u32, PciError> {
    let text = read_text(path)?;
    text.strip_prefix("0x").and_then(|h| u32::from_str_radix(h, 16).ok()).ok_or_else(|| parse_error(path, what, &text))
}

fn narrow(value: u32, path: &Path, what: &'static str) -> Result<u16, PciError> {
    u16::try_from(value).map_err(|_| parse_error(path, what, &format!("{value:#x}")))
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, PciError> {
    let read_err = |source| PciError::Read { path: dir.to_owned(), source };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| parse_error(dir, "UTF-8 entry name", &name.to_string_lossy()))?;
        names.push(name.to_owned());
    }
    Ok(names)
}

fn parse_entry(dir: &Path, name: &str) -> Result<PciAddress, PciError> {
    name.parse().map_err(|_| parse_error(&dir.join(name), "PCI address", name))
}

fn parse_error(path: &Path, what: &'static str, content: &str) -> PciError {
    PciError::Parse { path: path.to_owned(), what, content: content.chars().take(80).collect() }
}

fn link_file_name(link: &Path) -> Result<String, PciError> {
    let target = fs::read_link(link).map_err(|source| PciError::Read { path: link.to_owned(), source })?;
    target
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| parse_error(link, "symlink target", &target.to_string_lossy()))
}

fn link_target_address(link: &Path) -> Result<PciAddress, PciError> {
    let name = link_file_name(link)?;
    name.parse().map_err(|_| parse_error(link, "PCI address", &name))
}

fn driver_name_of(link: &Path, target: &Path) -> Result<DriverName, PciError> {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.parse().map_err(|_| parse_error(link, "driver name", name))
}

fn iommu_group_of(dir: &Path) -> Result<Option<IommuGroup>, PciError> {
    let link = dir.join("iommu_group");
    match fs::symlink_metadata(&link) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PciError::Read { path: link, source }),
        Ok(_) => {
            let name = link_file_name(&link)?;
            name.parse().map(|n| Some(IommuGroup(n))).map_err(|_| parse_error(&link, "IOMMU group", &name))
        }
    }
}

/// `/sys/bus/pci/devices/<bdf>` links to `../../../devices/pci0000:00/…/<bdf>`: the root complex is the
/// first `pciDDDD:BB` component (the name Kubernetes' `resource.kubernetes.io/pcieRoot` uses).
fn pcie_root_of(dir: &Path) -> Result<Option<String>, PciError> {
    let target = match fs::read_link(dir) {
        Ok(t) => t,
        // Not a symlink (a flattened copy of sysfs): no topology to read.
        Err(e) if e.raw_os_error() == Some(22) => return Ok(None),
        Err(source) => {
            return Err(PciError::Read { path: dir.to_owned(), source });
        }
    };
    Ok(target.components().find_map(|c| match c {
        Component::Normal(name) => {
            let name = name.to_str()?;
            let rest = name.strip_prefix("pci")?;
            let (domain, bus) = rest.split_once(':')?;
            let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
            (domain.len() >= 4 && bus.len() == 2 && hex(domain) && hex(bus)).then(|| name.to_owned())
        }
        _ => None,
    }))
}

fn vfio_cdev_of(dir: &Path) -> Result<Option<String>, PciError> {
    let cdev_dir = dir.join("vfio-dev");
    let names = match fs::read_dir(&cdev_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PciError::Read { path: cdev_dir, source });
        }
        Ok(_) => read_dir_names(&cdev_dir)?,
    };
    // Linux 6.1–6.5 already list `vfio-dev/vfioN` as a class device, but only kernels with
    // CONFIG_VFIO_DEVICE_CDEV give it a device number (`dev`) and so a `/dev/vfio/devices/vfioN` node.
    let mut found = names.into_iter().filter(|n| {
        n.strip_prefix("vfio").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            && cdev_dir.join(n).join("dev").is_file()
    });
    let first = found.next();
    if let Some(extra) = found.next() {
        return Err(parse_error(&cdev_dir, "single VFIO cdev", &extra));
    }
    Ok(first)
}
