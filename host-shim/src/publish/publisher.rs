//! Writing this node's ResourceSlices to the API server, and withdrawing them.
//!
//! Create/update by deterministic name with conflict retries (RBAC: `get`, `create`, `update`, `delete`
//! on `resourceslices`; `get` on `nodes` for the owner reference). Each publication reads what is on the
//! server and writes only when it differs, so a slice wiped by the kubelet (it wipes a node's slices at
//! its own start and 30 s after a plugin disconnects) or edited by someone else is restored on the next
//! round, and an unchanged node costs one GET per round. The pool generation goes up with every change.
//! A new process adopts the slices an earlier one left (an ordinary restart does not withdraw them) the
//! same way. Whether the server keeps device taints is asked with a dry-run create of a probe slice
//! ([`SlicePublisher::taints_kept`]). Every API call is bounded by the configured timeout.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node as K8sNode;
use k8s_openapi::api::resource::v1::{Device, ResourceSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

use super::slices;

/// Attempts at one slice write before giving up on a round (conflicts, races with another writer).
const WRITE_ATTEMPTS: usize = 5;

/// Publishing failed (the next round tries again).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// An API call timed out.
    #[error("{what}: no answer from the API server within {} ms", timeout.as_millis())]
    Timeout {
        /// The call.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// An API call failed.
    #[error("{what}")]
    Api {
        /// The call.
        what: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// Conflicts did not resolve.
    #[error("slice {name}: still conflicting after {WRITE_ATTEMPTS} attempts")]
    Conflicts {
        /// The slice.
        name: String,
    },
}

/// What one publication did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Whether anything was written.
    pub wrote: bool,
    /// Whether the API server dropped the device taints we sent (feature gate `DRADeviceTaints` off).
    pub taints_dropped: bool,
}

/// Publishes one node's pool.
pub struct SlicePublisher {
    client: kube::Client,
    driver: String,
    node: String,
    timeout: Duration,
    owner: Option<OwnerReference>,
    /// Slices written by this process (to withdraw).
    written: usize,
}

impl std::fmt::Debug for SlicePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlicePublisher")
            .field("driver", &self.driver)
            .field("node", &self.node)
            .field("timeout", &self.timeout)
            .field("owner", &self.owner.as_ref().map(|o| &o.uid))
            .finish_non_exhaustive()
    }
}

async fn bounded<T>(
    timeout: Duration,
    what: impl Fn() -> String,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, PublishError> {
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(PublishError::Timeout { what: what(), timeout }),
        Ok(r) => r.map_err(|source| PublishError::Api { what: what(), source }),
    }
}

fn is_conflict(e: &PublishError) -> bool {
    matches!(e, PublishError::Api { source: kube::Error::Api(s), .. } if s.is_conflict() || s.is_already_exists())
}

/// Devices compared as the server stores them: it stamps `timeAdded` on taints.
fn comparable(devices: Option<&[Device]>) -> Vec<Device> {
    let mut out = devices.map(<[Device]>::to_vec).unwrap_or_default();
    for d in &mut out {
        for t in d.taints.iter_mut().flatten() {
            t.time_added = None;
        }
    }
    out
}

impl SlicePublisher {
    /// A publisher of `driver`'s pool on `node`, every API call bounded by `timeout`.
    pub fn new(client: kube::Client, driver: String, node: String, timeout: Duration) -> Self {
        Self { client, driver, node, timeout, owner: None, written: 0 }
    }

    fn api(&self) -> Api<ResourceSlice> {
        Api::all(self.client.clone())
    }

    async fn owner(&mut self) -> Result<OwnerReference, PublishError> {
        if let Some(o) = &self.owner {
            return Ok(o.clone());
        }
        let nodes: Api<K8sNode> = Api::all(self.client.clone());
        let node = bounded(self.timeout, || format!("reading node {}", self.node), nodes.get(&self.node)).await?;
        let owner = slices::node_owner(&self.node, node.metadata.uid.as_deref().unwrap_or_default());
        self.owner = Some(owner.clone());
        Ok(owner)
    }

    /// Makes the server's slices hold exactly `devices`.
    pub async fn publish(&mut self, devices: &[Device]) -> Result<Published, PublishError> {
        let owner = self.owner().await?;
        let api = self.api();
        let name0 = slices::slice_name(&self.node, &self.driver, 0);
        let current = bounded(self.timeout, || format!("reading slice {name0}"), api.get_opt(&name0)).await?;
        let generation = current.as_ref().map_or(0, |s| s.spec.pool.generation);

        // Unchanged? Compare all slices of the current generation with what we would write.
        let wanted = slices::split(devices);
        let mut existing = vec![current];
        for i in 1..wanted.len() {
            let name = slices::slice_name(&self.node, &self.driver, i);
            existing.push(bounded(self.timeout, || format!("reading slice {name}"), api.get_opt(&name)).await?);
        }
        let same = existing.iter().zip(&wanted).all(|(have, want)| {
            have.as_ref().is_some_and(|s| {
                s.spec.pool.generation == generation
                    && s.spec.pool.resource_slice_count == i64::try_from(wanted.len()).unwrap_or(i64::MAX)
                    && s.metadata.owner_references.as_ref().is_some_and(|o| o.contains(&owner))
                    && comparable(s.spec.devices.as_deref()) == comparable(Some(*want))
            })
        });
        if same {
            self.written = self.written.max(wanted.len());
            self.delete_from(wanted.len()).await?;
            return Ok(Published::default());
        }

        let generation = generation + 1;
        let mut out = Published { wrote: true, taints_dropped: false };
        for slice in slices::resource_slices(&self.driver, &self.node, Some(&owner), generation, devices) {
            let stored = self.write(slice.clone()).await?;
            let sent = slice.spec.devices.unwrap_or_default();
            let back = stored.spec.devices.unwrap_or_default();
            for d in sent.iter().filter(|d| d.taints.as_ref().is_some_and(|t| !t.is_empty())) {
                let kept = back.iter().any(|b| b.name == d.name && b.taints.as_ref().is_some_and(|t| !t.is_empty()));
                out.taints_dropped |= !kept;
            }
        }
        self.written = self.written.max(wanted.len());
        self.delete_from(wanted.len()).await?;
        tracing::info!(driver = %self.driver, node = %self.node, generation, devices = devices.len(),
            slices = wanted.len(), "ResourceSlices published");
        Ok(out)
    }

    /// Creates or replaces one slice, retrying on conflicts.
    async fn write(&self, mut slice: ResourceSlice) -> Result<ResourceSlice, PublishError> {
        let api = self.api();
        let name = slice.metadata.name.clone().unwrap_or_default();
        for _ in 0..WRITE_ATTEMPTS {
            let have = bounded(self.timeout, || format!("reading slice {name}"), api.get_opt(&name)).await?;
            let result = match have {
                None => {
                    slice.metadata.resource_version = None;
                    bounded(
                        self.timeout,
                        || format!("creating slice {name}"),
                        api.create(&PostParams::default(), &slice),
                    )
                    .await
                }
                Some(have) => {
                    slice.metadata.resource_version = have.metadata.resource_version;
                    bounded(
                        self.timeout,
                        || format!("updating slice {name}"),
                        api.replace(&name, &PostParams::default(), &slice),
                    )
                    .await
                }
            };
            match result {
                Err(e) if is_conflict(&e) => {
                    tracing::debug!(slice = %name, "write conflict, retrying");
                    continue;
                }
                other => return other,
            }
        }
        Err(PublishError::Conflicts { name })
    }

    /// Deletes our slices with index `from` and above (left from a larger pool or an earlier process).
    async fn delete_from(&mut self, from: usize) -> Result<(), PublishError> {
        let api = self.api();
        let mut i = from;
        loop {
            let name = slices::slice_name(&self.node, &self.driver, i);
            let present = bounded(self.timeout, || format!("reading slice {name}"), api.get_opt(&name)).await?;
            if present.is_none() && i >= self.written {
                break;
            }
            if present.is_some() {
                match bounded(
                    self.timeout,
                    || format!("deleting slice {name}"),
                    api.delete(&name, &DeleteParams::default()),
                )
                .await
                {
                    Ok(_) => tracing::info!(slice = %name, "stale ResourceSlice deleted"),
                    Err(PublishError::Api { source: kube::Error::Api(s), .. }) if s.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            i += 1;
        }
        self.written = from;
        Ok(())
    }

    /// Whether the API server keeps device taints (feature gate `DRADeviceTaints` on): a server-side dry
    /// run (`dryRun=All`: admitted and validated, nothing stored) of [`slices::taint_probe`], answered
    /// with the object as it would be stored, which has the probe's taint only where the feature is on.
    pub async fn taints_kept(&mut self) -> Result<bool, PublishError> {
        let owner = self.owner().await?;
        let probe = slices::taint_probe(&self.driver, &self.node, Some(&owner));
        let name = probe.metadata.name.clone().unwrap_or_default();
        let dry = PostParams { dry_run: true, ..PostParams::default() };
        let api = self.api();
        let back = bounded(
            self.timeout,
            || format!("dry-run creating slice {name} (device-taint probe)"),
            api.create(&dry, &probe),
        )
        .await?;
        let kept = back.spec.devices.iter().flatten().any(|d| d.taints.as_ref().is_some_and(|t| !t.is_empty()));
        tracing::debug!(slice = %name, kept, "device-taint probe answered");
        Ok(kept)
    }

    /// Deletes every slice of ours (clean shutdown): the devices are no longer offered.
    pub async fn withdraw(&mut self) -> Result<(), PublishError> {
        self.written = self.written.max(1);
        self.delete_from(0).await?;
        tracing::info!(driver = %self.driver, node = %self.node, "ResourceSlices withdrawn");
        Ok(())
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::resource::v1::DeviceTaint;

    use super::*;
    use crate::sim::FakeApiServer;

    fn devices(n: usize, tainted: Option<usize>) -> Vec<Device> {
        (0..n)
            .map(|i| Device {
                name: format!("gpu-{i}"),
                taints: (tainted == Some(i)).then(|| {
                    vec![DeviceTaint {
                        key: slices::preflight_taint_key("gpu.ccgpu.dev"),
                        value: Some("report-signature".into()),
                        effect: "NoSchedule".into(),
                        time_added: None,
                    }]
                }),
                ..Device::default()
            })
            .collect()
    }

    fn sizes(api: &FakeApiServer) -> BTreeMap<String, usize> {
        api.slices().into_iter().map(|(name, s)| (name, s["spec"]["devices"].as_array().map_or(0, Vec::len))).collect()
    }

    #[tokio::test]
    async fn a_pool_with_a_tainted_device_is_published_in_slices_of_at_most_64() {
        let api = FakeApiServer::start("node-a").await.expect("fake API server");
        let client = api.client().expect("client");
        let mut publisher =
            SlicePublisher::new(client, "gpu.ccgpu.dev".into(), "node-a".into(), Duration::from_secs(5));

        let tainted = devices(100, Some(9));
        assert!(publisher.publish(&tainted).await.expect("published").wrote);
        let want =
            BTreeMap::from([("node-a-gpu.ccgpu.dev-0".to_owned(), 64), ("node-a-gpu.ccgpu.dev-1".to_owned(), 36)]);
        assert_eq!(sizes(&api), want);
        // The unchanged pool is recognised as unchanged: nothing is rewritten.
        let writes = api.state().slice_writes;
        assert!(!publisher.publish(&tainted).await.expect("published").wrote);
        assert_eq!(api.state().slice_writes, writes);

        // The taint gone: one slice of 100, the second one deleted.
        assert!(publisher.publish(&devices(100, None)).await.expect("published").wrote);
        assert_eq!(sizes(&api), BTreeMap::from([("node-a-gpu.ccgpu.dev-0".to_owned(), 100)]));
    }
}
