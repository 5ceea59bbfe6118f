//! ResourceSlice publishing against the fake API server: content and attributes, owner reference,
//! re-publication on hot-unplug and after the kubelet wipes slices, pre-flight attestation taints (and
//! withholding when the API server drops taints), device-taint support asked with a dry run and asked
//! again later, slices kept across an ordinary restart and adopted by the next process, withdrawal on an
//! uninstalling stop; metrics and /healthz; the fake API server refusing, with the real one's 422, what
//! the real one refuses, and storing nothing on a dry run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dra_common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::Arc;

use ccgpu_host_shim::{Health, Metrics, MetricsOperation, PluginOptions, bind_metrics, serve_metrics};
use ccgpu_pci::PciAddress;
use ccgpu_pci::sim::SimBus;
use dra_common::{DRIVER, FakeApiServer, NODE, Running, eventually, hgx_device, node_config, plugin_config, temp_dir};
use k8s_openapi::api::resource::v1::{Device, DeviceTaint, ResourceSlice};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

const SLICE: &str = "node-a-gpu.ccgpu.dev-0";

fn device<'a>(slice: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    slice["spec"]["devices"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_one_pool_republishes_on_change_and_withdraws_on_shutdown() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(4));
    let plugin = Running::start(dir.path(), bus.clone(), api.client().unwrap(), plugin_config(dir.path()), None).await;
    eventually("slice published", || api.published().len() == 4).await;
    let slices = api.slices();
    assert_eq!(slices.keys().collect::<Vec<_>>(), vec![SLICE]);
    let s = &slices[SLICE];
    assert_eq!(s["spec"]["driver"], DRIVER);
    assert_eq!(s["spec"]["nodeName"], NODE);
    assert_eq!(s["spec"]["pool"]["name"], NODE);
    assert_eq!(s["spec"]["pool"]["resourceSliceCount"], 1);
    let generation = s["spec"]["pool"]["generation"].as_i64().unwrap();
    assert_eq!(
        s["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": "uid-of-node-a", "controller": true}])
    );
    let d = device(s, &hgx_device(1));
    let attrs = &d["attributes"];
    assert_eq!(attrs["resource.kubernetes.io/pciBusID"], json!({"string": "0000:28:00.0"}));
    assert_eq!(attrs["resource.kubernetes.io/pcieRoot"], json!({"string": "pci0000:20"}));
    assert_eq!(attrs["type"], json!({"string": "gpu"}));
    assert_eq!(attrs["vendorID"], json!({"string": "0x10de"}));
    assert_eq!(attrs["deviceID"], json!({"string": "0x2335"}));
    assert_eq!(attrs["productName"], json!({"string": "H200 SXM 141GB"}));
    assert_eq!(attrs["ccCapable"], json!({"bool": true}));
    assert_eq!(attrs["ccMode"], json!({"string": "on"}));
    assert_eq!(attrs["iommuGroup"], json!({"int": 11}));
    assert_eq!(attrs["numaNode"], json!({"int": 1}));
    assert_eq!(d["capacity"]["memory"], json!({"value": "141Gi"}));
    assert!(d.get("taints").is_none());

    // Nothing changes: nothing is written.
    let writes = api.state().slice_writes;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(api.state().slice_writes, writes, "an unchanged node rewrites nothing");

    // Hot-unplug: republished without it, next generation.
    bus.remove_function(PciAddress::new(0, 0x38, 0, 0).unwrap());
    eventually("unplugged GPU gone", || api.published().len() == 3).await;
    assert!(!api.published().contains(&hgx_device(2)));
    assert!(api.slices()[SLICE]["spec"]["pool"]["generation"].as_i64().unwrap() > generation);

    // The kubelet wipes the node's slices (at its start, or 30 s after a disconnect): restored.
    api.state().slices.clear();
    eventually("slice restored", || api.published().len() == 3).await;
    eventually("device gauge", || plugin.metrics.encode().contains("ccgpu_devices{state=\"available\"} 3")).await;

    plugin.stop().await.unwrap();
    assert!(api.slices().is_empty(), "withdrawn on clean shutdown");
    assert_eq!(api.state().refused, Vec::<String>::new(), "every write valid");
}

/// Starts the plugin on `bus` in `dir` with `options` (no pre-flight).
async fn start(dir: &std::path::Path, bus: &Arc<SimBus>, api: &FakeApiServer, options: PluginOptions) -> Running {
    let (bus, client) = (bus.clone(), api.client().unwrap());
    Running::start_with_options(bus, client, plugin_config(dir), options, None, node_config(dir)).await
}

/// The stored slice's (uid, resourceVersion, generation).
fn identity(api: &FakeApiServer) -> (String, String, i64) {
    let s = &api.slices()[SLICE];
    let m = &s["metadata"];
    let uid = m["uid"].as_str().unwrap().to_owned();
    (uid, m["resourceVersion"].as_str().unwrap().to_owned(), s["spec"]["pool"]["generation"].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_restart_keeps_the_slices_and_the_next_process_adopts_them() {
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(4));
    let keep = PluginOptions::default();
    let plugin = start(dir.path(), &bus, &api, keep.clone()).await;
    eventually("slice published", || api.published().len() == 4).await;
    let first = identity(&api);
    let writes = api.state().slice_writes;

    // An ordinary stop (SIGTERM of a restart or rolling update): the slice stays, untouched.
    plugin.stop().await.unwrap();
    assert_eq!(api.published().len(), 4, "an ordinary stop leaves the slices");
    assert_eq!(identity(&api), first);
    assert_eq!(api.state().slice_deletes, 0);

    // The next process adopts them: same devices, so nothing is rewritten or deleted (several rounds).
    let plugin = start(dir.path(), &bus, &api, keep.clone()).await;
    eventually("devices seen", || plugin.metrics.encode().contains("ccgpu_devices{state=\"available\"} 4")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(identity(&api), first, "an unchanged pool is adopted as it is");
    let counts = |api: &FakeApiServer| {
        let st = api.state();
        (st.slice_writes, st.slice_deletes)
    };
    assert_eq!(counts(&api), (writes, 0));
    plugin.stop().await.unwrap();

    // A GPU went away while no plugin ran: the next one updates the same slice in place, next generation.
    bus.remove_function(PciAddress::new(0, 0x38, 0, 0).unwrap());
    let plugin = start(dir.path(), &bus, &api, keep).await;
    eventually("unplugged GPU gone", || api.published().len() == 3).await;
    let (uid, version, generation) = identity(&api);
    assert_eq!(uid, first.0, "updated in place, not deleted and created");
    assert_ne!(version, first.1);
    assert_eq!(generation, first.2 + 1);
    assert!(!api.published().contains(&hgx_device(2)));
    assert_eq!(counts(&api), (writes + 1, 0));
    plugin.stop().await.unwrap();
    assert_eq!(api.published().len(), 3);

    // Uninstalling (--withdraw-on-exit): the stop deletes them.
    let plugin =
        start(dir.path(), &bus, &api, PluginOptions { withdraw_on_exit: true, ..PluginOptions::default() }).await;
    eventually("devices seen", || plugin.metrics.encode().contains("ccgpu_devices{state=\"available\"} 3")).await;
    plugin.stop().await.unwrap();
    assert!(api.slices().is_empty(), "withdrawn on an uninstalling stop");
    assert_eq!(api.state().slice_deletes, 1);
    assert_eq!(api.state().refused, Vec::<String>::new(), "every write valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_failing_preflight_is_tainted_or_withheld_when_taints_are_dropped() {
    let bad = PciAddress::new(0, 0x28, 0, 0).unwrap();
    let preflight = ccgpu_host_shim::sim::simulated_preflight_with(BTreeSet::from([bad])).unwrap();

    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let plugin = Running::start(
        dir.path(),
        bus.clone(),
        api.client().unwrap(),
        plugin_config(dir.path()),
        Some(preflight.clone()),
    )
    .await;
    eventually("slice published", || api.published().len() == 2).await;
    let s = &api.slices()[SLICE];
    assert!(device(s, &hgx_device(0)).get("taints").is_none(), "genuine simulated evidence passes");
    let taints = &device(s, &hgx_device(1))["taints"];
    assert_eq!(taints[0]["key"], "gpu.ccgpu.dev/preflight-attestation");
    assert_eq!(taints[0]["value"], "report-signature");
    assert_eq!(taints[0]["effect"], "NoSchedule");
    assert!(plugin.metrics.encode().contains("ccgpu_devices{state=\"tainted\"} 1"));
    plugin.stop().await.unwrap();
    assert_eq!(api.state().refused, Vec::<String>::new(), "the tainted slice is valid");

    // An API server without device taints: the failed GPU is withheld instead.
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    api.state().drop_taints = true;
    let plugin = Running::start(
        dir.path(),
        Arc::new(SimBus::hgx(2)),
        api.client().unwrap(),
        plugin_config(dir.path()),
        Some(preflight),
    )
    .await;
    eventually("failed GPU withheld", || api.published() == vec![hgx_device(0)]).await;
    eventually("withheld gauge", || plugin.metrics.encode().contains("ccgpu_devices{state=\"withheld\"} 1")).await;
    plugin.stop().await.unwrap();
}

/// Whether `device` was in any slice the fake ever stored without a taint.
fn ever_stored_untainted(api: &FakeApiServer, device: &str) -> bool {
    api.state().stored.iter().any(|s| {
        s["spec"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == device && d["taints"].as_array().is_none_or(Vec::is_empty))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_taint_support_is_asked_with_a_dry_run_and_asked_again_later() {
    let bad = PciAddress::new(0, 0x28, 0, 0).unwrap();
    let preflight = ccgpu_host_shim::sim::simulated_preflight_with(BTreeSet::from([bad])).unwrap();
    let dir = temp_dir();
    let api = FakeApiServer::start(NODE).await.unwrap();
    let bus = Arc::new(SimBus::hgx(2));
    let options = PluginOptions { taint_recheck: std::time::Duration::from_millis(300), ..PluginOptions::default() };
    let start = |api: &FakeApiServer| {
        let (bus, client, preflight) = (bus.clone(), api.client().unwrap(), Some(preflight.clone()));
        let (config, nc) = (plugin_config(dir.path()), node_config(dir.path()));
        Running::start_with_options(bus, client, config, options.clone(), preflight, nc)
    };
    let tainted =
        |api: &FakeApiServer| {
            api.slices().get(SLICE).is_some_and(|s| {
                s["spec"]["devices"].as_array().unwrap().iter().any(|d| {
                    d["name"] == hgx_device(1) && d["taints"][0]["key"] == "gpu.ccgpu.dev/preflight-attestation"
                })
            })
        };

    // Taints kept: a dry run says so before the failed GPU is published, tainted from its first write.
    let plugin = start(&api).await;
    eventually("failed GPU published tainted", || tainted(&api)).await;
    assert!(api.state().dry_runs >= 1);
    assert_eq!(api.slices().keys().collect::<Vec<_>>(), vec![SLICE], "the probe is never stored");
    assert!(!ever_stored_untainted(&api, &hgx_device(1)));
    plugin.stop().await.unwrap();

    // The feature turned off, then an ordinary restart: the slice left behind still holds the tainted GPU.
    // The new process withholds it and never publishes it untainted, not even once.
    api.state().drop_taints = true;
    let plugin = start(&api).await;
    eventually("failed GPU withheld", || api.published() == vec![hgx_device(0)]).await;
    eventually("withheld gauge", || plugin.metrics.encode().contains("ccgpu_devices{state=\"withheld\"} 1")).await;
    assert!(!ever_stored_untainted(&api, &hgx_device(1)));

    // The feature turned on: noticed at the next re-check, and the GPU is published tainted again.
    let asked = api.state().dry_runs;
    api.state().drop_taints = false;
    eventually("failed GPU tainted again", || tainted(&api)).await;
    assert!(api.state().dry_runs > asked, "noticed by asking again");
    assert!(!ever_stored_untainted(&api, &hgx_device(1)));
    assert_eq!(api.state().refused, Vec::<String>::new(), "every write valid, the probe too");
    plugin.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_is_validated_and_answered_and_stores_nothing() {
    let api = FakeApiServer::start(NODE).await.unwrap();
    let slices: Api<ResourceSlice> = Api::all(api.client().unwrap());
    let dry = PostParams { dry_run: true, ..PostParams::default() };

    // Answered as it would be stored (taint time stamped), nothing stored.
    let answer = slices.create(&dry, &slice_with(4, true)).await.unwrap();
    let taints = answer.spec.devices.unwrap()[3].taints.clone().unwrap();
    assert!(taints[0].time_added.is_some());
    assert!(api.slices().is_empty());
    let counts = || {
        let st = api.state();
        (st.slice_writes, st.dry_runs)
    };
    assert_eq!(counts(), (0, 1));
    // Still validated: 65 devices with a taint are refused.
    let status = api_error(slices.create(&dry, &slice_with(65, true)).await.unwrap_err());
    assert_eq!(status.code, 422);
    // Where device taints are off, the answer shows them dropped.
    api.state().drop_taints = true;
    let answer = slices.create(&dry, &slice_with(4, true)).await.unwrap();
    assert!(answer.spec.devices.unwrap().iter().all(|d| d.taints.is_none()));
    api.state().drop_taints = false;

    // A dry-run update leaves the stored slice as it was.
    let stored = slices.create(&PostParams::default(), &slice_with(3, false)).await.unwrap();
    let mut fewer = stored.clone();
    fewer.spec.devices.as_mut().unwrap().pop();
    let answer = slices.replace(SLICE, &dry, &fewer).await.unwrap();
    assert_eq!(answer.spec.devices.unwrap().len(), 2);
    let now = &api.slices()[SLICE];
    assert_eq!(now["spec"]["devices"].as_array().unwrap().len(), 3);
    assert_eq!(now["metadata"]["resourceVersion"].as_str(), stored.metadata.resource_version.as_deref());
    assert_eq!(api.state().slice_writes, 1);
}

fn http_get(address: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_healthz_are_served() {
    let m = Arc::new(Metrics::new());
    let h = Arc::new(Health::default());
    let listener = bind_metrics("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_metrics(listener, m.clone(), h.clone(), async move {
        let _ = rx.await;
    }));
    m.observe(MetricsOperation::Prepare, std::time::Duration::from_millis(3));
    m.error(MetricsOperation::Unprepare, "node");
    let (health_down, page) =
        tokio::task::spawn_blocking(move || (http_get(address, "/healthz"), http_get(address, "/metrics")))
            .await
            .unwrap();
    assert!(health_down.starts_with("HTTP/1.1 503"), "{health_down}");
    assert!(page.contains("ccgpu_prepare_duration_seconds_bucket{le=\"0.004\"} 1"), "{page}");
    assert!(page.contains("ccgpu_claim_errors_total{operation=\"unprepare\",reason=\"node\"} 1"), "{page}");
    assert!(page.contains("ccgpu_devices{state=\"prepared\"} 0"), "{page}");
    h.set_serving(true);
    let up = tokio::task::spawn_blocking(move || http_get(address, "/healthz")).await.unwrap();
    assert!(up.starts_with("HTTP/1.1 200"), "{up}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A slice as the plugin writes it, holding `n` devices (unsplit), the fourth one tainted if `taint`.
fn slice_with(n: usize, taint: bool) -> ResourceSlice {
    let mut slice = ccgpu_host_shim::resource_slices(DRIVER, NODE, None, 1, &[]).remove(0);
    let devices = (0..n)
        .map(|i| Device {
            name: format!("gpu-{i}"),
            taints: (taint && i == 3).then(|| {
                vec![DeviceTaint {
                    key: format!("{DRIVER}/preflight-attestation"),
                    value: Some("report-signature".into()),
                    effect: "NoSchedule".into(),
                    time_added: None,
                }]
            }),
            ..Device::default()
        })
        .collect();
    slice.spec.devices = Some(devices);
    slice
}

fn api_error(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(status) => status,
        other => panic!("not an API server error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_api_server_refuses_what_the_real_one_refuses() {
    let api = FakeApiServer::start(NODE).await.unwrap();
    let slices: Api<ResourceSlice> = Api::all(api.client().unwrap());
    let post = PostParams::default();

    // 65 devices, one tainted: over the limit of 64.
    let status = api_error(slices.create(&post, &slice_with(65, true)).await.unwrap_err());
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        format!(
            "ResourceSlice.resource.k8s.io \"{SLICE}\" is invalid: spec.devices: Too many: 65: must have at most 64 items"
        )
    );
    let causes = status.details.as_ref().unwrap().causes.clone();
    assert_eq!((causes[0].reason.as_str(), causes[0].field.as_str()), ("FieldValueTooMany", "spec.devices"));
    assert!(api.slices().is_empty(), "nothing stored");
    assert_eq!(api.state().refused, vec![status.message.clone()]);

    // Without the taint, 65 is fine.
    let stored = slices.create(&post, &slice_with(65, false)).await.unwrap();

    // An update may not move the slice to another driver, pool or node.
    let mut moved = stored.clone();
    moved.spec.node_name = Some("node-b".into());
    moved.spec.pool.name = "node-b".into();
    let status = api_error(slices.replace(SLICE, &post, &moved).await.unwrap_err());
    assert_eq!(status.code, 422);
    assert!(status.message.contains("spec.pool.name: Invalid value: \"\": field is immutable"), "{}", status.message);
    assert!(status.message.contains("spec.nodeName: Invalid value: \"\": field is immutable"), "{}", status.message);
    // Nor carry a name other than the URL's.
    let mut renamed = stored.clone();
    renamed.metadata.name = Some("other".into());
    assert_eq!(api_error(slices.replace(SLICE, &post, &renamed).await.unwrap_err()).code, 400);

    // An invalid device name is refused on update too.
    let mut bad = stored.clone();
    bad.spec.devices.as_mut().unwrap()[0].name = "GPU_0".into();
    let status = api_error(slices.replace(SLICE, &post, &bad).await.unwrap_err());
    assert!(status.message.contains("spec.devices[0].name: Invalid value: \"GPU_0\""), "{}", status.message);

    // Where device taints are off, the API server drops them before validating: 100 devices with a taint
    // are stored, without it.
    slices.delete(SLICE, &DeleteParams::default()).await.unwrap();
    api.state().drop_taints = true;
    let stored = slices.create(&post, &slice_with(100, true)).await.unwrap();
    assert!(stored.spec.devices.unwrap().iter().all(|d| d.taints.is_none()));
}
