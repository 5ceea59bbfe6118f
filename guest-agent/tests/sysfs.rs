//! Bring-up through the real sysfs reader ([`ccgpu_pci::SysfsBus`]) over a simulated sysfs tree in a
//! temporary directory: the guest's GPUs are found by the same code as on the host, bind when the
//! (simulated) `modprobe nvidia` runs, and reach ready; an unreadable sysfs is an error, never "no GPUs".

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ccgpu_guest_agent::sim::{SimGpuBackend, SimGpus, SimSnp, SimSystem};
use ccgpu_guest_agent::{Agent, AuditLog, Deps, Outcome};
use ccgpu_pci::{PciAddress, SysfsBus};

use common::{Guest, assert_ready};

/// A sysfs tree with PCI functions and a `drivers/` directory, owned by a temporary directory.
struct FakeSysfs {
    root: PathBuf,
}

impl FakeSysfs {
    fn new(root: &Path) -> Self {
        fs::create_dir_all(root.join("bus/pci/devices")).expect("devices");
        fs::create_dir_all(root.join("bus/pci/drivers/nvidia")).expect("drivers");
        Self { root: root.to_owned() }
    }

    fn add(&self, address: &str, vendor: u16, device: u16, class: u32) {
        let dir = self.root.join("bus/pci/devices").join(address);
        fs::create_dir_all(&dir).expect("device dir");
        fs::write(dir.join("vendor"), format!("0x{vendor:04x}\n")).expect("vendor");
        fs::write(dir.join("device"), format!("0x{device:04x}\n")).expect("device");
        fs::write(dir.join("class"), format!("0x{class:06x}\n")).expect("class");
        fs::write(dir.join("numa_node"), "-1\n").expect("numa");
    }

    /// What the kernel does when the nvidia module probes: a `driver` link on every NVIDIA display function.
    fn bind_nvidia(root: &Path) {
        let devices = root.join("bus/pci/devices");
        for entry in fs::read_dir(&devices).expect("read devices").flatten() {
            let vendor = fs::read_to_string(entry.path().join("vendor")).unwrap_or_default();
            let class = fs::read_to_string(entry.path().join("class")).unwrap_or_default();
            if vendor.trim() == "0x10de" && class.starts_with("0x03") {
                let _ = symlink("../../drivers/nvidia", entry.path().join("driver"));
            }
        }
    }
}

#[test]
fn gpus_found_in_sysfs_are_brought_up() {
    let guest = Guest::new(0);
    let sysfs = FakeSysfs::new(&guest.dir.path().join("sys"));
    let gpus = ["0000:02:00.0", "0000:03:00.0"];
    for a in gpus {
        sysfs.add(a, 0x10de, 0x2330, 0x030200);
    }
    sysfs.add("0000:02:00.1", 0x10de, 0x22a3, 0x040300); // the GPU's audio function
    sysfs.add("0000:00:03.0", 0x1af4, 0x1041, 0x020000); // virtio-net
    let addresses: Vec<PciAddress> = gpus.iter().map(|a| a.parse().expect("address")).collect();
    let root = sysfs.root.clone();
    let system = Arc::new(SimSystem::new(move || FakeSysfs::bind_nvidia(&root)));
    let sim_gpus = Arc::new(SimGpus::new(Arc::clone(&guest.fleet.pkis.gpu), &addresses));
    let deps = Deps {
        bus: Arc::new(SysfsBus::new(&sysfs.root)),
        system,
        gpu_backend: Arc::new(SimGpuBackend(Arc::clone(&sim_gpus))),
        tee: Arc::new(SimSnp::new(Arc::clone(&guest.fleet.pkis.snp))),
        rims: Arc::new(guest.fleet.pkis.gpu.rims()),
        verifier: Arc::new(guest.fleet.local_verifier(guest.config.policy.clone()).expect("verifier")),
        log: Arc::new(AuditLog::new(guest.log_path())),
    };
    let agent = Agent::new(guest.config.clone(), deps, Instant::now());
    let outcome = agent.bring_up();
    assert_eq!(outcome, Outcome::Ready, "{:#?}", agent.status().snapshot());
    let s = agent.status().snapshot();
    assert_eq!(s.gpus.iter().map(|g| g.bdf).collect::<Vec<_>>(), addresses);
    assert_eq!(sim_gpus.set_ready_calls(), vec![true]);
    // The shared helper checks the rest against its own fleet; here, the sysfs-backed GPUs.
    let _ = assert_ready;
}

#[test]
fn an_unreadable_sysfs_is_an_error_not_no_gpus() {
    let guest = Guest::new(0);
    let mut deps = guest.fleet.deps(
        Arc::new(guest.fleet.local_verifier(guest.config.policy.clone()).expect("verifier")),
        Arc::new(AuditLog::new(guest.log_path())),
    );
    deps.bus = Arc::new(SysfsBus::new(guest.dir.path().join("no-such-sys")));
    let agent = Agent::new(guest.config.clone(), deps, Instant::now());
    match agent.bring_up() {
        Outcome::Failed(reason) => assert!(reason.contains("PCI discovery"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    guest.assert_never_ready();
}
