//! The rolling-update hand-over between two `ccgpu-kubelet-plugin` processes (`--simulate`, `POD_UID`),
//! with a real SIGKILL: the new process waits for the node lock with no socket of its own while
//! `/healthz` answers 200 (so the liveness probe lets it wait); the old one is killed; the new one takes
//! the lock, removes the sockets the killed one left, serves under its own per-pod names and registers
//! with the kubelet stand-in. A process that waits in vain exits with an error after its bound.
//!
//! Claims are not prepared here: each `--simulate` process has its own simulated bus, so the devices'
//! state would not carry over; the node-layer hand-over with prepared claims is `node_handover.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dra_common::{DRIVER, FakeApiServer, Kubelet, NODE, eventually, temp_dir};

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

fn kubeconfig(dir: &Path, api: &FakeApiServer) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: u\n  user: {{}}\n\
             contexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n",
            api.url()
        ),
    )
    .unwrap();
    path
}

/// One plugin pod: `pod` is its UID, `wait` its hand-over bound; logs to `<dir>/<pod>.log`.
fn spawn(dir: &Path, kubeconfig: &Path, pod: &str, wait: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ccgpu-kubelet-plugin"))
        .args(["--simulate", "1", "--node-name", NODE, "--preflight", "off"])
        .arg("--kubelet-root")
        .arg(dir.join("kubelet"))
        .arg("--cdi-dir")
        .arg(dir.join("cdi"))
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoint"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--metrics-address")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("NODE_NAME")
        .env("POD_UID", pod)
        .env("CCGPU_HANDOVER_WAIT", wait)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{pod}.log"))).unwrap())
        .spawn()
        .unwrap()
}

async fn wait_exit(child: &mut Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let end = tokio::time::Instant::now() + bound;
    while tokio::time::Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_waits_alive_takes_over_from_a_killed_one_and_clears_its_sockets() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let kubeconfig = kubeconfig(dir.path(), &api);
    let registry = dir.path().join("kubelet/plugins_registry");
    let plugins = dir.path().join(format!("kubelet/plugins/{DRIVER}"));
    let log = |pod: &str| std::fs::read_to_string(dir.path().join(format!("{pod}.log"))).unwrap_or_default();

    let mut old = spawn(dir.path(), &kubeconfig, "pod-a", "120s", free_port());
    let old_reg = registry.join(format!("{DRIVER}-pod-a-reg.sock"));
    eventually("the old pod's socket", || old_reg.exists() || old.try_wait().unwrap().is_some()).await;
    assert!(old.try_wait().unwrap().is_none(), "old exited: {}", log("pod-a"));

    let port = free_port();
    let mut new = spawn(dir.path(), &kubeconfig, "pod-b", "20s", port);
    eventually("the new pod waiting, alive", || {
        http_get(port, "/healthz").starts_with("HTTP/1.1 200") || new.try_wait().unwrap().is_some()
    })
    .await;
    let healthz = tokio::task::spawn_blocking(move || http_get(port, "/healthz")).await.unwrap();
    assert!(healthz.contains("waiting for the node lock"), "{healthz}\n{}", log("pod-b"));
    assert!(new.try_wait().unwrap().is_none(), "{}", log("pod-b"));
    assert_eq!(names(&registry), vec![format!("{DRIVER}-pod-a-reg.sock")], "no socket of the waiting pod");

    // The old pod dies without a word.
    old.kill().unwrap();
    old.wait().unwrap();
    let new_reg = registry.join(format!("{DRIVER}-pod-b-reg.sock"));
    eventually("the new pod serving, the dead one's sockets gone", || {
        names(&registry) == vec![format!("{DRIVER}-pod-b-reg.sock")]
            && names(&plugins) == vec!["dra-pod-b.sock".to_owned()]
    })
    .await;
    let kubelet = Kubelet::register(&new_reg, DRIVER).await.unwrap();
    assert!(kubelet.info.endpoint.ends_with("/dra-pod-b.sock"), "{}", kubelet.info.endpoint);
    assert!(log("pod-b").contains("node lock handed over"), "{}", log("pod-b"));

    // A third pod that waits in vain (the new one holds on) gives up after its bound, with an error.
    let mut third = spawn(dir.path(), &kubeconfig, "pod-c", "500ms", free_port());
    let status = wait_exit(&mut third, Duration::from_secs(20)).await.expect("gives up in time");
    assert_eq!(status.code(), Some(1), "{}", log("pod-c"));
    assert!(log("pod-c").contains("another ccgpu node process holds"), "{}", log("pod-c"));
    assert_eq!(names(&registry), vec![format!("{DRIVER}-pod-b-reg.sock")], "the third touched nothing");

    Command::new("kill").args(["-TERM", &new.id().to_string()]).status().unwrap();
    let status = wait_exit(&mut new, Duration::from_secs(30)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {}", log("pod-b"));
    assert!(names(&registry).is_empty() && names(&plugins).is_empty(), "the new pod removed its own sockets");
}
