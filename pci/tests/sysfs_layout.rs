//! [`SysfsBus`] against a sysfs tree laid out like the kernel's (symlinks and all) in a temp dir, and,
//! read-only, against this machine's real `/sys`.
//!
//! The write side is proven on a real kernel by host-shim's `vm_real_kernel` test; here we check that
//! writes land in the right files and that every read failure surfaces as an error.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use ccgpu_pci::sim::{FakeSysfs, SimFunction};
use ccgpu_pci::{ClassCode, DriverName, IommuGroup, PciAddress, PciBus, PciError, SysfsBus};

/// `address` on the fake tree: below the root port `0000:00:01.0`, NUMA node 1, in `group`, bound to
/// `driver`.
fn function(
    fake: &FakeSysfs,
    address: &str,
    (vendor, device, class): (u16, u16, u32),
    group: Option<u32>,
    driver: Option<&str>,
) -> PathBuf {
    let mut f = SimFunction::new(addr(address), vendor, device, class).numa(1);
    if let Some(g) = group {
        f = f.group(g);
    }
    let dir = fake.add(&f, Some("0000:00:01.0")).expect("add");
    if let Some(d) = driver {
        fake.bind(addr(address), d).expect("bind");
    }
    dir
}

fn fake() -> FakeSysfs {
    FakeSysfs::new().expect("temp dir")
}

fn addr(s: &str) -> PciAddress {
    s.parse().expect("valid address")
}

#[test]
fn describes_a_gpu_with_group_numa_root_driver_and_cdev() {
    let fake = fake();
    let gpu = function(&fake, "0000:01:00.0", (0x10de, 0x2330, 0x030200), Some(5), Some("vfio-pci"));
    function(&fake, "0000:01:00.1", (0x10de, 0x22a3, 0x040300), Some(5), None);
    // Linux 6.1-6.5 list vfio-dev/vfioN without a device number: no cdev there.
    fs::create_dir_all(gpu.join("vfio-dev/vfio7")).expect("mkdir");
    let bus = SysfsBus::new(fake.root());
    assert_eq!(bus.describe(addr("0000:01:00.0")).expect("describe").vfio_cdev, None);
    fs::write(gpu.join("vfio-dev/vfio7/dev"), "511:7\n").expect("write");
    let bus = SysfsBus::new(fake.root());

    assert_eq!(bus.devices().expect("list"), vec![addr("0000:01:00.0"), addr("0000:01:00.1")]);
    let d = bus.describe(addr("0000:01:00.0")).expect("describe");
    assert_eq!((d.vendor, d.device, d.class), (0x10de, 0x2330, ClassCode(0x030200)));
    assert_eq!(d.driver, Some(DriverName::vfio_pci()));
    assert_eq!(d.iommu_group, Some(IommuGroup(5)));
    assert_eq!(d.numa_node, Some(1));
    assert_eq!(d.pcie_root.as_deref(), Some("pci0000:00"));
    assert_eq!(d.vfio_cdev.as_deref(), Some("vfio7"));
    assert_eq!((d.sriov, d.physfn), (None, None));
    assert_eq!(bus.iommu_group_members(IommuGroup(5)).expect("group").len(), 2);
    assert_eq!(bus.driver(addr("0000:01:00.1")).expect("driver"), None);
    assert_eq!(bus.driver_override(addr("0000:01:00.0")).expect("override"), None, "(null) is no override");
    assert!(bus.driver_registered(&DriverName::vfio_pci()).expect("read"));
    assert!(!bus.driver_registered(&"nvidia".parse().expect("name")).expect("read"));
}

/// The layout a real H200 VM showed (tests/data/real-h200-2026-12-04/pci-sysfs.txt): the GPU directly on
/// the root bus, no `iommu_group` link (no IOMMU in that VM), `numa_node` -1, on `nvidia`. The real bus
/// reads it as ccgpu-node printed there (node-discover.json).
#[test]
fn reads_the_recorded_h200_vm_as_the_real_binary_did() {
    let fake = fake();
    fake.add(&SimFunction::new(addr("0000:00:06.0"), 0x10de, 0x2335, 0x030200).root("pci0000:00"), None).expect("add");
    fake.bind(addr("0000:00:06.0"), "nvidia").expect("bind");
    let d = SysfsBus::new(fake.root()).describe(addr("0000:00:06.0")).expect("describe");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/real-h200-2026-12-04/node-discover.json");
    let recorded: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).expect("read")).expect("json");
    assert_eq!(serde_json::to_value(&d).expect("json"), recorded[0]["device"]["pci"]);
}

#[test]
fn numa_minus_one_is_none_and_sriov_is_read() {
    let fake = fake();
    let pf = function(&fake, "0000:01:00.0", (0x15b3, 0x101d, 0x020000), Some(1), None);
    let vf = function(&fake, "0000:01:00.2", (0x15b3, 0x101e, 0x020000), Some(2), None);
    fs::write(pf.join("numa_node"), "-1\n").expect("write");
    fs::write(pf.join("sriov_totalvfs"), "8\n").expect("write");
    fs::write(pf.join("sriov_numvfs"), "1\n").expect("write");
    symlink("../0000:01:00.2", pf.join("virtfn0")).expect("link");
    symlink("../0000:01:00.0", vf.join("physfn")).expect("link");
    let bus = SysfsBus::new(fake.root());
    let d = bus.describe(addr("0000:01:00.0")).expect("describe");
    assert_eq!(d.numa_node, None);
    let sriov = d.sriov.expect("sr-iov");
    assert_eq!((sriov.total_vfs, sriov.num_vfs, sriov.vfs), (8, 1, vec![addr("0000:01:00.2")]));
    assert_eq!(bus.describe(addr("0000:01:00.2")).expect("describe").physfn, Some(addr("0000:01:00.0")));
}

#[test]
fn writes_land_in_the_kernel_files() {
    let fake = fake();
    let gpu = function(&fake, "0000:01:00.0", (0x10de, 0x2330, 0x030200), Some(5), Some("nvidia"));
    fake.driver("vfio-pci").expect("driver");
    let bus = SysfsBus::new(fake.root());
    let a = addr("0000:01:00.0");
    let vfio = DriverName::vfio_pci();
    bus.set_driver_override(a, Some(&vfio)).expect("override");
    assert_eq!(fs::read_to_string(gpu.join("driver_override")).expect("read"), "vfio-pci");
    bus.unbind(a).expect("unbind");
    assert_eq!(fs::read_to_string(fake.root().join("bus/pci/drivers/nvidia/unbind")).expect("read"), "0000:01:00.0");
    bus.probe(a).expect("probe");
    assert_eq!(fs::read_to_string(fake.root().join("bus/pci/drivers_probe")).expect("read"), "0000:01:00.0");
    bus.bind(&vfio, a).expect("bind");
    assert_eq!(fs::read_to_string(fake.root().join("bus/pci/drivers/vfio-pci/bind")).expect("read"), "0000:01:00.0");
    bus.remove_id(&vfio, 0x10de, 0x2330).expect("remove_id");
    assert_eq!(fs::read_to_string(fake.root().join("bus/pci/drivers/vfio-pci/remove_id")).expect("read"), "10de 2330");
}

#[test]
fn unreadable_sysfs_is_an_error_never_no_devices() {
    let missing = SysfsBus::new("/nonexistent-ccgpu-sysfs");
    assert!(matches!(missing.devices(), Err(PciError::Read { .. })), "no sysfs is an error, not an empty list");

    let fake = fake();
    let gpu = function(&fake, "0000:01:00.0", (0x10de, 0x2330, 0x030200), Some(5), None);
    let bus = SysfsBus::new(fake.root());
    // An attribute the kernel always provides that cannot be read (EISDIR here) is an error.
    fs::remove_file(gpu.join("vendor")).expect("rm");
    fs::create_dir(gpu.join("vendor")).expect("mkdir");
    assert!(matches!(bus.describe(addr("0000:01:00.0")), Err(PciError::Read { .. })));
    // Garbage where the kernel writes hex is an error too.
    fs::remove_dir(gpu.join("vendor")).expect("rm");
    fs::write(gpu.join("vendor"), "nvidia\n").expect("write");
    assert!(matches!(bus.describe(addr("0000:01:00.0")), Err(PciError::Parse { .. })));
    // A vanished function is reported as such.
    assert!(matches!(bus.describe(addr("0000:02:00.0")), Err(PciError::NoSuchDevice { .. })));
    // An entry in bus/pci/devices that is not a PCI address is refused, not skipped.
    fs::create_dir(fake.root().join("bus/pci/devices/not-a-bdf")).expect("mkdir");
    assert!(matches!(bus.devices(), Err(PciError::Parse { .. })));
}

#[test]
fn writes_to_a_missing_attribute_fail_with_the_path() {
    let fake = fake();
    function(&fake, "0000:01:00.0", (0x10de, 0x2330, 0x030200), Some(5), None);
    let bus = SysfsBus::new(fake.root());
    let err = bus.unbind(addr("0000:01:00.0")).expect_err("no driver: no unbind file");
    let PciError::Write { path, .. } = &err else { panic!("{err:?}") };
    assert!(path.ends_with("0000:01:00.0/driver/unbind"), "{}", path.display());
}

#[test]
fn reads_this_machines_real_sysfs() {
    let bus = SysfsBus::new("/sys");
    if !Path::new("/sys/bus/pci/devices").is_dir() {
        eprintln!("skipping: this machine has no /sys/bus/pci");
        return;
    }
    let devices = bus.devices().expect("real sysfs lists");
    for a in &devices {
        let d = bus.describe(*a).expect("every real function describes without error");
        assert_eq!(d.address, *a);
        if let Some(g) = d.iommu_group {
            assert!(bus.iommu_group_members(g).expect("group").contains(a));
        }
    }
}
