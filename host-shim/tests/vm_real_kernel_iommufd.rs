//! The confidential path on a real Linux kernel: the iommufd hand-over the plugin does by default
//! (`--vfio-nodes iommufd`), on Debian bookworm's 6.12 kernel booted under QEMU (see `vm_common` for the
//! guest: q35, emulated Intel vIOMMU, an `e1000e` NIC on its driver and the `edu` device with none).
//!
//! Debian builds none of its kernels with `CONFIG_IOMMUFD`, so `vm_kernel/debian-6.12-iommufd.sh`
//! rebuilds that kernel's VFIO stack (iommufd, vfio with the device cdev, vfio-pci-core, vfio-pci) from
//! Debian's own source package of the same version against its headers; the kernel image, the IOMMU
//! core, intel-iommu and every other module are Debian's. The result is cached in
//! `target/tmp/ccgpu-vm/debian-6.12-iommufd/`.
//!
//! Inside the guest the `ccgpu-node` binary runs the plugin's code: whole groups to vfio-pci, then for
//! each device `KernelVfio::open_cdev` — open `/dev/vfio/devices/vfioN`, `VFIO_DEVICE_BIND_IOMMUFD` to
//! `/dev/iommu`, `IOMMU_IOAS_ALLOC`, `VFIO_DEVICE_ATTACH_IOMMUFD_PT`, `IOMMU_IOAS_MAP` of one page,
//! `IOMMU_IOAS_UNMAP`, `VFIO_DEVICE_DETACH_IOMMUFD_PT`, `IOMMU_DESTROY` — the sequence QEMU performs for a
//! Kata confidential guest, then the CDI spec naming the cdevs, crash recovery, and unprepare restoring
//! e1000e. Its debug log (the proof of each call's result) and each step's output come back on the
//! serial console.
#![allow(clippy::unwrap_used)]

mod vm_common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use vm_common::{EDU, EDU_NAME, Kernel, NIC, NIC_NAME, NODE, cache_dir, run};

/// The kernel and rebuilt modules, prepared once by the script into the cache.
fn kernel() -> Result<Kernel, String> {
    let dir = cache_dir().join("debian-6.12-iommufd");
    if !dir.join("load-order").is_file() {
        let started = Instant::now();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vm_kernel/debian-6.12-iommufd.sh");
        fs::create_dir_all(cache_dir()).map_err(|e| e.to_string())?;
        run(Command::new("bash").arg(&script).arg(&dir))?;
        eprintln!(
            "vm_real_kernel_iommufd: kernel fetched and VFIO rebuilt in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let order = fs::read_to_string(dir.join("load-order")).map_err(|e| e.to_string())?;
    Ok(Kernel {
        vmlinuz: dir.join("vmlinuz"),
        modules: order.lines().map(|m| dir.join("modules").join(format!("{m}.ko"))).collect(),
    })
}

fn steps() -> Vec<(&'static str, String)> {
    let drivers = vm_common::drivers_step();
    let prepare = format!("{NODE} --vfio-nodes iommufd prepare --claim cc1 {NIC_NAME} {EDU_NAME}");
    vec![
        ("nodes", "ls -l /dev/iommu /dev/vfio".to_owned()),
        ("discover", format!("{NODE} discover")),
        // The node layer's debug log carries each device's proof; it goes to a file so stdout stays JSON.
        ("prepare", format!("RUST_LOG=ccgpu_host_shim=debug {prepare} 2>/tmp/prepare.log")),
        ("prepare-log", "cat /tmp/prepare.log".to_owned()),
        ("drivers-prepared", drivers.clone()),
        ("cdevs", "ls /sys/bus/pci/devices/*/vfio-dev/; ls -A /dev/vfio/devices".to_owned()),
        ("cdi", "cat /run/cdi/*.json".to_owned()),
        ("prepare-again", prepare),
        ("recover", format!("{NODE} recover")),
        ("unprepare", format!("{NODE} unprepare --claim cc1")),
        ("drivers-unprepared", drivers),
        ("leftovers", "ls -A /run/cdi /var/lib/ccgpu /dev/vfio/devices 2>&1".to_owned()),
    ]
}

/// The proofs in the node layer's debug log: one `IommufdProof { … }` per device, as `(field, value)`s.
fn proofs(log: &str) -> Vec<Vec<(String, u64)>> {
    log.lines()
        .filter(|l| l.contains("usable through iommufd"))
        .map(|l| {
            let start = l.find("IommufdProof {").unwrap_or_else(|| panic!("no iommufd proof: {l}")) + 14;
            let end = start + l[start..].find('}').unwrap();
            l[start..end]
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once(':').unwrap_or_else(|| panic!("{kv} in {l}"));
                    (k.trim().to_owned(), v.trim().parse().unwrap_or_else(|e| panic!("{v}: {e} in {l}")))
                })
                .collect()
        })
        .collect()
}

#[test]
fn vm_real_kernel_iommufd() {
    if vm_common::cannot_run().is_some() {
        return;
    }
    let started = Instant::now();
    let kernel = kernel().unwrap_or_else(|e| panic!("preparing the 6.12 kernel: {e}"));
    let console = vm_common::boot("vm_real_kernel_iommufd (6.12)", &kernel, &steps());
    eprintln!("vm_real_kernel_iommufd (6.12): whole test {:.1} s", started.elapsed().as_secs_f64());
    let step = |name| vm_common::step(&console, name);
    let json = vm_common::json;

    // The rebuilt stack gives the kernel /dev/iommu; no device is on vfio-pci yet, so no cdev.
    let (text, rc) = step("nodes");
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("/dev/iommu"), "{text}");

    let (text, rc) = step("discover");
    assert_eq!(rc, 0, "{text}");
    let found = json(text);
    assert_eq!(vm_common::discovered(&found, NIC)["device"]["pci"]["driver"], "e1000e", "{text}");
    assert!(vm_common::discovered(&found, EDU)["device"]["pci"]["driver"].is_null(), "{text}");

    // The confidential prepare: both groups to vfio-pci, each device through the whole iommufd sequence.
    let (text, rc) = step("prepare");
    assert_eq!(rc, 0, "{text}\n{}", step("prepare-log").0);
    let prepared = json(text);
    assert_eq!(prepared["devices"].as_array().unwrap().len(), 2, "{text}");
    let (log, _) = step("prepare-log");
    let proofs = proofs(log);
    assert_eq!(proofs.len(), 2, "one hand-over per device:\n{log}");
    for proof in &proofs {
        let get = |k: &str| proof.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap_or_else(|| panic!("{k}: {log}"));
        assert_ne!(get("ioas_id"), 0, "{log}");
        // Attaching to an IOAS makes the kernel create a hardware page table: another object.
        assert_ne!(get("hwpt_id"), get("ioas_id"), "{log}");
        assert_ne!(get("hwpt_id"), get("dev_id"), "{log}");
        assert!(get("mapped") >= 4096, "{log}");
        assert_eq!(get("unmapped"), get("mapped"), "all that was mapped was unmapped: {log}");
    }
    let (text, _) = step("drivers-prepared");
    assert!(text.contains("nic=vfio-pci edu=vfio-pci"), "{text}");
    let (text, _) = step("cdevs");
    let cdevs: Vec<&str> = text.split_whitespace().filter(|w| w.starts_with("vfio")).collect();
    assert!(cdevs.len() >= 4, "each bound device has a cdev in sysfs and /dev: {text}");

    // The CDI spec names each device's cdev only: no group, no container, no /dev/iommu (opt-in).
    let (text, _) = step("cdi");
    let nodes = vm_common::cdi_device_nodes(&json(text));
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    for node in &nodes {
        let cdev = node.strip_prefix("/dev/vfio/devices/vfio").unwrap_or_else(|| panic!("{nodes:?}"));
        assert!(cdev.parse::<u32>().is_ok(), "{nodes:?}");
    }
    let (text, rc) = step("prepare-again");
    assert_eq!((rc, json(text)), (0, prepared), "prepare is idempotent");

    let (text, rc) = step("recover");
    assert_eq!(rc, 0, "{text}");
    let report = json(text);
    assert_eq!(report["prepared"], serde_json::json!(["cc1"]), "{text}");
    assert_eq!(report["unclaimed_vfio"], serde_json::json!([]), "{text}");

    // Unprepare restores e1000e, leaves edu unbound as it was, and the cdevs go with vfio-pci.
    let (text, rc) = step("unprepare");
    assert_eq!(rc, 0, "{text}");
    let (text, _) = step("drivers-unprepared");
    assert!(text.trim_end().ends_with("nic=e1000e edu="), "{text}");
    let (text, _) = step("leftovers");
    assert!(!text.contains(".json"), "CDI spec or checkpoint left behind: {text}");
    assert!(text.contains("/dev/vfio/devices: No such file"), "a cdev is left: {text}");
    eprintln!("{log}");
}
