//! [`FakeSysfs`]: a sysfs tree laid out like the kernel's, in a temporary directory it owns.
//!
//! Functions live under `devices/<root complex>/[<port>/]<bdf>` and are linked from `bus/pci/devices`,
//! `kernel/iommu_groups/<n>/devices` and (when bound) `driver` with relative links, as in the kernel, so
//! the real [`crate::SysfsBus`] reads it exactly as it reads `/sys`. Writes through the bus land in plain
//! files (`driver_override`, `drivers/<d>/bind`, …) a test can read back; nothing reacts to them — that
//! is [`super::SimBus`]'s job. The same [`SimFunction`] describes a function to both.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::function::SimFunction;
use crate::address::PciAddress;

/// A fake sysfs root (cheap to clone: clones share the directory, removed with the last one).
#[derive(Debug, Clone)]
pub struct FakeSysfs {
    dir: Arc<tempfile::TempDir>,
}

impl FakeSysfs {
    /// An empty tree: `bus/pci/{devices,drivers,drivers_probe}`, `kernel/iommu_groups`.
    pub fn new() -> io::Result<Self> {
        let fake = Self { dir: Arc::new(tempfile::tempdir()?) };
        for d in ["bus/pci/devices", "bus/pci/drivers", "kernel/iommu_groups"] {
            fs::create_dir_all(fake.root().join(d))?;
        }
        fs::write(fake.root().join("bus/pci/drivers_probe"), "")?;
        Ok(fake)
    }

    /// The sysfs root to hand to [`crate::SysfsBus::new`].
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Registers driver `name` (its directory with `bind`, `unbind`, `new_id`, `remove_id`).
    pub fn driver(&self, name: &str) -> io::Result<()> {
        let dir = self.root().join("bus/pci/drivers").join(name);
        fs::create_dir_all(&dir)?;
        for f in ["bind", "unbind", "remove_id", "new_id"] {
            fs::write(dir.join(f), "")?;
        }
        Ok(())
    }

    /// Adds `function` below its root complex (`pcie_root`, default `pci0000:00`), behind the bridge
    /// `port` when given, with its IOMMU group and NUMA node (`None` is written as the kernel's `-1`).
    /// Returns the function's directory.
    pub fn add(&self, function: &SimFunction, port: Option<&str>) -> io::Result<PathBuf> {
        let root_complex = function.pcie_root.as_deref().unwrap_or("pci0000:00");
        let bdf = function.address.to_string();
        let rel = match port {
            Some(p) => format!("devices/{root_complex}/{p}/{bdf}"),
            None => format!("devices/{root_complex}/{bdf}"),
        };
        let dir = self.root().join(&rel);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("vendor"), format!("0x{:04x}\n", function.vendor))?;
        fs::write(dir.join("device"), format!("0x{:04x}\n", function.device))?;
        fs::write(dir.join("class"), format!("0x{:06x}\n", function.class.0))?;
        let numa = function.numa_node.map_or_else(|| "-1".to_owned(), |n| n.to_string());
        fs::write(dir.join("numa_node"), format!("{numa}\n"))?;
        fs::write(dir.join("driver_override"), "(null)\n")?;
        symlink(format!("../../../{rel}"), self.root().join("bus/pci/devices").join(&bdf))?;
        if let Some(group) = function.iommu_group {
            let gdir = self.root().join(format!("kernel/iommu_groups/{group}/devices"));
            fs::create_dir_all(&gdir)?;
            symlink(format!("../../../../{rel}"), gdir.join(&bdf))?;
            symlink(format!("{}kernel/iommu_groups/{group}", up(&rel)), dir.join("iommu_group"))?;
        }
        Ok(dir)
    }

    /// Binds `address` to `driver` the way sysfs shows it: a `driver` link into `bus/pci/drivers`
    /// (registering the driver if needed).
    pub fn bind(&self, address: PciAddress, driver: &str) -> io::Result<()> {
        self.driver(driver)?;
        let link = self.root().join("bus/pci/devices").join(address.to_string());
        let dir = fs::canonicalize(&link)?;
        let rel = dir.strip_prefix(fs::canonicalize(self.root())?).map_err(io::Error::other)?;
        symlink(format!("{}bus/pci/drivers/{driver}", up(&rel.to_string_lossy())), dir.join("driver"))
    }
}

/// `../` once per component of `rel`: from a directory at `rel` back to the root.
fn up(rel: &str) -> String {
    "../".repeat(rel.split('/').filter(|c| !c.is_empty()).count())
}
