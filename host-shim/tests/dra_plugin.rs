//! The kubelet plugin end to end in process: the kubelet stand-in registers through the registration
//! socket and drives Prepare/Unprepare over both API versions; claims come from the fake API server over
//! HTTP through the real `kube` client; the node is simulated. Covers the failure cases of issue 5.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::Arc;
use std::time::Duration;

use ccgpu_pci::sim::SimBus;
use dra_common::{
    DRIVER, FakeApiServer, Kubelet, NODE, PreparedDevice, Running, Version, assert_clean, client_for, drivers,
    eventually, hgx_device, node_config, plugin_config, temp_dir,
};
use serde_json::json;

const NS: &str = "team-a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_like_the_kubelet_then_prepares_and_unprepares_over_both_versions() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let initial = drivers(&bus);
    let plugin = Running::start(dir.path(), bus.clone(), api.client().unwrap(), plugin_config(dir.path()), None).await;

    // Sockets: where the kubelet looks, owner-only.
    let reg = &plugin.sockets.registration;
    assert_eq!(reg, &dir.path().join("kubelet/plugins_registry/gpu.ccgpu.dev-reg.sock"));
    assert_eq!(plugin.sockets.dra, dir.path().join("kubelet/plugins/gpu.ccgpu.dev/dra.sock"));
    for s in [reg, &plugin.sockets.dra] {
        let m = std::fs::metadata(s).unwrap();
        assert!(m.file_type().is_socket());
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", s.display());
    }
    let dra_dir = std::fs::metadata(plugin.sockets.dra.parent().unwrap()).unwrap();
    assert_eq!(dra_dir.permissions().mode() & 0o777, 0o700);

    let kubelet = plugin.register().await;
    assert_eq!(kubelet.info.r#type, "DRAPlugin");
    assert_eq!(kubelet.info.name, DRIVER);
    assert_eq!(kubelet.info.endpoint, plugin.sockets.dra.to_str().unwrap());
    assert_eq!(
        kubelet.info.supported_versions,
        vec!["v1.DRAPlugin", "v1beta1.DRAPlugin", "v1beta1.DRAResourceHealth", "v1alpha1.DRAResourceHealth"]
    );
    assert_eq!(kubelet.chosen, "v1.DRAPlugin");
    eventually("registered metric", || plugin.metrics.encode().contains("ccgpu_registered 1")).await;

    api.claim(NS, "one", "uid-1", DRIVER, NODE, &[&hgx_device(0)]);
    api.claim(NS, "two", "uid-2", DRIVER, NODE, &[&hgx_device(1)]);
    let a = kubelet.prepare(Version::V1, &[(NS, "one", "uid-1")]).await.unwrap();
    let one = &a["uid-1"];
    assert_eq!(one.error, "");
    assert_eq!(
        one.devices,
        vec![PreparedDevice {
            request_names: vec!["gpu0".to_owned()],
            pool: NODE.to_owned(),
            device: hgx_device(0),
            cdi_device_ids: vec![format!("ccgpu.dev/gpu=claim-uid-1-{}", hgx_device(0))]
        }]
    );
    // The same claim again (the kubelet retries after restarts): the same answer.
    assert_eq!(kubelet.prepare(Version::V1beta1, &[(NS, "one", "uid-1")]).await.unwrap()["uid-1"], *one);
    let b = kubelet.prepare(Version::V1beta1, &[(NS, "two", "uid-2")]).await.unwrap();
    assert_eq!(b["uid-2"].error, "");
    assert!(dir.path().join("cdi/ccgpu.dev-gpu_uid-2.json").is_file());

    let u = kubelet.unprepare(Version::V1beta1, &[(NS, "one", "uid-1"), (NS, "two", "uid-2")]).await.unwrap();
    assert_eq!(u.len(), 2);
    assert!(u.values().all(String::is_empty), "{u:?}");
    // Unknown claims are done already.
    assert_eq!(kubelet.unprepare(Version::V1, &[(NS, "one", "uid-1")]).await.unwrap()["uid-1"], "");
    assert_clean(dir.path(), &bus, &initial);
    let text = plugin.metrics.encode();
    assert!(text.contains("ccgpu_prepare_duration_seconds_count 3"), "{text}");
    assert!(text.contains("ccgpu_unprepare_duration_seconds_count 3"), "{text}");
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_claim_fails_alone_with_its_own_reason() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(3));
    let plugin = Running::start(dir.path(), bus.clone(), api.client().unwrap(), plugin_config(dir.path()), None).await;
    let kubelet = plugin.register().await;

    api.claim(NS, "good", "u-good", DRIVER, NODE, &[&hgx_device(0)]);
    api.claim(NS, "replaced", "u-new", DRIVER, NODE, &[&hgx_device(1)]);
    api.claim_with(NS, "pending", "u-pending", json!({}));
    api.claim(NS, "theirs", "u-theirs", "gpu.nvidia.com", NODE, &["gpu-0"]);
    api.claim(NS, "not-ours", "u-not-ours", DRIVER, NODE, &["gpu-vfio-0"]);
    api.claim(NS, "absent-gpu", "u-absent", DRIVER, NODE, &["gpu-0000-99-00-0"]);
    api.claim(NS, "other-pool", "u-pool", DRIVER, "node-b", &[&hgx_device(2)]);
    api.claim_with(
        NS,
        "bad-config",
        "u-config",
        json!({"allocation": {"devices": {
        "results": [{"request": "r", "driver": DRIVER, "pool": NODE, "device": hgx_device(2)}],
        "config": [{"source": "FromClaim", "opaque": {"driver": DRIVER,
            "parameters": {"apiVersion": "gpu.ccgpu.dev/v1alpha1", "kind": "GpuConfig", "ccMod": "on"}}}]}}}),
    );
    api.claim_with(
        NS,
        "wants-devtools",
        "u-devtools",
        json!({"allocation": {"devices": {
        "results": [{"request": "r", "driver": DRIVER, "pool": NODE, "device": hgx_device(2)}],
        "config": [{"source": "FromClass", "opaque": {"driver": DRIVER,
            "parameters": {"apiVersion": "gpu.ccgpu.dev/v1alpha1", "kind": "GpuConfig", "ccMode": "devtools"}}}]}}}),
    );

    let claims = [
        (NS, "good", "u-good"),
        (NS, "replaced", "u-old"),
        (NS, "pending", "u-pending"),
        (NS, "theirs", "u-theirs"),
        (NS, "not-ours", "u-not-ours"),
        (NS, "absent-gpu", "u-absent"),
        (NS, "other-pool", "u-pool"),
        (NS, "bad-config", "u-config"),
        (NS, "wants-devtools", "u-devtools"),
        (NS, "missing", "u-missing"),
        (NS, "bad-uid", "../../etc"),
    ];
    let out = kubelet.prepare(Version::V1, &claims).await.unwrap();
    assert_eq!(out.len(), claims.len(), "one answer per claim");
    assert_eq!(out["u-good"].error, "");
    assert_eq!(out["u-good"].devices.len(), 1);
    let expect = [
        ("u-old", "has uid u-new, the kubelet asked for u-old: it was replaced"),
        ("u-pending", "claim is not allocated"),
        (
            "u-theirs",
            "no device of the claim is allocated by driver gpu.ccgpu.dev (drivers allocated: [\"gpu.nvidia.com\"])",
        ),
        ("u-not-ours", "allocated device is not one of ours: \"gpu-vfio-0\" is not a ccgpu device name"),
        ("u-absent", "device gpu-0000-99-00-0 is not on this node"),
        ("u-pool", "is allocated from pool \"node-b\", this node publishes pool \"node-a\""),
        (
            "u-config",
            "opaque config 0 of the allocation: opaque config is not a gpu.ccgpu.dev/v1alpha1 GpuConfig: unknown field `ccMod`",
        ),
        ("u-devtools", "is in CC mode on, the claim requires devtools"),
        ("u-missing", "claim team-a/missing does not exist"),
        ("../../etc", "is not a claim UID"),
    ];
    for (uid, text) in expect {
        let a = &out[uid];
        assert!(a.devices.is_empty(), "{uid}");
        assert!(a.error.contains(text), "{uid}: {:?} lacks {text:?}", a.error);
    }
    // Nothing half-done for the failed ones: only the good claim holds anything.
    let store = ccgpu_host_shim::CheckpointStore::open(&dir.path().join("checkpoint")).unwrap();
    let held: Vec<String> = store.load_all().unwrap().records.iter().map(|r| r.claim_uid.to_string()).collect();
    assert_eq!(held, vec!["u-good"]);
    let text = plugin.metrics.encode();
    for reason in [
        "uid_mismatch",
        "not_allocated",
        "not_our_driver",
        "bad_allocation",
        "bad_config",
        "cc_mode",
        "claim_not_found",
        "invalid_uid",
        "node",
    ] {
        assert!(text.contains(&format!("reason=\"{reason}\"")), "metric for {reason}: {text}");
    }
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_server_fails_only_the_slow_claim_within_the_bound() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let mut config = plugin_config(dir.path());
    config.api_timeout = Duration::from_millis(300);
    let plugin = Running::start(dir.path(), bus, api.client().unwrap(), config, None).await;
    let kubelet = plugin.register().await;
    api.claim(NS, "fast", "u-fast", DRIVER, NODE, &[&hgx_device(0)]);
    api.claim(NS, "slow", "u-slow", DRIVER, NODE, &[&hgx_device(1)]);
    api.state().claim_delays.insert("slow".into(), Duration::from_secs(30));
    let out = kubelet.prepare(Version::V1, &[(NS, "fast", "u-fast"), (NS, "slow", "u-slow")]).await.unwrap();
    // The slow claim failed with the read timeout, not with the fake's eventual answer; the other is done.
    assert_eq!(out["u-fast"].error, "");
    assert_eq!(out["u-fast"].devices.len(), 1);
    assert!(out["u-slow"].error.contains("no answer from the API server within 300 ms"), "{:?}", out["u-slow"]);
    assert!(out["u-slow"].devices.is_empty());
    assert!(plugin.metrics.encode().contains("reason=\"api_timeout\""));
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claims_budget_bounds_the_api_read_too() {
    // A generous read timeout, a short claim budget: the budget (minus the rollback's reserve) wins.
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let mut config = plugin_config(dir.path());
    config.api_timeout = Duration::from_secs(60);
    let mut nc = node_config(dir.path());
    nc.budgets.total = Duration::from_millis(900);
    nc.budgets.rollback = Duration::from_millis(400);
    let plugin = Running::start_with(bus.clone(), api.client().unwrap(), config, None, nc).await;
    let kubelet = plugin.register().await;
    api.claim(NS, "fast", "u-fast", DRIVER, NODE, &[&hgx_device(0)]);
    api.claim(NS, "slow", "u-slow", DRIVER, NODE, &[&hgx_device(1)]);
    api.state().claim_delays.insert("slow".into(), Duration::from_secs(20));
    let out = kubelet.prepare(Version::V1, &[(NS, "fast", "u-fast"), (NS, "slow", "u-slow")]).await.unwrap();
    assert_eq!(out["u-fast"].error, "");
    let slow = &out["u-slow"].error;
    assert!(slow.contains("no answer from the API server within"), "{slow:?}");
    let ms: u64 = slow.split("within ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(ms <= 500, "the read got at most the budget minus the reserve, not the 60 s read timeout: {slow:?}");
    // Nothing of the slow claim on the node.
    let held: Vec<String> = ccgpu_host_shim::CheckpointStore::open(&dir.path().join("checkpoint"))
        .unwrap()
        .load_all()
        .unwrap()
        .records
        .iter()
        .map(|r| r.claim_uid.to_string())
        .collect();
    assert_eq!(held, vec!["u-fast"]);
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_between_prepare_and_unprepare_with_the_api_server_down() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let initial = drivers(&bus);
    let plugin = Running::start(dir.path(), bus.clone(), api.client().unwrap(), plugin_config(dir.path()), None).await;
    let kubelet = plugin.register().await;
    api.claim(NS, "c", "u-c", DRIVER, NODE, &[&hgx_device(0), &hgx_device(1)]);
    let first = kubelet.prepare(Version::V1, &[(NS, "c", "u-c")]).await.unwrap();
    assert_eq!(first["u-c"].error, "");
    assert_eq!(first["u-c"].devices.len(), 2);
    plugin.stop().await.unwrap();
    assert!(api.slices().is_empty(), "clean shutdown withdraws the slices");

    // A new process with the API server unreachable (a closed port): its own stale sockets replaced,
    // prepare fails per claim, unprepare works from the checkpoint alone.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    std::os::unix::net::UnixListener::bind(dir.path().join("kubelet/plugins_registry/gpu.ccgpu.dev-reg.sock")).unwrap();
    let plugin =
        Running::start(dir.path(), bus.clone(), client_for(&dead).unwrap(), plugin_config(dir.path()), None).await;
    let kubelet = plugin.register().await;
    let again = kubelet.prepare(Version::V1, &[(NS, "c", "u-c")]).await.unwrap();
    assert!(again["u-c"].error.contains("reading claim team-a/c"), "{:?}", again["u-c"]);
    assert_eq!(kubelet.unprepare(Version::V1beta1, &[(NS, "c", "u-c")]).await.unwrap()["u-c"], "");
    assert_clean(dir.path(), &bus, &initial);
    assert!(plugin.metrics.encode().contains("reason=\"api_error\""));
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_prepares_of_one_claim_agree() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(1));
    let plugin = Running::start(dir.path(), bus, api.client().unwrap(), plugin_config(dir.path()), None).await;
    let kubelet = Arc::new(plugin.register().await);
    api.claim(NS, "c", "u-c", DRIVER, NODE, &[&hgx_device(0)]);
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let k = kubelet.clone();
            let v = if i % 2 == 0 { Version::V1 } else { Version::V1beta1 };
            tokio::spawn(async move { k.prepare(v, &[(NS, "c", "u-c")]).await.unwrap() })
        })
        .collect();
    let mut answers = BTreeSet::new();
    for c in calls {
        let a = c.await.unwrap();
        assert_eq!(a["u-c"].error, "");
        answers.insert(format!("{:?}", a["u-c"]));
    }
    assert_eq!(answers.len(), 1, "{answers:?}");
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubelet_that_refuses_is_told_and_a_wrong_driver_is_refused() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let plugin =
        Running::start(dir.path(), Arc::new(SimBus::hgx(1)), api.client().unwrap(), plugin_config(dir.path()), None)
            .await;
    let e = Kubelet::register(&plugin.sockets.registration, "gpu.nvidia.com").await.err().unwrap().to_string();
    assert!(e.contains("is not \"gpu.nvidia.com\""), "{e}");
    eventually("refusal recorded", || plugin.metrics.encode().contains("ccgpu_registered 0")).await;
    plugin.stop().await.unwrap();
}
