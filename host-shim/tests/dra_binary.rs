//! The `ccgpu-kubelet-plugin` binary itself, in `--simulate` mode, against the kubelet stand-in and the
//! fake API server (reached through a kubeconfig, as an operator would point it): registration, slices,
//! prepare and unprepare over both API versions, /healthz and /metrics, and a graceful SIGTERM that
//! removes the sockets and, an ordinary stop, leaves the slices for the next process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use dra_common::{DRIVER, FakeApiServer, Kubelet, NODE, Version, eventually, hgx_device, temp_dir};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_in_simulate_mode_serves_the_kubelet_and_stops_cleanly_on_sigterm() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: u\n  user: {{}}\n\
             contexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n",
            api.url()
        ),
    )
    .unwrap();
    let port = free_port();
    let log = dir.path().join("plugin.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccgpu-kubelet-plugin"))
        .args(["--simulate", "2", "--node-name", NODE, "--rediscover-interval", "200ms", "--log-format", "json"])
        .arg("--kubelet-root")
        .arg(dir.path().join("kubelet"))
        .arg("--cdi-dir")
        .arg(dir.path().join("cdi"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoint"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--metrics-address")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("NODE_NAME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let reg = dir.path().join("kubelet/plugins_registry/gpu.ccgpu.dev-reg.sock");
    eventually("registration socket", || reg.exists() || child.try_wait().unwrap().is_some()).await;
    assert!(child.try_wait().unwrap().is_none(), "plugin exited early: {}", std::fs::read_to_string(&log).unwrap());

    let kubelet = Kubelet::register(&reg, DRIVER).await.unwrap();
    eventually("slices published", || api.published() == vec![hgx_device(0), hgx_device(1)]).await;
    api.claim("ns", "c1", "uid-1", DRIVER, NODE, &[&hgx_device(0)]);
    api.claim("ns", "c2", "uid-2", DRIVER, NODE, &[&hgx_device(1)]);
    let a = kubelet.prepare(Version::V1, &[("ns", "c1", "uid-1")]).await.unwrap();
    assert_eq!(a["uid-1"].error, "");
    assert_eq!(a["uid-1"].devices[0].cdi_device_ids, vec![format!("ccgpu.dev/gpu=claim-uid-1-{}", hgx_device(0))]);
    let b = kubelet.prepare(Version::V1beta1, &[("ns", "c2", "uid-2")]).await.unwrap();
    assert_eq!(b["uid-2"].error, "");
    let health =
        tokio::task::spawn_blocking(move || (http_get(port, "/healthz"), http_get(port, "/metrics"))).await.unwrap();
    assert!(health.0.starts_with("HTTP/1.1 200"), "{}", health.0);
    assert!(health.1.contains("ccgpu_prepare_duration_seconds_count 2"), "{}", health.1);
    assert!(health.1.contains("ccgpu_devices{state=\"prepared\"}"), "{}", health.1);
    let u = kubelet.unprepare(Version::V1, &[("ns", "c1", "uid-1"), ("ns", "c2", "uid-2")]).await.unwrap();
    assert!(u.values().all(String::is_empty), "{u:?}");

    // SIGTERM: graceful stop.
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("plugin did not stop on SIGTERM: {}", std::fs::read_to_string(&log).unwrap());
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status:?}: {text}");
    assert_eq!(api.published(), vec![hgx_device(0), hgx_device(1)], "an ordinary SIGTERM leaves the slices");
    assert_eq!(api.state().slice_deletes, 0);
    assert!(!reg.exists() && !dir.path().join("kubelet/plugins/gpu.ccgpu.dev/dra.sock").exists(), "sockets removed");
    assert!(text.contains("SIMULATION MODE"), "{text}");
    assert!(text.contains("\"claim_uid\":\"uid-1\""), "structured JSON logs carry the claim uid: {text}");
    assert!(text.contains("SIGTERM received"), "{text}");
    assert_eq!(std::fs::read_dir(dir.path().join("cdi")).unwrap().count(), 0);
}

/// `--simulate 8 --simulate-ppcie`: the binary publishes the HGX board as its one PPCIe unit, prepares a
/// claim on it as all 12 devices (one answer, twelve CDI ids) and refuses a claim on a member GPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_simulating_a_ppcie_board_offers_and_prepares_the_unit() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: u\n  user: {{}}\n\
             contexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n",
            api.url()
        ),
    )
    .unwrap();
    let log = dir.path().join("plugin.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccgpu-kubelet-plugin"))
        .args(["--simulate", "8", "--simulate-ppcie", "--preflight", "off", "--node-name", NODE])
        .args(["--rediscover-interval", "200ms", "--log-format", "json"])
        .arg("--kubelet-root")
        .arg(dir.path().join("kubelet"))
        .arg("--cdi-dir")
        .arg(dir.path().join("cdi"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoint"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--metrics-address")
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_remove("NODE_NAME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let reg = dir.path().join("kubelet/plugins_registry/gpu.ccgpu.dev-reg.sock");
    eventually("registration socket", || reg.exists() || child.try_wait().unwrap().is_some()).await;
    assert!(child.try_wait().unwrap().is_none(), "plugin exited early: {}", std::fs::read_to_string(&log).unwrap());
    let kubelet = Kubelet::register(&reg, DRIVER).await.unwrap();

    let unit = "ppcie-0000-18-00-0";
    eventually("the unit published alone", || api.published() == vec![unit.to_owned()]).await;
    api.claim("ns", "all", "uid-unit", DRIVER, NODE, &[unit]);
    api.claim("ns", "one", "uid-gpu", DRIVER, NODE, &[&hgx_device(0)]);
    let a = kubelet.prepare(Version::V1, &[("ns", "all", "uid-unit")]).await.unwrap();
    assert_eq!(a["uid-unit"].error, "");
    assert_eq!(a["uid-unit"].devices.len(), 1, "one allocated device: the unit");
    let ids = &a["uid-unit"].devices[0].cdi_device_ids;
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(ids.contains(&"ccgpu.dev/gpu=claim-uid-unit-nvswitch-0000-c8-00-0".to_owned()), "{ids:?}");
    let b = kubelet.prepare(Version::V1, &[("ns", "one", "uid-gpu")]).await.unwrap();
    assert!(b["uid-gpu"].error.contains("is in PPCIe mode and cannot be prepared alone"), "{}", b["uid-gpu"].error);
    let u = kubelet.unprepare(Version::V1, &[("ns", "all", "uid-unit")]).await.unwrap();
    assert!(u.values().all(String::is_empty), "{u:?}");
    assert_eq!(std::fs::read_dir(dir.path().join("cdi")).unwrap().count(), 0);
    child.kill().unwrap();
    child.wait().unwrap();
}
