//! What the real-kernel VM tests share: the guest (a q35 machine under QEMU TCG with an emulated Intel
//! vIOMMU, an `e1000e` NIC on its driver and the QEMU `edu` device with none), a busybox-static initramfs
//! holding our `ccgpu-node` binary and the kernel's modules, a `/init` that runs each step between
//! `CCGPU-VM-BEGIN <step>` / `CCGPU-VM-END <step> rc=N` markers on the serial console, and the reading
//! of those markers on the host side.
//!
//! How the binary gets in: we copy the `ccgpu-node` that `cargo test` already built (debug info stripped
//! with `objcopy`) plus the few shared libraries `ldd` lists and the dynamic loader into the initramfs.
//! That needs no second build and no extra target, which keeps CI time and complexity lowest.
//!
//! Trusts: the kernel packages apt fetches (Debian's archive), QEMU's emulation. The tests skip, with a
//! message, only when not root or without QEMU, and never under `CI=true`, where those are failures.
#![allow(clippy::unwrap_used, dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ccgpu_test_support::in_ci;

/// Emulated devices and where we put them.
pub const NIC: &str = "0000:00:03.0";
pub const EDU: &str = "0000:00:04.0";
/// Their DRA device names.
pub const NIC_NAME: &str = "gpu-0000-00-03-0";
pub const EDU_NAME: &str = "gpu-0000-00-04-0";
/// The node binary as the guest runs it: the match rule selecting both devices.
pub const NODE: &str = "/ccgpu-node --match 8086:0200,1234:00ff --cdi-dir /run/cdi --checkpoint-dir /var/lib/ccgpu";
/// Wall-clock bound of one boot-run-poweroff.
pub const QEMU_TIMEOUT_S: u32 = 100;

/// A guest kernel: its image and the module files `/init` loads, in that order.
#[derive(Debug)]
pub struct Kernel {
    pub vmlinuz: PathBuf,
    pub modules: Vec<PathBuf>,
}

/// `Some(why)` when this machine cannot boot the guest; panics under `CI=true`, where it must.
pub fn cannot_run() -> Option<String> {
    let root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false);
    let why = if !root {
        "not root"
    } else if Command::new("qemu-system-x86_64").arg("--version").output().is_err() {
        "qemu-system-x86_64 not installed"
    } else {
        return None;
    };
    assert!(!in_ci(), "real-kernel VM test cannot run under CI=true: {why}");
    ccgpu_test_support::skip(&format!("{why} (set up with ./ci/system-deps.sh, run as root)"));
    Some(why.to_owned())
}

pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where kernels are cached across runs (delete it to refetch).
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ccgpu-vm")
}

/// The guest's /init: load the modules, then run each step between markers and power off.
fn init_script(modules: &[PathBuf], steps: &[(&str, String)]) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\nmount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\nmkdir -p /run/cdi /var/lib/ccgpu /tmp\n",
    );
    for m in modules {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        s += &format!("insmod /modules/{name} || echo 'CCGPU-VM insmod {name} failed'\n");
    }
    for (name, cmd) in steps {
        s += &format!("echo 'CCGPU-VM-BEGIN {name}'\n{cmd}\necho \"CCGPU-VM-END {name} rc=$?\"\n");
    }
    s += "echo CCGPU-VM-DONE\npoweroff -f\n";
    s
}

/// Builds the initramfs (an uncompressed newc cpio) and returns its path.
fn initramfs(work: &Path, kernel: &Kernel, steps: &[(&str, String)]) -> Result<PathBuf, String> {
    let root = work.join("root");
    for d in ["bin", "modules", "proc", "sys", "dev", "run", "var", "tmp"] {
        fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
    }
    fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(|e| format!("/bin/busybox: {e}"))?;
    for m in &kernel.modules {
        let name = m.file_name().unwrap();
        fs::copy(m, root.join("modules").join(name)).map_err(|e| format!("{}: {e}", m.display()))?;
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
    fs::write(&init, init_script(&kernel.modules, steps)).map_err(|e| e.to_string())?;
    run(Command::new("chmod").args(["0755"]).arg(&init))?;
    let cpio = work.join("initramfs.cpio");
    run(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . | cpio -o -H newc --quiet > '{}'",
        root.display(),
        cpio.display()
    )))?;
    Ok(cpio)
}

/// Boots `kernel` with the steps as its `/init`, under `timeout`, and returns the serial console once
/// the guest has printed `CCGPU-VM-DONE` with every module loaded (panics with the console otherwise).
pub fn boot(label: &str, kernel: &Kernel, steps: &[(&str, String)]) -> String {
    let work = tempfile::tempdir().unwrap();
    let cpio = initramfs(work.path(), kernel, steps).unwrap_or_else(|e| panic!("building the initramfs: {e}"));
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg(QEMU_TIMEOUT_S.to_string())
        .arg("qemu-system-x86_64")
        .args(["-accel", "tcg", "-machine", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on"])
        .args(["-cpu", "max", "-smp", "1", "-m", "512", "-no-reboot", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-serial", "stdio"])
        .args(["-device", "e1000e,addr=03.0", "-device", "edu,addr=04.0"])
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&cpio)
        .args(["-append", "console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet"])
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    eprintln!("{label}: boot-run-poweroff {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        console.contains("CCGPU-VM-DONE"),
        "guest did not finish ({}):\n{console}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!console.contains("CCGPU-VM insmod"), "a module failed to load:\n{console}");
    console
}

/// The output of one step: `(text, exit code)`.
pub fn step<'a>(console: &'a str, name: &str) -> (&'a str, i32) {
    let begin = format!("CCGPU-VM-BEGIN {name}\n");
    let start = console.find(&begin).unwrap_or_else(|| panic!("step {name} never ran:\n{console}")) + begin.len();
    let end_marker = format!("CCGPU-VM-END {name} rc=");
    let end = start + console[start..].find(&end_marker).unwrap_or_else(|| panic!("step {name} never ended"));
    let rc_text = &console[end + end_marker.len()..];
    let rc = rc_text.split_whitespace().next().unwrap().parse().unwrap();
    (&console[start..end], rc)
}

/// The step's stdout as JSON. Log lines went to stderr, which is the same console, so take from the first
/// line that opens a JSON value and leave out log lines.
pub fn json(text: &str) -> serde_json::Value {
    let begin = text.lines().position(|l| l.starts_with('[') || l.starts_with('{')).unwrap_or_else(|| panic!("{text}"));
    let doc: Vec<&str> = text.lines().skip(begin).filter(|l| !l.contains(" INFO ") && !l.contains(" WARN ")).collect();
    serde_json::from_str(&doc.join("\n")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A shell step printing each device's current driver: `nic=<driver> edu=<driver>`.
pub fn drivers_step() -> String {
    format!(
        "echo \"nic=$(basename \"$(readlink /sys/bus/pci/devices/{NIC}/driver)\") edu=$(basename \"$(readlink /sys/bus/pci/devices/{EDU}/driver)\")\"\n"
    )
}

/// Device node paths of every device in a CDI spec.
pub fn cdi_device_nodes(spec: &serde_json::Value) -> Vec<String> {
    spec["devices"]
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
        .collect()
}

/// A discovered device's JSON by PCI address.
pub fn discovered<'a>(found: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    found
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"]["pci"]["address"] == address)
        .unwrap_or_else(|| panic!("{address} not discovered: {found}"))
}
