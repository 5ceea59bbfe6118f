//! Device health (KEP-4680) through the kubelet stand-in speaking the upstream `v1alpha1.DRAResourceHealth`
//! proto, and `v1beta1` beside it (each device's stated timeout and why): the registration advertises both; a stream starts with the complete list and sees every
//! change; each unhealthy cause (the PCI function gone, fatal AER errors, a prepared GPU off vfio-pci,
//! failed pre-flight); every response lists every device; an unreadable source turns Unknown only after
//! the health timeout; an unchanged list is resent; the same health taints the slices (`NoSchedule` free,
//! `NoExecute` prepared) and sets `ccgpu_device_health`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccgpu_host_shim::sim::{HealthReport, HealthVersion, HealthWatch, ReportedHealth};
use ccgpu_pci::sim::SimBus;
use ccgpu_pci::{PciAddress, PciBus};
use dra_common::{
    DRIVER, FakeApiServer, HEALTH_TIMING, Kubelet, NODE, Running, Version, eventually, hgx_device, plugin_config,
    temp_dir,
};

const SLICE: &str = "node-a-gpu.ccgpu.dev-0";
const NS: &str = "team-a";

fn gpu(i: u8) -> PciAddress {
    PciAddress::new(0, 0x18 + i * 0x10, 0, 0).unwrap()
}

fn health(list: &[HealthReport], device: &str) -> Option<ReportedHealth> {
    list.iter().find(|r| r.device == device).map(|r| r.health)
}

/// Reads responses until one satisfies `pred` (bounded: 10 s), checking on each that it is a complete
/// list: exactly `devices` GPUs of our pool, once each.
async fn until(
    watch: &mut HealthWatch,
    devices: usize,
    what: &str,
    pred: impl Fn(&[HealthReport]) -> bool,
) -> Vec<HealthReport> {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = tokio::time::timeout_at(end, watch.next())
            .await
            .unwrap_or_else(|_| panic!("never happened: {what}"))
            .unwrap()
            .expect("the stream ended");
        // Before the first discovery the list is empty; from then on it is always complete.
        if !list.is_empty() {
            let names: BTreeSet<&str> = list.iter().map(|r| r.device.as_str()).collect();
            assert_eq!(names.len(), list.len(), "a device listed twice: {list:?}");
            assert_eq!(list.len(), devices, "every response lists every device: {list:?}");
            assert!(list.iter().all(|r| r.pool == NODE), "{list:?}");
        }
        if pred(&list) {
            return list;
        }
    }
}

fn all_healthy(list: &[HealthReport]) -> bool {
    !list.is_empty() && list.iter().all(|r| r.health == ReportedHealth::Healthy)
}

fn taints(api: &FakeApiServer, device: &str) -> serde_json::Value {
    // Null too while no slice is published yet.
    let slices = api.slices();
    let devices = slices.get(SLICE).and_then(|s| s["spec"]["devices"].as_array().cloned()).unwrap_or_default();
    let d = devices.into_iter().find(|d| d["name"] == device);
    d.and_then(|d| d.get("taints").cloned()).unwrap_or(serde_json::Value::Null)
}

/// A plugin on a 2-GPU simulated bus, registered with the kubelet stand-in, and its health stream.
struct Watched {
    dir: tempfile::TempDir,
    api: FakeApiServer,
    bus: Arc<SimBus>,
    plugin: Running,
    kubelet: Kubelet,
    watch: HealthWatch,
}

async fn watched(preflight: Option<Arc<dyn ccgpu_host_shim::PreflightCheck>>) -> Watched {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let plugin =
        Running::start(dir.path(), bus.clone(), api.client().unwrap(), plugin_config(dir.path()), preflight).await;
    let kubelet = plugin.register().await;
    let watch = kubelet.watch_health().await.unwrap();
    Watched { dir, api, bus, plugin, kubelet, watch }
}

fn now_unix() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_starts_complete_and_sees_a_gpu_disappear_while_listing_every_device() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let plugin = Running::start(dir.path(), bus.clone(), api.client().unwrap(), plugin_config(dir.path()), None).await;
    let kubelet = plugin.register().await;
    assert!(
        kubelet.info.supported_versions.iter().any(|v| v == "v1alpha1.DRAResourceHealth"),
        "the registration advertises the health service: {:?}",
        kubelet.info.supported_versions
    );
    assert_eq!(kubelet.chosen, "v1.DRAPlugin", "the health service does not change the DRA choice");

    let mut watch = kubelet.watch_health().await.unwrap();
    let list = until(&mut watch, 2, "both GPUs healthy", all_healthy).await;
    for r in &list {
        assert!((now_unix() - r.last_updated).abs() < 60, "last_updated is Unix seconds of now: {r:?}");
    }

    // Surprise removal of one GPU: the same stream reports it Unhealthy, and still lists both.
    bus.remove_function(gpu(1));
    let list = until(&mut watch, 2, "the removed GPU unhealthy", |l| {
        health(l, &hgx_device(1)) == Some(ReportedHealth::Unhealthy)
    })
    .await;
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy), "the other GPU is untouched");
    eventually("health metric", || {
        let m = plugin.metrics.encode();
        m.contains(&format!("ccgpu_device_health{{device=\"{}\",state=\"Unhealthy\"}} 1", hgx_device(1)))
            && m.contains(&format!("ccgpu_device_health{{device=\"{}\",state=\"Healthy\"}} 0", hgx_device(1)))
            && m.contains(&format!("ccgpu_device_health{{device=\"{}\",state=\"Healthy\"}} 1", hgx_device(0)))
    })
    .await;
    eventually("gone GPU unpublished", || api.published() == vec![hgx_device(0)]).await;

    // An open health stream does not hold up a graceful shutdown.
    let start = Instant::now();
    plugin.stop().await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "stop took {:?} with a stream open", start.elapsed());
    assert!(watch.next().await.map(|n| n.is_none()).unwrap_or(true), "the stream ended with the plugin");
    assert_eq!(api.state().refused, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_aer_errors_make_a_free_gpu_unhealthy_and_taint_it_no_schedule() {
    let Watched { dir: _dir, api, bus: _bus, plugin, kubelet: _kubelet, mut watch } = watched(None).await;
    until(&mut watch, 2, "both GPUs healthy", all_healthy).await;
    eventually("slice published", || api.published().len() == 2).await;
    assert!(taints(&api, &hgx_device(1)).is_null());

    plugin.device_health.set_fatal_aer(gpu(1), 1);
    let list =
        until(&mut watch, 2, "AER GPU unhealthy", |l| health(l, &hgx_device(1)) == Some(ReportedHealth::Unhealthy))
            .await;
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy));
    eventually("AER GPU tainted", || !taints(&api, &hgx_device(1)).is_null()).await;
    let t = taints(&api, &hgx_device(1));
    assert_eq!(t.as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t[0]["key"], "gpu.ccgpu.dev/unhealthy");
    assert_eq!(t[0]["value"], "fatal-aer");
    assert_eq!(t[0]["effect"], "NoSchedule", "a free GPU: keep new pods off it");
    assert!(taints(&api, &hgx_device(0)).is_null());
    plugin.stop().await.unwrap();
    assert_eq!(api.state().refused, Vec::<String>::new(), "the tainted slice is valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_gpu_that_falls_off_vfio_is_unhealthy_and_tainted_no_execute() {
    let Watched { dir: _dir, api, bus, plugin, kubelet, mut watch } = watched(None).await;
    until(&mut watch, 2, "both GPUs healthy", all_healthy).await;

    api.claim(NS, "one", "uid-1", DRIVER, NODE, &[&hgx_device(0)]);
    let a = kubelet.prepare(Version::V1, &[(NS, "one", "uid-1")]).await.unwrap();
    assert_eq!(a["uid-1"].error, "");
    // Prepared on vfio-pci: healthy. Wait for a round that knows it is prepared.
    eventually("prepared GPU published", || api.published().len() == 2).await;
    tokio::time::sleep(HEALTH_TIMING.poll * 4).await;
    let list = until(&mut watch, 2, "a response after prepare", |_| true).await;
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy), "on vfio-pci while prepared");

    // Something unbinds it from vfio-pci under the running guest.
    bus.unbind(gpu(0)).unwrap();
    until(&mut watch, 2, "off-VFIO GPU unhealthy", |l| health(l, &hgx_device(0)) == Some(ReportedHealth::Unhealthy))
        .await;
    eventually("off-VFIO GPU tainted", || !taints(&api, &hgx_device(0)).is_null()).await;
    let t = taints(&api, &hgx_device(0));
    assert_eq!(t[0]["key"], "gpu.ccgpu.dev/unhealthy");
    assert_eq!(t[0]["value"], "off-vfio");
    assert_eq!(t[0]["effect"], "NoExecute", "a prepared GPU went bad: its pods should go");
    assert!(taints(&api, &hgx_device(1)).is_null());
    plugin.stop().await.unwrap();
    assert_eq!(api.state().refused, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_failing_preflight_is_reported_unhealthy_with_its_one_taint() {
    let preflight = ccgpu_host_shim::sim::simulated_preflight_with(BTreeSet::from([gpu(1)])).unwrap();
    let Watched { dir: _dir, api, bus: _bus, plugin, kubelet: _kubelet, mut watch } = watched(Some(preflight)).await;
    let list = until(&mut watch, 2, "pre-flight verdicts in", |l| {
        health(l, &hgx_device(1)) == Some(ReportedHealth::Unhealthy)
    })
    .await;
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy), "genuine evidence passes");
    eventually("tainted", || !taints(&api, &hgx_device(1)).is_null()).await;
    let t = taints(&api, &hgx_device(1));
    assert_eq!(t.as_array().unwrap().len(), 1, "pre-flight's own taint only, not a second one: {t}");
    assert_eq!(t[0]["key"], "gpu.ccgpu.dev/preflight-attestation");
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_source_is_unknown_only_after_the_timeout_and_an_unchanged_list_is_resent() {
    let Watched { dir: _dir, api, bus: _bus, plugin, kubelet: _kubelet, mut watch } = watched(None).await;
    until(&mut watch, 2, "both GPUs healthy", all_healthy).await;

    // Nothing changes: the complete list still comes again, every resend interval (without resending, no
    // response would follow the last change at all).
    let start = Instant::now();
    for _ in 0..2 {
        let again = until(&mut watch, 2, "a resend", |_| true).await;
        assert!(all_healthy(&again));
    }
    assert!(start.elapsed() < HEALTH_TIMING.resend * 6, "two resends took {:?}", start.elapsed());

    let start = Instant::now();
    plugin.device_health.set_unreadable(gpu(1), true);
    let list =
        until(&mut watch, 2, "unreadable GPU unknown", |l| health(l, &hgx_device(1)) == Some(ReportedHealth::Unknown))
            .await;
    // The timeout runs from the last successful read, at most one poll interval before the fault.
    let took = start.elapsed();
    assert!(
        took >= HEALTH_TIMING.timeout - HEALTH_TIMING.poll,
        "Unknown after {took:?}, before the health timeout of {:?}",
        HEALTH_TIMING.timeout
    );
    assert!(took < HEALTH_TIMING.timeout * 4, "Unknown only after {took:?}");
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy));
    eventually("unknown metric", || {
        plugin
            .metrics
            .encode()
            .contains(&format!("ccgpu_device_health{{device=\"{}\",state=\"Unknown\"}} 1", hgx_device(1)))
    })
    .await;
    assert!(taints(&api, &hgx_device(1)).is_null(), "Unknown is not a reason to taint");

    plugin.device_health.set_unreadable(gpu(1), false);
    until(&mut watch, 2, "readable again: healthy", all_healthy).await;
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v1beta1_stream_states_the_timeout_and_why_beside_the_v1alpha1_one() {
    let Watched { dir: _dir, api: _api, bus: _bus, plugin, kubelet, watch: mut alpha } = watched(None).await;
    let listed = &kubelet.info.supported_versions;
    assert!(listed.iter().any(|v| v == "v1beta1.DRAResourceHealth"), "{listed:?}");
    let mut beta = kubelet.watch_health_over(HealthVersion::V1beta1).await.unwrap();
    // The stated timeout covers several resends, in whole seconds rounded up (never 0, the kubelet's
    // "use your default").
    let stated = ccgpu_host_shim::stated_health_timeout(HEALTH_TIMING.resend);
    assert!(stated > HEALTH_TIMING.resend * 2, "{stated:?}");
    let want = i64::try_from(stated.as_millis().div_ceil(1000)).unwrap();
    assert!(want >= 1);

    let list = until(&mut beta, 2, "both GPUs healthy over v1beta1", all_healthy).await;
    for r in &list {
        assert_eq!(r.timeout_seconds, Some(want), "{r:?}");
        assert_eq!(r.message.as_deref(), Some(""), "nothing to say about a healthy GPU: {r:?}");
        assert!((now_unix() - r.last_updated).abs() < 60, "{r:?}");
    }

    plugin.device_health.set_fatal_aer(gpu(1), 3);
    let list = until(&mut beta, 2, "AER GPU unhealthy over v1beta1", |l| {
        health(l, &hgx_device(1)) == Some(ReportedHealth::Unhealthy)
    })
    .await;
    let sick = list.iter().find(|r| r.device == hgx_device(1)).unwrap();
    let why = sick.message.as_deref().unwrap();
    assert!(why.contains("fatal-aer") && why.contains('3'), "the message names the cause and count: {why}");
    assert!(why.len() <= ccgpu_host_shim::MAX_HEALTH_MESSAGE);
    assert_eq!(sick.timeout_seconds, Some(want));
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy));

    // The v1alpha1 stream, open all along on the same socket, says the same without the new fields.
    let list = until(&mut alpha, 2, "AER GPU unhealthy over v1alpha1", |l| {
        health(l, &hgx_device(1)) == Some(ReportedHealth::Unhealthy)
    })
    .await;
    assert!(list.iter().all(|r| r.timeout_seconds.is_none() && r.message.is_none()), "{list:?}");
    assert_eq!(health(&list, &hgx_device(0)), Some(ReportedHealth::Healthy));

    plugin.stop().await.unwrap();
    assert!(beta.next().await.map(|n| n.is_none()).unwrap_or(true), "the v1beta1 stream ended with the plugin");
}
