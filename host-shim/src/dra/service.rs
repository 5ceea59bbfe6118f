//! The kubelet's DRA service: `NodePrepareResources` and `NodeUnprepareResources`, served in both the
//! `v1` and the `v1beta1` package from one handler.
//!
//! Prepare, per claim and independently of the other claims of the call: parse the uid → read the claim
//! from the API server (bounded) → resolve our allocation ([`super::allocation`]) → check any CC mode our
//! opaque config requires → prepare through the node layer (on a blocking thread, bounded by the node's
//! budgets) → answer with the CDI ids. Claims run concurrently; one that fails answers with its own error
//! (the whole cause chain) and the others still succeed. A claim already prepared gets the same answer.
//!
//! Unprepare needs only the uid: the node layer's checkpoint holds everything to undo. Unknown claims are
//! already done.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tonic::{Request, Response, Status};

use super::allocation::{self, AllocationError};
use super::claims::{ClaimReader, ReadError};
use super::proto::{v1, v1beta1};
use crate::ccmode::CcMode;
use crate::metrics::{Metrics, Operation};
use crate::names::{ClaimUid, DeviceName, NameError};
use crate::node::{ClaimError, Node};

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
    /// The worker thread died (a bug).
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
            PrepareError::Node(_) => "node",
            PrepareError::Internal(_) => "internal",
        }
    }
}

/// An error and all its causes on one line, as the kubelet shows it in pod events.
pub fn error_chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

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
        let mut tasks = JoinSet::new();
        let mut out = BTreeMap::new();
        for claim in dedup(claims) {
            let inner = self.inner.clone();
            tasks.spawn(async move {
                let start = Instant::now();
                let result = inner.prepare_one(&claim).await;
                inner.metrics.observe(Operation::Prepare, start.elapsed());
                let result = result.map_err(|e| {
                    inner.metrics.error(Operation::Prepare, e.reason());
                    let text = error_chain(&e);
                    tracing::warn!(claim_uid = %claim.uid, namespace = %claim.namespace, claim = %claim.name,
                        reason = e.reason(), error = %text, "NodePrepareResources failed for claim");
                    text
                });
                (claim.uid, result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((uid, result)) => {
                    out.insert(uid, result);
                }
                Err(e) => tracing::error!(error = %e, "prepare task died"),
            }
        }
        self.inner.changed.notify_one();
        out
    }

    /// Unprepares every claim, concurrently; one answer per distinct uid.
    pub async fn unprepare(&self, claims: Vec<ClaimRef>) -> BTreeMap<String, Result<(), String>> {
        let mut tasks = JoinSet::new();
        let mut out = BTreeMap::new();
        for claim in dedup(claims) {
            let inner = self.inner.clone();
            tasks.spawn(async move {
                let start = Instant::now();
                let result = inner.unprepare_one(&claim).await;
                inner.metrics.observe(Operation::Unprepare, start.elapsed());
                let result = result.map_err(|e| {
                    inner.metrics.error(Operation::Unprepare, e.reason());
                    let text = error_chain(&e);
                    tracing::warn!(claim_uid = %claim.uid, namespace = %claim.namespace, claim = %claim.name,
                        reason = e.reason(), error = %text, "NodeUnprepareResources failed for claim");
                    text
                });
                (claim.uid, result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((uid, result)) => {
                    out.insert(uid, result);
                }
                Err(e) => tracing::error!(error = %e, "unprepare task died"),
            }
        }
        self.inner.changed.notify_one();
        out
    }
}

fn dedup(claims: Vec<ClaimRef>) -> Vec<ClaimRef> {
    let mut seen = std::collections::BTreeSet::new();
    claims.into_iter().filter(|c| seen.insert(c.uid.clone())).collect()
}

impl Inner {
    async fn prepare_one(&self, claim: &ClaimRef) -> Result<Vec<DeviceAnswer>, PrepareError> {
        let uid: ClaimUid = claim.uid.parse()?;
        let object = self.claims.read(&claim.namespace, &claim.name).await?;
        let devices = allocation::resolve(&object, &claim.uid, &self.driver, &self.pool)?;
        let node = self.node.clone();
        let names: Vec<DeviceName> = devices.iter().map(|d| d.name).collect();
        let required: Vec<(DeviceName, CcMode)> =
            devices.iter().filter_map(|d| d.required_cc_mode.map(|m| (d.name, m))).collect();
        let prepared = tokio::task::spawn_blocking(move || {
            for (device, required) in required {
                let actual = node
                    .cc_mode(device)
                    .map_err(|failure| ClaimError { claim: uid.clone(), failure: Box::new(failure) })?;
                if actual != Some(required) {
                    return Err(PrepareError::CcMode { device, required, actual });
                }
            }
            Ok(node.prepare(&uid, &names)?)
        })
        .await
        .map_err(|e| PrepareError::Internal(e.to_string()))??;
        Ok(devices
            .into_iter()
            .zip(prepared.devices)
            .map(|(asked, done)| DeviceAnswer {
                request_names: asked.request_names,
                pool_name: self.pool.clone(),
                device_name: done.name.to_string(),
                cdi_device_ids: vec![done.cdi_device_id],
            })
            .collect())
    }

    async fn unprepare_one(&self, claim: &ClaimRef) -> Result<(), PrepareError> {
        let uid: ClaimUid = claim.uid.parse()?;
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.unprepare(&uid))
            .await
            .map_err(|e| PrepareError::Internal(e.to_string()))??;
        Ok(())
    }
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
                let claims = request
                    .into_inner()
                    .claims
                    .into_iter()
                    .map(|c| ClaimRef { namespace: c.namespace, name: c.name, uid: c.uid })
                    .collect();
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
                let claims = request
                    .into_inner()
                    .claims
                    .into_iter()
                    .map(|c| ClaimRef { namespace: c.namespace, name: c.name, uid: c.uid })
                    .collect();
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
