//! [`FakeApiServer`]: an in-process fake of the few API server endpoints the plugin calls, served over
//! HTTP on localhost so the real `kube` client code path runs: `resource.k8s.io/v1` ResourceClaims (get),
//! ResourceSlices (get, create, update with resourceVersion conflicts, delete) and `v1` Nodes (get).
//! ResourceSlice writes are validated as the real API server validates them ([`slice_validation`]:
//! names, limits, taints, immutable fields) and refused with its 422 `Invalid` status, so a test fails
//! where a cluster would refuse the plugin's slices. A write with `?dryRun=All` is handled as the real one
//! handles it: disabled fields dropped, validated, answered with what would be stored, and nothing stored.
//! Faults: a per-claim delay (a slow API server) and an API server that drops device taints (feature
//! gate `DRADeviceTaints` off; dropped before validation, as the real one does). No authentication, no
//! watch: a simulation, not an API server.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use k8s_openapi::api::resource::v1::ResourceSlice;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::slice_validation;

/// What the fake holds, open to tests for inspection and fault injection.
#[derive(Debug, Default)]
pub struct FakeState {
    /// ResourceClaims by (namespace, name).
    pub claims: BTreeMap<(String, String), Value>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Value>,
    /// ResourceSlices by name.
    pub slices: BTreeMap<String, Value>,
    /// Delay before answering a GET of the claim with this name.
    pub claim_delays: BTreeMap<String, Duration>,
    /// Drop device taints from stored slices (an API server without `DRADeviceTaints`).
    pub drop_taints: bool,
    /// The last resourceVersion handed out.
    pub version: u64,
    /// ResourceClaim GETs served.
    pub claim_gets: u64,
    /// ResourceSlice creates and updates stored.
    pub slice_writes: u64,
    /// ResourceSlices deleted.
    pub slice_deletes: u64,
    /// ResourceSlice writes answered as dry runs (validated, nothing stored).
    pub dry_runs: u64,
    /// Every ResourceSlice stored by a create or update, as stored, oldest first.
    pub stored: Vec<Value>,
    /// The messages of ResourceSlice writes refused as invalid (422), oldest first.
    pub refused: Vec<String>,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(s: &Shared) -> MutexGuard<'_, FakeState> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fake, serving on `127.0.0.1:<free port>` until [`FakeApiServer::stop`] (or the end of the runtime).
#[derive(Debug)]
pub struct FakeApiServer {
    /// The state, shared with the server task.
    pub state: Shared,
    /// Where it listens.
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    (code, Json(body)).into_response()
}

fn not_found(what: &str, name: &str) -> Response {
    status(StatusCode::NOT_FOUND, "NotFound", format!("{what} \"{name}\" not found"))
}

type S = State<Shared>;

async fn get_claim(State(s): S, Path((ns, name)): Path<(String, String)>) -> Response {
    let delay = lock(&s).claim_delays.get(&name).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut st = lock(&s);
    st.claim_gets += 1;
    match st.claims.get(&(ns, name.clone())) {
        Some(c) => Json(c.clone()).into_response(),
        None => not_found("resourceclaims", &name),
    }
}

async fn get_node(State(s): S, Path(name): Path<String>) -> Response {
    match lock(&s).nodes.get(&name) {
        Some(n) => Json(n.clone()).into_response(),
        None => not_found("nodes", &name),
    }
}

async fn get_slice(State(s): S, Path(name): Path<String>) -> Response {
    match lock(&s).slices.get(&name) {
        Some(v) => Json(v.clone()).into_response(),
        None => not_found("resourceslices", &name),
    }
}

/// What the API server does to a written slice before validating it: fields of disabled features are
/// dropped (device taints, where `DRADeviceTaints` is off).
fn drop_disabled_fields(st: &FakeState, slice: &mut Value) {
    if !st.drop_taints {
        return;
    }
    for d in slice["spec"]["devices"].as_array_mut().into_iter().flatten() {
        if let Some(o) = d.as_object_mut() {
            o.remove("taints");
        }
    }
}

fn decode(slice: &Value) -> Result<ResourceSlice, serde_json::Error> {
    serde_json::from_value(slice.clone())
}

/// The API server's 400 for a body that does not decode as a ResourceSlice.
fn undecodable(e: &serde_json::Error) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", format!("decoding the body as a ResourceSlice: {e}"))
}

/// The API server's 422 when `new` (replacing `old`, on update) breaks its validation rules.
fn refuse_invalid(st: &mut FakeState, new: &ResourceSlice, old: Option<&ResourceSlice>) -> Option<Response> {
    let errors = slice_validation::validate(new, old);
    if errors.is_empty() {
        return None;
    }
    let body = slice_validation::invalid_status(new.metadata.name.as_deref().unwrap_or_default(), &errors);
    st.refused.push(body["message"].as_str().unwrap_or_default().to_owned());
    Some((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
}

/// Whether the request asks for a dry run (`dryRun=All`, the only value the API knows).
fn dry_run(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| q.split('&').any(|kv| kv == "dryRun=All"))
}

/// What the server adds to a written slice: resourceVersion `version`, a uid if it has none, the time
/// on its taints.
fn stamped(mut slice: Value, version: u64) -> Value {
    slice["metadata"]["resourceVersion"] = json!(version.to_string());
    if slice["metadata"]["uid"].is_null() {
        slice["metadata"]["uid"] = json!(format!("slice-uid-{version}"));
    }
    for d in slice["spec"]["devices"].as_array_mut().into_iter().flatten() {
        if let Some(taints) = d.get_mut("taints").and_then(Value::as_array_mut) {
            for t in taints {
                t["timeAdded"] = json!("2026-11-01T00:00:00Z");
            }
        }
    }
    slice
}

/// Stores `slice` as `name`, or on a dry run only answers what would be stored.
fn store(st: &mut FakeState, name: String, slice: Value, dry: bool) -> Value {
    if dry {
        st.dry_runs += 1;
        return stamped(slice, st.version + 1);
    }
    st.version += 1;
    st.slice_writes += 1;
    let slice = stamped(slice, st.version);
    st.stored.push(slice.clone());
    st.slices.insert(name, slice.clone());
    slice
}

async fn create_slice(State(s): S, uri: Uri, Json(mut slice): Json<Value>) -> Response {
    let mut st = lock(&s);
    drop_disabled_fields(&st, &mut slice);
    let new = match decode(&slice) {
        Ok(new) => new,
        Err(e) => return undecodable(&e),
    };
    if let Some(refused) = refuse_invalid(&mut st, &new, None) {
        return refused;
    }
    let name = new.metadata.name.clone().unwrap_or_default();
    if st.slices.contains_key(&name) {
        return status(StatusCode::CONFLICT, "AlreadyExists", format!("resourceslices \"{name}\" already exists"));
    }
    let dry = dry_run(&uri);
    (StatusCode::CREATED, Json(store(&mut st, name, slice, dry))).into_response()
}

async fn replace_slice(State(s): S, Path(name): Path<String>, uri: Uri, Json(mut slice): Json<Value>) -> Response {
    let mut st = lock(&s);
    drop_disabled_fields(&st, &mut slice);
    let new = match decode(&slice) {
        Ok(new) => new,
        Err(e) => return undecodable(&e),
    };
    if new.metadata.name.as_deref() != Some(name.as_str()) {
        let body = new.metadata.name.as_deref().unwrap_or_default();
        let message = format!("the name of the object ({body}) does not match the name on the URL ({name})");
        return status(StatusCode::BAD_REQUEST, "BadRequest", message);
    }
    let Some(have) = st.slices.get(&name) else { return not_found("resourceslices", &name) };
    if have["metadata"]["resourceVersion"] != slice["metadata"]["resourceVersion"] {
        return status(StatusCode::CONFLICT, "Conflict", "the object has been modified".into());
    }
    // What the fake stored was validated when written (or put there by a test, unchecked).
    let old = decode(have).ok();
    // An update keeps the object's identity: its uid is the stored one, whatever the body says.
    let uid = have["metadata"]["uid"].clone();
    if let Some(refused) = refuse_invalid(&mut st, &new, old.as_ref()) {
        return refused;
    }
    slice["metadata"]["uid"] = uid;
    let dry = dry_run(&uri);
    Json(store(&mut st, name, slice, dry)).into_response()
}

async fn delete_slice(State(s): S, Path(name): Path<String>) -> Response {
    let mut st = lock(&s);
    match st.slices.remove(&name) {
        Some(v) => {
            st.slice_deletes += 1;
            Json(v).into_response()
        }
        None => not_found("resourceslices", &name),
    }
}

impl FakeApiServer {
    /// Starts the fake on a free localhost port, knowing `node` (with uid `uid-of-<node>`). Must be called
    /// inside a tokio runtime.
    pub async fn start(node: &str) -> io::Result<Self> {
        let state = Shared::default();
        lock(&state).nodes.insert(
            node.to_owned(),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "uid": format!("uid-of-{node}")}}),
        );
        let app = Router::new()
            .route("/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims/{name}", get(get_claim))
            .route("/api/v1/nodes/{name}", get(get_node))
            .route("/apis/resource.k8s.io/v1/resourceslices", post(create_slice))
            .route(
                "/apis/resource.k8s.io/v1/resourceslices/{name}",
                get(get_slice).put(replace_slice).delete(delete_slice),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self { state, address, stop: Some(stop), task: Some(task) })
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The state, locked.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    /// A kube client for this fake.
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        client_for(&self.url())
    }

    /// Adds (or replaces) a claim allocated to `devices` of `driver` in `pool`, request `gpu<i>` each.
    pub fn claim(&self, ns: &str, name: &str, uid: &str, driver: &str, pool: &str, devices: &[&str]) {
        let results: Vec<Value> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"request": format!("gpu{i}"), "driver": driver, "pool": pool, "device": d}))
            .collect();
        self.claim_with(ns, name, uid, json!({"allocation": {"devices": {"results": results}}}));
    }

    /// Adds (or replaces) a claim with the given `status`.
    pub fn claim_with(&self, ns: &str, name: &str, uid: &str, status: Value) {
        let claim = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": ns, "uid": uid}, "spec": {"devices": {}}, "status": status});
        self.state().claims.insert((ns.to_owned(), name.to_owned()), claim);
    }

    /// Removes a claim (the user deleted it).
    pub fn delete_claim(&self, ns: &str, name: &str) -> Option<Value> {
        self.state().claims.remove(&(ns.to_owned(), name.to_owned()))
    }

    /// The stored slices.
    pub fn slices(&self) -> BTreeMap<String, Value> {
        self.state().slices.clone()
    }

    /// Every device name across the stored slices, sorted.
    pub fn published(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .slices()
            .values()
            .flat_map(|s| s["spec"]["devices"].as_array().cloned().unwrap_or_default())
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        out.sort();
        out
    }

    /// Stops serving (open connections finish) and waits for the server task.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A kube client for an API server URL (plain HTTP, no auth).
pub fn client_for(url: &str) -> Result<kube::Client, kube::Error> {
    let uri: Uri = url.parse().map_err(|e: axum::http::uri::InvalidUri| kube::Error::HttpError(e.into()))?;
    kube::Client::try_from(kube::Config::new(uri))
}
