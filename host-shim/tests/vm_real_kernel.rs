//! The node layer on a real Linux kernel: Debian's 6.1 kernel booted under QEMU (TCG, q35, emulated
//! Intel vIOMMU) with two emulated PCI devices — an `e1000e` NIC driven by the e1000e driver and the
//! QEMU `edu` device with no driver — selected through the configurable match rule
//! (`8086:0200,1234:00ff`). Inside the guest our `ccgpu-node` binary runs the REAL code path: `SysfsBus`
//! discovery, whole-group binding to vfio-pci, the VFIO ioctls (`KernelVfio`), the CDI spec and the
//! checkpoint, then unprepare; the guest prints the results on the serial console and the test checks
//! them here.
//!
//! How the binary gets in: we copy the `ccgpu-node` that `cargo test` already built (debug info stripped
//! with `objcopy`) plus the few shared libraries `ldd` lists and the dynamic loader into a busybox-static
//! initramfs. That needs no second build and no extra target, which keeps CI time and complexity lowest;
//! a static build would need another full compile of the crate graph.
//!
//! What it needs, and where it comes from: `qemu-system-x86`, `busybox-static` and `cpio` (installed by
//! `ci/system-deps.sh`), and the kernel package, downloaded here with `apt-get download` and unpacked
//! with `dpkg-deb -x` into `target/tmp/ccgpu-vm/` (cached across runs). The Debian 6.1 kernel has no VFIO
//! cdevs (`CONFIG_VFIO_DEVICE_CDEV` arrived in 6.6), so the test also shows that an iommufd
//! (confidential) prepare is refused there with a clear error and fully rolled back, and prepares through
//! the legacy group for the rest.
//!
//! It skips, with a message, only when not root or without QEMU, and never under `CI=true`, where those
//! are failures. QEMU runs under `timeout`; one boot takes 15–40 s here.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ccgpu_test_support::in_ci;

/// Emulated devices and where we put them.
const NIC: &str = "0000:00:03.0";
const EDU: &str = "0000:00:04.0";
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
/// Wall-clock bound of one boot-run-poweroff.
const QEMU_TIMEOUT_S: u32 = 100;

fn skip_or_fail(why: &str) {
    assert!(!in_ci(), "real-kernel VM test cannot run under CI=true: {why}");
    ccgpu_test_support::skip(&format!("{why} (set up with ./ci/system-deps.sh, run as root)"));
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ccgpu-vm")
}

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

/// The guest's /init: load modules, then run each step between markers and power off.
fn init_script() -> String {
    let node = "/ccgpu-node --match 8086:0200,1234:00ff --cdi-dir /run/cdi --checkpoint-dir /var/lib/ccgpu";
    let nic = "gpu-0000-00-03-0";
    let edu = "gpu-0000-00-04-0";
    let mut s = String::from(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\nmount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\nmkdir -p /run/cdi /var/lib/ccgpu /tmp\n",
    );
    for m in MODULES {
        let name = Path::new(m).file_name().unwrap().to_string_lossy().into_owned();
        s += &format!("insmod /modules/{name} || echo 'CCGPU-VM insmod {name} failed'\n");
    }
    let drivers = format!(
        "echo \"nic=$(basename \"$(readlink /sys/bus/pci/devices/{NIC}/driver)\") edu=$(basename \"$(readlink /sys/bus/pci/devices/{EDU}/driver)\")\"\n"
    );
    let steps = [
        ("discover", format!("{node} discover")),
        ("prepare-iommufd", format!("{node} --vfio-nodes iommufd prepare --claim cc1 {nic}")),
        ("drivers-after-refusal", drivers.clone()),
        ("prepare", format!("{node} --vfio-nodes legacy-group prepare --claim c1 {nic} {edu}")),
        ("drivers-prepared", drivers.clone()),
        ("cdi", "cat /run/cdi/*.json".to_owned()),
        ("prepare-again", format!("{node} --vfio-nodes legacy-group prepare --claim c1 {nic} {edu}")),
        ("recover", format!("{node} recover")),
        ("unprepare", format!("{node} unprepare --claim c1")),
        ("drivers-unprepared", drivers),
        ("unprepare-again", format!("{node} unprepare --claim c1")),
        ("leftovers", "ls -A /run/cdi /var/lib/ccgpu".to_owned()),
    ];
    for (name, cmd) in steps {
        s += &format!("echo 'CCGPU-VM-BEGIN {name}'\n{cmd}\necho \"CCGPU-VM-END {name} rc=$?\"\n");
    }
    s += "echo CCGPU-VM-DONE\npoweroff -f\n";
    s
}

/// Builds the initramfs (an uncompressed newc cpio) and returns its path.
fn initramfs(work: &Path, modules: &Path) -> Result<PathBuf, String> {
    let root = work.join("root");
    for d in ["bin", "modules", "proc", "sys", "dev", "run", "var", "tmp"] {
        fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
    }
    fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(|e| format!("/bin/busybox: {e}"))?;
    for m in MODULES {
        let from = modules.join(m);
        let name = Path::new(m).file_name().unwrap();
        fs::copy(&from, root.join("modules").join(name)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_ccgpu-node"));
    run(Command::new("objcopy").arg("--strip-debug").arg(binary).arg(root.join("ccgpu-node")))?;
    // The dynamic loader and the shared libraries, at the paths the binary expects.
    for line in run(Command::new("ldd").arg(binary))?.lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(lib) = path {
            let to = root.join(lib.trim_start_matches('/'));
            fs::create_dir_all(to.parent().unwrap()).map_err(|e| e.to_string())?;
            fs::copy(lib, &to).map_err(|e| format!("{lib}: {e}"))?;
        }
    }
    let init = root.join("init");
    fs::write(&init, init_script()).map_err(|e| e.to_string())?;
    run(Command::new("chmod").args(["0755"]).arg(&init))?;
    let cpio = work.join("initramfs.cpio");
    run(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . | cpio -o -H newc --quiet > '{}'",
        root.display(),
        cpio.display()
    )))?;
    Ok(cpio)
}

/// The output of one step: `(text, exit code)`.
fn step<'a>(console: &'a str, name: &str) -> (&'a str, i32) {
    let begin = format!("CCGPU-VM-BEGIN {name}\n");
    let start = console.find(&begin).unwrap_or_else(|| panic!("step {name} never ran:\n{console}")) + begin.len();
    let end_marker = format!("CCGPU-VM-END {name} rc=");
    let end = start + console[start..].find(&end_marker).unwrap_or_else(|| panic!("step {name} never ended"));
    let rc_text = &console[end + end_marker.len()..];
    let rc = rc_text.split_whitespace().next().unwrap().parse().unwrap();
    (&console[start..end], rc)
}

fn json(text: &str) -> serde_json::Value {
    // The step's stdout is the JSON document; log lines went to stderr, which is the same console, so
    // take from the first line that opens a JSON value.
    let begin = text.lines().position(|l| l.starts_with('[') || l.starts_with('{')).unwrap_or_else(|| panic!("{text}"));
    let doc: Vec<&str> = text.lines().skip(begin).filter(|l| !l.contains(" INFO ") && !l.contains(" WARN ")).collect();
    serde_json::from_str(&doc.join("\n")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn vm_real_kernel() {
    // SAFETY-free check of the effective uid through /proc (no libc call needed).
    let root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false);
    if !root {
        return skip_or_fail("not root");
    }
    if Command::new("qemu-system-x86_64").arg("--version").output().is_err() {
        return skip_or_fail("qemu-system-x86_64 not installed");
    }
    let started = Instant::now();
    let (vmlinuz, modules) = kernel().unwrap_or_else(|e| panic!("getting the Debian kernel: {e}"));
    let work = tempfile::tempdir().unwrap();
    let cpio = initramfs(work.path(), &modules).unwrap_or_else(|e| panic!("building the initramfs: {e}"));
    let boot = Instant::now();
    let out = Command::new("timeout")
        .arg(QEMU_TIMEOUT_S.to_string())
        .arg("qemu-system-x86_64")
        .args(["-accel", "tcg", "-machine", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on"])
        .args(["-cpu", "max", "-smp", "1", "-m", "512", "-no-reboot", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-serial", "stdio"])
        .args(["-device", "e1000e,addr=03.0", "-device", "edu,addr=04.0"])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&cpio)
        .args(["-append", "console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet"])
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    eprintln!(
        "vm_real_kernel: boot-run-poweroff {:.1} s, whole test {:.1} s",
        boot.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        console.contains("CCGPU-VM-DONE"),
        "guest did not finish ({}):\n{console}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!console.contains("insmod"), "a module failed to load:\n{console}");

    // Discovery through the real SysfsBus: both devices, each with an IOMMU group; e1000e bound, edu not.
    let (text, rc) = step(&console, "discover");
    assert_eq!(rc, 0, "{text}");
    let found = json(text);
    let by_addr = |a: &str| {
        found
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"]["pci"]["address"] == a)
            .cloned()
            .unwrap_or_else(|| panic!("{a} not discovered: {text}"))
    };
    let nic = by_addr(NIC);
    let edu = by_addr(EDU);
    assert_eq!(nic["device"]["pci"]["driver"], "e1000e", "{text}");
    assert!(edu["device"]["pci"]["driver"].is_null(), "{text}");
    let nic_group = nic["device"]["pci"]["iommu_group"].as_u64().expect("NIC has an IOMMU group");
    let edu_group = edu["device"]["pci"]["iommu_group"].as_u64().expect("edu has an IOMMU group");
    assert_eq!(nic["device"]["pci"]["pcie_root"], "pci0000:00");
    assert!(nic["device"]["unpreparable"].is_null(), "{text}");

    // Confidential (iommufd) hand-over on 6.1: refused, clearly, and rolled back to e1000e.
    let (text, rc) = step(&console, "prepare-iommufd");
    assert_eq!(rc, 1, "{text}");
    assert!(text.contains("no VFIO cdev"), "{text}");
    let (text, _) = step(&console, "drivers-after-refusal");
    assert!(text.contains("nic=e1000e edu="), "{text}");

    // The legacy-group prepare binds both groups to vfio-pci, opens them via VFIO, writes CDI + checkpoint.
    let (text, rc) = step(&console, "prepare");
    assert_eq!(rc, 0, "{text}");
    let prepared = json(text);
    assert_eq!(prepared["devices"].as_array().unwrap().len(), 2, "{text}");
    let (text, _) = step(&console, "drivers-prepared");
    assert!(text.contains("nic=vfio-pci edu=vfio-pci"), "{text}");
    let (text, _) = step(&console, "cdi");
    let spec = json(text);
    assert_eq!(spec["cdiVersion"], "0.5.0");
    let nodes: Vec<String> = spec["devices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["containerEdits"]["deviceNodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["path"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(
        nodes.contains(&format!("/dev/vfio/{nic_group}")) && nodes.contains(&format!("/dev/vfio/{edu_group}")),
        "{nodes:?}"
    );
    let (text, rc) = step(&console, "prepare-again");
    assert_eq!((rc, json(text)), (0, prepared.clone()), "prepare is idempotent");

    // A restarted node keeps the completed claim and finds nothing unclaimed on vfio-pci.
    let (text, rc) = step(&console, "recover");
    assert_eq!(rc, 0, "{text}");
    let report = json(text);
    assert_eq!(report["prepared"], serde_json::json!(["c1"]), "{text}");
    assert_eq!(report["unclaimed_vfio"], serde_json::json!([]), "{text}");

    // Unprepare restores e1000e and leaves edu unbound as it was; twice is fine; nothing is left over.
    let (text, rc) = step(&console, "unprepare");
    assert_eq!(rc, 0, "{text}");
    let (text, _) = step(&console, "drivers-unprepared");
    assert!(text.contains("nic=e1000e edu=\n") || text.trim_end().ends_with("nic=e1000e edu="), "{text}");
    assert_eq!(step(&console, "unprepare-again").1, 0);
    let (text, _) = step(&console, "leftovers");
    assert!(!text.contains(".json"), "CDI spec or checkpoint left behind: {text}");
}
