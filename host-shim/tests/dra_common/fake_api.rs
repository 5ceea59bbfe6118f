//! An in-process fake of the few API server endpoints the plugin calls, served over HTTP so the real
//! `kube` client code path runs: `resource.k8s.io/v1` ResourceClaims (get), ResourceSlices (get, create,
//! update with resourceVersion conflicts, delete) and `v1` Nodes (get). Faults: a per-claim delay (a slow
//! API server) and an API server that drops device taints (feature gate `DRADeviceTaints` off).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Default)]
pub struct FakeState {
    pub claims: BTreeMap<(String, String), Value>,
    pub nodes: BTreeMap<String, Value>,
    pub slices: BTreeMap<String, Value>,
    pub claim_delays: BTreeMap<String, Duration>,
    pub drop_taints: bool,
    pub version: u64,
    pub claim_gets: u64,
    pub slice_writes: u64,
}

#[derive(Clone)]
pub struct FakeApi {
    pub state: Arc<Mutex<FakeState>>,
    pub address: SocketAddr,
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    (code, Json(body)).into_response()
}

type S = State<Arc<Mutex<FakeState>>>;

async fn get_claim(State(s): S, Path((ns, name)): Path<(String, String)>) -> Response {
    let delay = s.lock().unwrap().claim_delays.get(&name).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut st = s.lock().unwrap();
    st.claim_gets += 1;
    match st.claims.get(&(ns.clone(), name.clone())) {
        Some(c) => Json(c.clone()).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound", format!("resourceclaims \"{name}\" not found")),
    }
}

async fn get_node(State(s): S, Path(name): Path<String>) -> Response {
    match s.lock().unwrap().nodes.get(&name) {
        Some(n) => Json(n.clone()).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound", format!("nodes \"{name}\" not found")),
    }
}

async fn get_slice(State(s): S, Path(name): Path<String>) -> Response {
    match s.lock().unwrap().slices.get(&name) {
        Some(v) => Json(v.clone()).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound", format!("resourceslices \"{name}\" not found")),
    }
}

fn store(st: &mut FakeState, mut slice: Value) -> Value {
    st.version += 1;
    st.slice_writes += 1;
    slice["metadata"]["resourceVersion"] = json!(st.version.to_string());
    if slice["metadata"]["uid"].is_null() {
        slice["metadata"]["uid"] = json!(format!("slice-uid-{}", st.version));
    }
    if let Some(devices) = slice["spec"]["devices"].as_array_mut() {
        for d in devices {
            if st.drop_taints {
                d.as_object_mut().unwrap().remove("taints");
            } else if let Some(taints) = d.get_mut("taints").and_then(Value::as_array_mut) {
                for t in taints {
                    t["timeAdded"] = json!("2026-11-01T00:00:00Z");
                }
            }
        }
    }
    let name = slice["metadata"]["name"].as_str().unwrap().to_owned();
    st.slices.insert(name, slice.clone());
    slice
}

async fn create_slice(State(s): S, Json(slice): Json<Value>) -> Response {
    let mut st = s.lock().unwrap();
    let name = slice["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    if st.slices.contains_key(&name) {
        return status(StatusCode::CONFLICT, "AlreadyExists", format!("resourceslices \"{name}\" already exists"));
    }
    (StatusCode::CREATED, Json(store(&mut st, slice))).into_response()
}

async fn replace_slice(State(s): S, Path(name): Path<String>, Json(slice): Json<Value>) -> Response {
    let mut st = s.lock().unwrap();
    let Some(have) = st.slices.get(&name) else {
        return status(StatusCode::NOT_FOUND, "NotFound", format!("resourceslices \"{name}\" not found"));
    };
    if have["metadata"]["resourceVersion"] != slice["metadata"]["resourceVersion"] {
        return status(StatusCode::CONFLICT, "Conflict", "the object has been modified".into());
    }
    Json(store(&mut st, slice)).into_response()
}

async fn delete_slice(State(s): S, Path(name): Path<String>) -> Response {
    match s.lock().unwrap().slices.remove(&name) {
        Some(v) => Json(v).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound", format!("resourceslices \"{name}\" not found")),
    }
}

impl FakeApi {
    /// Starts the fake on a free localhost port, knowing `node` (with a fixed uid).
    pub async fn start(node: &str) -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        state.lock().unwrap().nodes.insert(
            node.to_owned(),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "uid": format!("uid-of-{node}")}}),
        );
        let app = Router::new()
            .route("/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims/{name}", get(get_claim))
            .route("/api/v1/nodes/{name}", get(get_node))
            .route("/apis/resource.k8s.io/v1/resourceslices", axum::routing::post(create_slice))
            .route(
                "/apis/resource.k8s.io/v1/resourceslices/{name}",
                get(get_slice).put(replace_slice).delete(delete_slice),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, address }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kube client for this fake.
    pub fn client(&self) -> kube::Client {
        client_for(&self.url())
    }

    /// Adds (or replaces) a claim allocated to `devices` of `driver` in `pool`, with optional opaque
    /// configs (JSON values of `status.allocation.devices.config`).
    pub fn claim(&self, ns: &str, name: &str, uid: &str, driver: &str, pool: &str, devices: &[&str]) {
        let results: Vec<Value> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"request": format!("gpu{i}"), "driver": driver, "pool": pool, "device": d}))
            .collect();
        self.claim_with(ns, name, uid, json!({"allocation": {"devices": {"results": results}}}));
    }

    /// Adds a claim with the given status.
    pub fn claim_with(&self, ns: &str, name: &str, uid: &str, status: Value) {
        let claim = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": ns, "uid": uid}, "spec": {"devices": {}}, "status": status});
        self.state.lock().unwrap().claims.insert((ns.to_owned(), name.to_owned()), claim);
    }

    pub fn slices(&self) -> BTreeMap<String, Value> {
        self.state.lock().unwrap().slices.clone()
    }

    /// Every device name across our slices.
    pub fn published(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .slices()
            .values()
            .flat_map(|s| s["spec"]["devices"].as_array().cloned().unwrap_or_default())
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    }
}

/// A kube client for an API server URL (plain HTTP, no auth).
pub fn client_for(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(config).unwrap()
}
