//! A rolling update with `maxSurge` as the kubelet (1.33+) sees it: each plugin pod serves its own
//! sockets, `<driver>-<pod uid>-reg.sock` and `dra-<pod uid>.sock`. The new pod starts while the old one
//! serves and waits for the node lock without a socket of its own; the old pod drains on its stop and
//! removes only its own sockets; the new pod then takes the lock, serves under its names and answers the
//! kubelet's retry of a claim the old pod prepared with the same devices, without preparing it again.
//! A predecessor that died leaves its sockets; the next holder of the lock removes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ccgpu_host_shim::PluginOptions;
use ccgpu_pci::sim::SimBus;
use dra_common::{
    DRIVER, FakeApiServer, NODE, Running, Version, assert_clean, drivers, eventually, hgx_device, node_config,
    plugin_config, temp_dir,
};

const NS: &str = "team-a";
// Short UIDs: a temp directory's socket paths are longer than /var/lib/kubelet's, and a unix socket
// path has 107 bytes (the plugin's unit tests check a real 36-character UID under the default root).
const OLD: &str = "pod-a";
const NEW: &str = "pod-b";

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// A plugin pod: its UID names its sockets and is recorded in the node lock, which it waits for up to
/// `wait`. An ordinary stop (the default options) leaves the slices for the next pod.
async fn start(dir: &Path, bus: &Arc<SimBus>, client: kube::Client, pod: &str, wait: Duration) -> Running {
    let mut nc = node_config(dir);
    nc.instance = Some(pod.to_owned());
    nc.lock_wait = wait;
    let options = PluginOptions { pod_uid: Some(pod.to_owned()), ..PluginOptions::default() };
    Running::start_with_options(bus.clone(), client, plugin_config(dir), options, None, nc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_surge_rollout_hands_over_at_the_node_lock_with_per_pod_sockets() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let initial = drivers(&bus);
    let registry = dir.path().join("kubelet/plugins_registry");
    let plugins = dir.path().join(format!("kubelet/plugins/{DRIVER}"));

    let old = start(dir.path(), &bus, api.client().unwrap(), OLD, Duration::ZERO).await;
    assert_eq!(names(&registry), BTreeSet::from([format!("{DRIVER}-{OLD}-reg.sock")]));
    assert_eq!(names(&plugins), BTreeSet::from([format!("dra-{OLD}.sock")]));
    let kubelet = old.register().await;
    assert!(kubelet.info.endpoint.ends_with(&format!("/dra-{OLD}.sock")), "{}", kubelet.info.endpoint);
    api.claim(NS, "one", "uid-1", DRIVER, NODE, &[&hgx_device(0)]);
    let first = kubelet.prepare(Version::V1, &[(NS, "one", "uid-1")]).await.unwrap();
    assert_eq!(first["uid-1"].error, "");

    // The new pod starts beside it and waits for the lock: no socket of its own yet, the old one serves.
    let waiting = {
        let (dir, bus, client) = (dir.path().to_owned(), bus.clone(), api.client().unwrap());
        tokio::spawn(async move { start(&dir, &bus, client, NEW, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the new instance waits while the old one holds the node lock");
    assert_eq!(names(&registry), BTreeSet::from([format!("{DRIVER}-{OLD}-reg.sock")]));
    api.claim(NS, "two", "uid-2", DRIVER, NODE, &[&hgx_device(1)]);
    let second = kubelet.prepare(Version::V1, &[(NS, "two", "uid-2")]).await.unwrap();
    assert_eq!(second["uid-2"].error, "", "the old instance still prepares while the new one waits");

    // The old pod is deleted: it drains and removes its own sockets; the new one takes over.
    old.stop().await.unwrap();
    let new = tokio::time::timeout(Duration::from_secs(15), waiting).await.expect("hand-over in time").unwrap();
    eventually("the new pod's sockets only", || {
        names(&registry) == BTreeSet::from([format!("{DRIVER}-{NEW}-reg.sock")])
            && names(&plugins) == BTreeSet::from([format!("dra-{NEW}.sock")])
    })
    .await;
    let kubelet = new.register().await;
    assert!(kubelet.info.endpoint.ends_with(&format!("/dra-{NEW}.sock")), "{}", kubelet.info.endpoint);

    // The kubelet retries on the new instance: the same answers, from the checkpoint.
    let again = kubelet.prepare(Version::V1, &[(NS, "one", "uid-1"), (NS, "two", "uid-2")]).await.unwrap();
    assert_eq!(again["uid-1"], first["uid-1"]);
    assert_eq!(again["uid-2"], second["uid-2"]);
    let errors = kubelet.unprepare(Version::V1, &[(NS, "one", "uid-1"), (NS, "two", "uid-2")]).await.unwrap();
    assert!(errors.values().all(String::is_empty), "{errors:?}");
    new.stop().await.unwrap();
    assert_clean(dir.path(), &bus, &initial);
    assert_eq!(api.state().refused, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sockets_a_dead_predecessor_left_are_removed_by_the_next_holder_only() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(1));
    let registry = dir.path().join("kubelet/plugins_registry");
    let plugins = dir.path().join(format!("kubelet/plugins/{DRIVER}"));
    // A predecessor killed with SIGKILL: its UID still in the lock file, its sockets left. And the socket
    // of some other, live instance (a later rollout's pod, waiting) that must stay.
    let third = "pod-c";
    std::fs::create_dir_all(dir.path().join("checkpoint")).unwrap();
    std::fs::write(dir.path().join("checkpoint/node.lock"), OLD).unwrap();
    for d in [&registry, &plugins] {
        std::fs::create_dir_all(d).unwrap();
    }
    let left = [
        registry.join(format!("{DRIVER}-{OLD}-reg.sock")),
        plugins.join(format!("dra-{OLD}.sock")),
        registry.join(format!("{DRIVER}-{third}-reg.sock")),
    ];
    for path in &left {
        drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    }

    let new = start(dir.path(), &bus, api.client().unwrap(), NEW, Duration::ZERO).await;
    eventually("the dead predecessor's sockets removed", || {
        names(&registry) == BTreeSet::from([format!("{DRIVER}-{NEW}-reg.sock"), format!("{DRIVER}-{third}-reg.sock")])
            && names(&plugins) == BTreeSet::from([format!("dra-{NEW}.sock")])
    })
    .await;
    new.stop().await.unwrap();
    assert_eq!(
        names(&registry),
        BTreeSet::from([format!("{DRIVER}-{third}-reg.sock")]),
        "a stopping instance removes its own sockets, never another live one's"
    );
}
