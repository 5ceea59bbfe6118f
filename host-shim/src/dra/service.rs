//! The kubelet's DRA service: `NodePrepareResources` and `NodeUnprepareResources`, served in both the
//! `v1` and the `v1beta1` package from one handler.
//!
//! Prepare, per claim and independently of the other claims of the call: parse the uid → read the claim
//! from the API server (bounded) → resolve our allocation ([`super::allocation`]) → check any CC mode our
//! opaque config requires → prepare through the node layer (on a blocking thread) → answer with the CDI
//! ids. One deadline per claim ([`crate::Budgets::total`], 30 s by default, far below the kubelet's 45 s)
//! starts when the call arrives and bounds all of it, the rollback of a failed prepare included. Claims run
//! concurrently; one that fails answers with its own error (the whole cause chain) and the others still
//! succeed — a claim whose task panicked too. A claim already prepared gets the same answer.
//!
//! Unprepare needs only the uid: the node layer's checkpoint holds everything to undo. Unknown claims are
//! already done.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tonic::{Request, Response, Status};

use super::allocation::{self, AllocationError};
use super::claims::{ClaimReader, ReadError};
use super::proto::{v1, v1beta1};
use crate::ccmode::CcMode;
use crate::deadline::Deadline;
use crate::error_chain;
use crate::metrics::{Metrics, Operation};
use crate::names::{ClaimUid, DeviceName, NameError};
use crate::node::{ClaimError, ClaimFailure, Node};

/// A claim as the kubelet names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid (the key of the answer).
    pub uid: String,
}

/// One prepared device as the kubelet gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAnswer {
    /// Base request names.
    pub request_names: Vec<String>,
    /// Our pool (the node name).
    pub pool_name: String,
    /// The device name as published.
    pub device_name: String,
    /// CDI device ids.
    pub cdi_device_ids: Vec<String>,
}

/// Why one claim failed.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The uid is not a uid.
    #[error(transparent)]
    Uid(#[from] NameError),
    /// The claim could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The claim's allocation cannot be prepared here.
    #[error(transparent)]
    Allocation(#[from] AllocationError),
    /// The GPU is not in the CC mode the claim's config requires.
    #[error("device {device} is in CC mode {}, the claim requires {required}", actual.map_or_else(|| "unknown".to_owned(), |m| m.to_string()))]
    CcMode {
        /// The device.
        device: DeviceName,
        /// Required.
        required: CcMode,
        /// As far as the host knows.
        actual: Option<CcMode>,
    },
    /// The node layer failed.
    #[error(transparent)]
    Node(#[from] ClaimError),
    /// The node layer did not return within the claim's budget (a kernel call or the disk hangs).
    #[error(
        "the node layer did not finish within the claim's budget of {} ms (a kernel call has not returned); \
         it goes on in the background and the kubelet's retry gets its outcome",
        budget.as_millis()
    )]
    NodeTimeout {
        /// The claim's budget.
        budget: Duration,
    },
    /// A task or worker thread died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl PrepareError {
    /// The `reason` label of `ccgpu_claim_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            PrepareError::Uid(_) => "invalid_uid",
            PrepareError::Read(ReadError::Timeout { .. }) => "api_timeout",
            PrepareError::Read(ReadError::NotFound { .. }) => "claim_not_found",
            PrepareError::Read(ReadError::Api { .. }) => "api_error",
            PrepareError::Allocation(AllocationError::UidMismatch { .. }) => "uid_mismatch",
            PrepareError::Allocation(AllocationError::NotAllocated) => "not_allocated",
            PrepareError::Allocation(AllocationError::NotOurs { .. }) => "not_our_driver",
            PrepareError::Allocation(AllocationError::BadConfig { .. }) => "bad_config",
            PrepareError::Allocation(_) => "bad_allocation",
            PrepareError::CcMode { .. } => "cc_mode",
            PrepareError::Node(e) if matches!(*e.failure, ClaimFailure::Busy { .. }) => "claim_busy",
            PrepareError::Node(_) => "node",
            PrepareError::NodeTimeout { .. } => "node_timeout",
            PrepareError::Internal(_) => "internal",
        }
    }
}

/// How long past a claim's deadline we still wait for the node layer to return (it checks the deadline
/// between steps) before answering without it.
const NODE_SLACK: Duration = Duration::from_secs(2);

/// The DRA handler (cheap to clone; serve it as both API versions).
#[derive(Clone, Debug)]
pub struct DraService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: Arc<Node>,
    claims: ClaimReader,
    driver: String,
    pool: String,
    metrics: Arc<Metrics>,
    changed: Arc<Notify>,
}

impl DraService {
    /// The handler for `driver`, publishing `pool`; `changed` is poked after every successful call so
    /// the publisher refreshes device states.
    pub fn new(
        node: Arc<Node>,
        claims: ClaimReader,
        driver: String,
        pool: String,
        metrics: Arc<Metrics>,
        changed: Arc<Notify>,
    ) -> Self {
        Self { inner: Arc::new(Inner { node, claims, driver, pool, metrics, changed }) }
    }

    /// Prepares every claim, concurrently; one answer per distinct uid.
    pub async fn prepare(&self, claims: Vec<ClaimRef>) -> BTreeMap<String, Result<Vec<DeviceAnswer>, String>> {
        let answers = for_each_claim(claims, |claim| {
            let inner = self.inner.clone();
            async move { inner.timed(Operation::Prepare, inner.prepare_one(&claim)).await }
        })
        .await;
        self.inner.answer(Operation::Prepare, answers)
    }

    /// Unprepares every claim, concurrently; one answer per distinct uid.
    pub async fn unprepare(&self, claims: Vec<ClaimRef>) -> BTreeMap<String, Result<(), String>> {
        let answers = for_each_claim(claims, |claim| {
            let inner = self.inner.clone();
            async move { inner.timed(Operation::Unprepare, inner.unprepare_one(&claim)).await }
        })
        .await;
        self.inner.answer(Operation::Unprepare, answers)
    }
}

/// Runs `run` for every distinct claim on its own task and collects one result per claim, in no
/// particular order. A task that panics answers for its claim with an internal error: the kubelet expects
/// an entry for every claim it asked about.
async fn for_each_claim<T, F, Fut>(claims: Vec<ClaimRef>, run: F) -> Vec<(ClaimRef, Result<T, PrepareError>)>
where
    T: Send + 'static,
    F: Fn(ClaimRef) -> Fut,
    Fut: Future<Output = Result<T, PrepareError>> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut of_task = HashMap::new();
    for claim in dedup(claims) {
        let task = tasks.spawn(run(claim.clone()));
        of_task.insert(task.id(), claim);
    }
    let mut out = Vec::with_capacity(of_task.len());
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => {
                tracing::error!(error = %e, "a claim's task died");
                (e.id(), Err(PrepareError::Internal(format!("the claim's task died: {e}"))))
            }
        };
        if let Some(claim) = of_task.remove(&id) {
            out.push((claim, result));
        }
    }
    out
}

fn dedup(claims: Vec<ClaimRef>) -> Vec<ClaimRef> {
    let mut seen = std::collections::BTreeSet::new();
    claims.into_iter().filter(|c| seen.insert(c.uid.clone())).collect()
}

impl Inner {
    /// `call`, with its latency recorded.
    async fn timed<T>(&self, operation: Operation, call: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let result = call.await;
        self.metrics.observe(operation, start.elapsed());
        result
    }

    /// The kubelet's answer: per claim, its result or its error chain (counted and logged); then a poke
    /// for the publisher.
    fn answer<T>(
        &self,
        operation: Operation,
        results: Vec<(ClaimRef, Result<T, PrepareError>)>,
    ) -> BTreeMap<String, Result<T, String>> {
        let out = results
            .into_iter()
            .map(|(claim, result)| {
                let result = result.map_err(|e| {
                    self.metrics.error(operation, e.reason());
                    let text = error_chain(&e);
                    let call = match operation {
                        Operation::Prepare => "NodePrepareResources",
                        Operation::Unprepare => "NodeUnprepareResources",
                    };
                    tracing::warn!(claim_uid = %claim.uid, namespace = %claim.namespace, claim = %claim.name,
                        call, reason = e.reason(), error = %text, "claim failed");
                    text
                });
                (claim.uid, result)
            })
            .collect();
        self.changed.notify_one();
        out
    }

    /// Runs `work` on a blocking thread, waiting for it until the claim's deadline (plus a little for the
    /// node layer to notice the deadline and return). The node layer bounds its own waits; this bounds
    /// the rest (a kernel call or disk that does not return), so the kubelet always gets an answer.
    async fn on_node<T: Send + 'static>(
        &self,
        deadline: Deadline,
        work: impl FnOnce() -> Result<T, PrepareError> + Send + 'static,
    ) -> Result<T, PrepareError> {
        let task = tokio::task::spawn_blocking(work);
        match tokio::time::timeout(deadline.remaining() + NODE_SLACK, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(PrepareError::Internal(format!("the node layer's thread died: {e}"))),
            Err(_) => Err(PrepareError::NodeTimeout { budget: self.node.config().budgets.total }),
        }
    }

    async fn prepare_one(&self, claim: &ClaimRef) -> Result<Vec<DeviceAnswer>, PrepareError> {
        // The claim's one deadline, from now: the API read, the node work and its rollback all fit in it.
        let budgets = self.node.config().budgets;
        let deadline = Deadline::after(budgets.total);
        let uid: ClaimUid = claim.uid.parse()?;
        let object = self.claims.read(&claim.namespace, &claim.name, deadline.before(budgets.rollback)).await?;
        let devices = allocation::resolve(&object, &claim.uid, &self.driver, &self.pool)?;
        let node = self.node.clone();
        let names: Vec<DeviceName> = devices.iter().map(|d| d.name).collect();
        let required: Vec<(DeviceName, CcMode)> =
            devices.iter().filter_map(|d| d.required_cc_mode.map(|m| (d.name, m))).collect();
        let prepared = self
            .on_node(deadline, move || {
                for (device, required) in required {
                    let actual = node
                        .cc_mode(device)
                        .map_err(|failure| ClaimError { claim: uid.clone(), failure: Box::new(failure) })?;
                    if actual != Some(required) {
                        return Err(PrepareError::CcMode { device, required, actual });
                    }
                }
                Ok(node.prepare_within(&uid, &names, deadline)?)
            })
            .await?;
        // A PPCIe unit is answered as the one device allocated, with every member's CDI device.
        Ok(devices
            .into_iter()
            .map(|asked| DeviceAnswer {
                request_names: asked.request_names,
                pool_name: self.pool.clone(),
                device_name: asked.name.to_string(),
                cdi_device_ids: prepared
                    .devices
                    .iter()
                    .filter(|d| d.unit.map_or(d.name == asked.name, |u| u == asked.name))
                    .map(|d| d.cdi_device_id.clone())
                    .collect(),
            })
            .collect())
    }

    async fn unprepare_one(&self, claim: &ClaimRef) -> Result<(), PrepareError> {
        let deadline = Deadline::after(self.node.config().budgets.total);
        let uid: ClaimUid = claim.uid.parse()?;
        let node = self.node.clone();
        self.on_node(deadline, move || Ok(node.unprepare_within(&uid, deadline)?)).await
    }
}

/// One version's `Claim` messages as the handler's claim references.
macro_rules! claim_refs {
    ($claims:expr) => {
        $claims.into_iter().map(|c| ClaimRef { namespace: c.namespace, name: c.name, uid: c.uid }).collect()
    };
}

/// The two API versions' messages are identical on the wire; this maps one version's types onto the
/// shared handler.
macro_rules! serve_version {
    ($v:ident, $to_device:ident) => {
        #[tonic::async_trait]
        impl $v::dra_plugin_server::DraPlugin for DraService {
            async fn node_prepare_resources(
                &self,
                request: Request<$v::NodePrepareResourcesRequest>,
            ) -> Result<Response<$v::NodePrepareResourcesResponse>, Status> {
                let claims = claim_refs!(request.into_inner().claims);
                let claims = self
                    .prepare(claims)
                    .await
                    .into_iter()
                    .map(|(uid, result)| {
                        let answer = match result {
                            Ok(devices) => $v::NodePrepareResourceResponse {
                                devices: devices.into_iter().map($to_device).collect(),
                                error: String::new(),
                            },
                            Err(error) => $v::NodePrepareResourceResponse { devices: Vec::new(), error },
                        };
                        (uid, answer)
                    })
                    .collect();
                Ok(Response::new($v::NodePrepareResourcesResponse { claims }))
            }

            async fn node_unprepare_resources(
                &self,
                request: Request<$v::NodeUnprepareResourcesRequest>,
            ) -> Result<Response<$v::NodeUnprepareResourcesResponse>, Status> {
                let claims = claim_refs!(request.into_inner().claims);
                let claims = self
                    .unprepare(claims)
                    .await
                    .into_iter()
                    .map(|(uid, result)| {
                        (uid, $v::NodeUnprepareResourceResponse { error: result.err().unwrap_or_default() })
                    })
                    .collect();
                Ok(Response::new($v::NodeUnprepareResourcesResponse { claims }))
            }
        }
    };
}

fn to_device_v1(d: DeviceAnswer) -> v1::Device {
    v1::Device {
        request_names: d.request_names,
        pool_name: d.pool_name,
        device_name: d.device_name,
        cdi_device_ids: d.cdi_device_ids,
        share_id: None,
    }
}

fn to_device_v1beta1(d: DeviceAnswer) -> v1beta1::Device {
    v1beta1::Device {
        request_names: d.request_names,
        pool_name: d.pool_name,
        device_name: d.device_name,
        cdi_device_ids: d.cdi_device_ids,
    }
}

serve_version!(v1, to_device_v1);
serve_version!(v1beta1, to_device_v1beta1);

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(uid: &str) -> ClaimRef {
        ClaimRef { namespace: "ns".into(), name: format!("name-{uid}"), uid: uid.into() }
    }

    #[tokio::test]
    async fn a_claim_whose_task_panics_gets_an_internal_error_and_the_others_their_answers() {
        let claims = vec![claim("a"), claim("boom"), claim("b"), claim("a")];
        let mut answers = for_each_claim(claims, |c| async move {
            if c.uid == "boom" {
                panic!("injected panic for {}", c.name);
            }
            Ok(c.name)
        })
        .await;
        answers.sort_by(|x, y| x.0.uid.cmp(&y.0.uid));
        let uids: Vec<&str> = answers.iter().map(|(c, _)| c.uid.as_str()).collect();
        assert_eq!(uids, ["a", "b", "boom"], "one answer per distinct claim, the panicked one included");
        assert_eq!(answers[0].1.as_ref().ok().map(String::as_str), Some("name-a"));
        let Err(e) = &answers[2].1 else { panic!("the panicked claim answers with an error") };
        assert_eq!(e.reason(), "internal");
        assert!(error_chain(e).contains("injected panic for name-boom"), "{}", error_chain(e));
    }
}
