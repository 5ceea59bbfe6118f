//! The node layer on a real Linux kernel, legacy path: Debian bookworm's 6.1 kernel booted under QEMU
//! (see `vm_common` for the guest) with the `e1000e` NIC and the `edu` device selected through the
//! configurable match rule (`8086:0200,1234:00ff`). Inside the guest our `ccgpu-node` binary runs the REAL
//! code path: `SysfsBus` discovery, whole-group binding to vfio-pci, the VFIO group ioctls
//! (`KernelVfio`), the CDI spec and the checkpoint, then unprepare; the test reads the console here.
//!
//! The kernel package is downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into
//! `target/tmp/ccgpu-vm/` (cached across runs). The Debian 6.1 kernel has no VFIO cdevs
//! (`CONFIG_VFIO_DEVICE_CDEV` arrived in 6.6), so the test also shows that an iommufd (confidential)
//! prepare is refused there with a clear error and fully rolled back; the iommufd hand-over itself runs
//! on 6.12 in `vm_real_kernel_iommufd.rs`. QEMU runs under `timeout`; one boot takes 10–40 s here.
#![allow(clippy::unwrap_used)]

mod vm_common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use vm_common::{EDU, EDU_NAME, Kernel, NIC, NIC_NAME, NODE, cache_dir, run};

/// Modules, in load order: the NIC's driver, then VFIO (Linux 6.1 layout).
const MODULES: &[&str] = &[
    "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko",
    "kernel/drivers/vfio/vfio.ko",
    "kernel/drivers/vfio/vfio_iommu_type1.ko",
    "kernel/drivers/vfio/vfio_virqfd.ko",
    "kernel/virt/lib/irqbypass.ko",
    "kernel/drivers/vfio/pci/vfio-pci-core.ko",
    "kernel/drivers/vfio/pci/vfio-pci.ko",
];

/// The unpacked kernel package: `(vmlinuz, modules dir)`, downloaded once into the cache.
fn kernel() -> Result<(PathBuf, PathBuf), String> {
    let root = cache_dir().join("kernel");
    let find = || -> Option<(PathBuf, PathBuf)> {
        let boot = fs::read_dir(root.join("boot")).ok()?;
        let vmlinuz = boot
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))?;
        let version = vmlinuz.file_name()?.to_string_lossy().trim_start_matches("vmlinuz-").to_owned();
        let modules = root.join("lib/modules").join(version);
        modules.is_dir().then_some((vmlinuz, modules))
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    let package = || -> Result<String, String> {
        let deps = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
        deps.lines()
            .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-6.1.")))
            .map(str::to_owned)
            .ok_or_else(|| "apt-cache knows no linux-image-6.1.* package".to_owned())
    };
    let package = match package() {
        Ok(p) => p,
        Err(_) => {
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            package()?
        }
    };
    let download = cache_dir().join("download");
    fs::create_dir_all(&download).map_err(|e| e.to_string())?;
    run(Command::new("apt-get")
        .args(["download", "-qq", "-o", "APT::Sandbox::User=root", &package])
        .current_dir(&download))?;
    let deb = fs::read_dir(&download)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download produced no .deb")?;
    let unpack = cache_dir().join("kernel.partial");
    let _ = fs::remove_dir_all(&unpack);
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpack))?;
    fs::rename(&unpack, &root).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(&deb);
    find().ok_or_else(|| format!("{package} has no vmlinuz or modules"))
}

/// The steps the guest runs, in order.
fn steps() -> Vec<(&'static str, String)> {
    let drivers = vm_common::drivers_step();
    vec![
        ("discover", format!("{NODE} discover")),
        ("prepare-iommufd", format!("{NODE} --vfio-nodes iommufd prepare --claim cc1 {NIC_NAME}")),
        ("drivers-after-refusal", drivers.clone()),
        ("prepare", format!("{NODE} --vfio-nodes legacy-group prepare --claim c1 {NIC_NAME} {EDU_NAME}")),
        ("drivers-prepared", drivers.clone()),
        ("cdi", "cat /run/cdi/*.json".to_owned()),
        ("prepare-again", format!("{NODE} --vfio-nodes legacy-group prepare --claim c1 {NIC_NAME} {EDU_NAME}")),
        ("recover", format!("{NODE} recover")),
        ("unprepare", format!("{NODE} unprepare --claim c1")),
        ("drivers-unprepared", drivers),
        ("unprepare-again", format!("{NODE} unprepare --claim c1")),
        ("leftovers", "ls -A /run/cdi /var/lib/ccgpu".to_owned()),
    ]
}

#[test]
fn vm_real_kernel() {
    if vm_common::cannot_run().is_some() {
        return;
    }
    let started = Instant::now();
    let (vmlinuz, modules) = kernel().unwrap_or_else(|e| panic!("getting the Debian kernel: {e}"));
    let kernel = Kernel { vmlinuz, modules: MODULES.iter().map(|m| modules.join(m)).collect() };
    let console = vm_common::boot("vm_real_kernel (6.1)", &kernel, &steps());
    eprintln!("vm_real_kernel (6.1): whole test {:.1} s", started.elapsed().as_secs_f64());
    let step = |name| vm_common::step(&console, name);
    let json = vm_common::json;

    // Discovery through the real SysfsBus: both devices, each with an IOMMU group; e1000e bound, edu not.
    let (text, rc) = step("discover");
    assert_eq!(rc, 0, "{text}");
    let found = json(text);
    let nic = vm_common::discovered(&found, NIC);
    let edu = vm_common::discovered(&found, EDU);
    assert_eq!(nic["device"]["pci"]["driver"], "e1000e", "{text}");
    assert!(edu["device"]["pci"]["driver"].is_null(), "{text}");
    let nic_group = nic["device"]["pci"]["iommu_group"].as_u64().expect("NIC has an IOMMU group");
    let edu_group = edu["device"]["pci"]["iommu_group"].as_u64().expect("edu has an IOMMU group");
    assert_eq!(nic["device"]["pci"]["pcie_root"], "pci0000:00");
    assert!(nic["device"]["unpreparable"].is_null(), "{text}");

    // Confidential (iommufd) hand-over on 6.1: refused, clearly, and rolled back to e1000e.
    let (text, rc) = step("prepare-iommufd");
    assert_eq!(rc, 1, "{text}");
    assert!(text.contains("no VFIO cdev"), "{text}");
    let (text, _) = step("drivers-after-refusal");
    assert!(text.contains("nic=e1000e edu="), "{text}");

    // The legacy-group prepare binds both groups to vfio-pci, opens them via VFIO, writes CDI + checkpoint.
    let (text, rc) = step("prepare");
    assert_eq!(rc, 0, "{text}");
    let prepared = json(text);
    assert_eq!(prepared["devices"].as_array().unwrap().len(), 2, "{text}");
    let (text, _) = step("drivers-prepared");
    assert!(text.contains("nic=vfio-pci edu=vfio-pci"), "{text}");
    let (text, _) = step("cdi");
    let spec = json(text);
    assert_eq!(spec["cdiVersion"], "0.5.0");
    let nodes = vm_common::cdi_device_nodes(&spec);
    assert!(
        nodes.contains(&format!("/dev/vfio/{nic_group}")) && nodes.contains(&format!("/dev/vfio/{edu_group}")),
        "{nodes:?}"
    );
    let (text, rc) = step("prepare-again");
    assert_eq!((rc, json(text)), (0, prepared.clone()), "prepare is idempotent");

    // A restarted node keeps the completed claim and finds nothing unclaimed on vfio-pci.
    let (text, rc) = step("recover");
    assert_eq!(rc, 0, "{text}");
    let report = json(text);
    assert_eq!(report["prepared"], serde_json::json!(["c1"]), "{text}");
    assert_eq!(report["unclaimed_vfio"], serde_json::json!([]), "{text}");

    // Unprepare restores e1000e and leaves edu unbound as it was; twice is fine; nothing is left over.
    let (text, rc) = step("unprepare");
    assert_eq!(rc, 0, "{text}");
    let (text, _) = step("drivers-unprepared");
    assert!(text.contains("nic=e1000e edu=\n") || text.trim_end().ends_with("nic=e1000e edu="), "{text}");
    assert_eq!(step("unprepare-again").1, 0);
    let (text, _) = step("leftovers");
    assert!(!text.contains(".json"), "CDI spec or checkpoint left behind: {text}");
}
