//! From a ResourceClaim (`resource.k8s.io/v1`, as read from the API server) to the devices this node must
//! prepare for it: uid checked, allocation results for our driver and pool, device names parsed, our
//! opaque config applied per request.
//!
//! Trusts nothing in the claim: every name is parsed into a type or refused with an error naming it.
//! Pure (no I/O), so every refusal is unit-tested.

use std::collections::BTreeSet;

use k8s_openapi::api::resource::v1::{DeviceAllocationConfiguration, ResourceClaim};

use super::config::{ConfigError, GpuConfig};
use crate::ccmode::CcMode;
use crate::names::{DeviceName, NameError};

/// Most allocation results one claim can hold (the API's `AllocationResultsMaxSize`).
pub const MAX_RESULTS: usize = 32;

/// One device allocated to the claim on this node by our driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocatedDevice {
    /// The device.
    pub name: DeviceName,
    /// The claim's request names it satisfies, reduced to the base request (`gpu`, not `gpu/h100`).
    pub request_names: Vec<String>,
    /// The CC mode our config requires for it, if any.
    pub required_cc_mode: Option<CcMode>,
}

/// Why a claim cannot be prepared on this node.
#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    /// The claim was deleted and recreated under the same name.
    #[error("claim {namespace}/{name} has uid {found}, the kubelet asked for {expected}: it was replaced")]
    UidMismatch {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The uid the kubelet sent.
        expected: String,
        /// The uid on the API server.
        found: String,
    },
    /// The claim has no allocation.
    #[error("claim is not allocated")]
    NotAllocated,
    /// No allocation result names our driver.
    #[error("no device of the claim is allocated by driver {driver} (drivers allocated: {others:?})")]
    NotOurs {
        /// Our driver name.
        driver: String,
        /// The drivers its results name.
        others: Vec<String>,
    },
    /// A result of ours names a pool other than this node's.
    #[error("device {device} is allocated from pool {pool:?}, this node publishes pool {expected:?}")]
    ForeignPool {
        /// Device as named.
        device: String,
        /// Its pool.
        pool: String,
        /// Our pool.
        expected: String,
    },
    /// A result of ours names a device we never publish.
    #[error("allocated device is not one of ours")]
    NotOurDevice(#[source] NameError),
    /// Admin access was allocated: VFIO passthrough cannot share a device with a running VM.
    #[error("device {device} is allocated with adminAccess, which VFIO passthrough cannot honour")]
    AdminAccess {
        /// The device.
        device: DeviceName,
    },
    /// Too many results.
    #[error("{count} allocation results, more than {MAX_RESULTS}")]
    TooManyResults {
        /// How many.
        count: usize,
    },
    /// An opaque config for our driver does not parse.
    #[error("opaque config {index} of the allocation")]
    BadConfig {
        /// Position in `status.allocation.devices.config`.
        index: usize,
        /// Why.
        #[source]
        source: ConfigError,
    },
}

/// The request name without a `/subrequest` suffix.
fn base_request(request: &str) -> &str {
    request.split_once('/').map_or(request, |(base, _)| base)
}

/// Whether a config entry applies to an allocation result's request (no list = every request).
fn applies(config: &DeviceAllocationConfiguration, request: &str) -> bool {
    config
        .requests
        .as_ref()
        .is_none_or(|rs| rs.is_empty() || rs.iter().any(|r| r == request || r == base_request(request)))
}

/// The devices of `claim` this node prepares: checks the uid against the kubelet's, takes the results
/// whose driver is `driver` (every one must be in `pool` and named like ours), and the effective opaque
/// config for each (class configs first, then claim configs; the later one wins).
pub fn resolve(
    claim: &ResourceClaim,
    expected_uid: &str,
    driver: &str,
    pool: &str,
) -> Result<Vec<AllocatedDevice>, AllocationError> {
    let found = claim.metadata.uid.clone().unwrap_or_default();
    if found != expected_uid {
        return Err(AllocationError::UidMismatch {
            namespace: claim.metadata.namespace.clone().unwrap_or_default(),
            name: claim.metadata.name.clone().unwrap_or_default(),
            expected: expected_uid.to_owned(),
            found,
        });
    }
    let devices = claim
        .status
        .as_ref()
        .and_then(|s| s.allocation.as_ref())
        .and_then(|a| a.devices.as_ref())
        .ok_or(AllocationError::NotAllocated)?;
    let results = devices.results.as_deref().unwrap_or_default();
    if results.len() > MAX_RESULTS {
        return Err(AllocationError::TooManyResults { count: results.len() });
    }

    // Our configs, parsed (a malformed one is an error even if it applies to nothing), in precedence order.
    let mut configs: Vec<(&DeviceAllocationConfiguration, GpuConfig)> = Vec::new();
    for (index, c) in devices.config.iter().flatten().enumerate() {
        let Some(opaque) = c.opaque.as_ref().filter(|o| o.driver == driver) else { continue };
        let parsed =
            GpuConfig::parse(&opaque.parameters.0).map_err(|source| AllocationError::BadConfig { index, source })?;
        configs.push((c, parsed));
    }
    configs.sort_by_key(|(c, _)| u8::from(c.source != "FromClass"));

    let mut out: Vec<AllocatedDevice> = Vec::new();
    for r in results.iter().filter(|r| r.driver == driver) {
        if r.pool != pool {
            return Err(AllocationError::ForeignPool {
                device: r.device.chars().take(80).collect(),
                pool: r.pool.chars().take(80).collect(),
                expected: pool.to_owned(),
            });
        }
        let name: DeviceName = r.device.parse().map_err(AllocationError::NotOurDevice)?;
        if r.admin_access == Some(true) {
            return Err(AllocationError::AdminAccess { device: name });
        }
        let required_cc_mode =
            configs.iter().filter(|(c, _)| applies(c, &r.request)).filter_map(|(_, g)| g.cc_mode).next_back();
        let request = base_request(&r.request).to_owned();
        match out.iter_mut().find(|d| d.name == name) {
            Some(existing) => {
                if !existing.request_names.contains(&request) {
                    existing.request_names.push(request);
                }
                existing.required_cc_mode = existing.required_cc_mode.or(required_cc_mode);
            }
            None => out.push(AllocatedDevice { name, request_names: vec![request], required_cc_mode }),
        }
    }
    if out.is_empty() {
        let others: BTreeSet<String> = results.iter().map(|r| r.driver.chars().take(80).collect()).collect();
        return Err(AllocationError::NotOurs { driver: driver.to_owned(), others: others.into_iter().collect() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DRIVER: &str = "gpu.ccgpu.dev";

    fn claim(status: serde_json::Value) -> ResourceClaim {
        serde_json::from_value(json!({
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
            "spec": {"devices": {}},
            "status": status,
        }))
        .expect("claim")
    }

    fn result(request: &str, driver: &str, pool: &str, device: &str) -> serde_json::Value {
        json!({"request": request, "driver": driver, "pool": pool, "device": device})
    }

    fn config(source: &str, requests: &[&str], cc: &str) -> serde_json::Value {
        json!({"source": source, "requests": requests, "opaque": {"driver": DRIVER, "parameters":
            {"apiVersion": "gpu.ccgpu.dev/v1alpha1", "kind": "GpuConfig", "ccMode": cc}}})
    }

    #[test]
    fn takes_our_results_with_base_request_names_and_config_precedence() {
        let c = claim(json!({"allocation": {"devices": {
            "results": [
                result("gpus/h100", DRIVER, "node-a", "gpu-0000-18-00-0"),
                result("nic", "net.example.com", "node-a", "eth0"),
                result("other", DRIVER, "node-a", "gpu-0000-28-00-0"),
            ],
            "config": [config("FromClaim", &["gpus"], "devtools"), config("FromClass", &[], "on")],
        }}}));
        let devices = resolve(&c, "u1", DRIVER, "node-a").expect("resolves");
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].name.to_string(), "gpu-0000-18-00-0");
        assert_eq!(devices[0].request_names, vec!["gpus"]);
        assert_eq!(devices[0].required_cc_mode, Some(CcMode::Devtools), "claim config beats class config");
        assert_eq!(devices[1].required_cc_mode, Some(CcMode::On), "class config applies to every request");
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let ours = json!({"allocation": {"devices": {"results": [result("r", DRIVER, "node-a", "gpu-0000-18-00-0")]}}});
        assert!(matches!(
            resolve(&claim(ours.clone()), "u2", DRIVER, "node-a"),
            Err(AllocationError::UidMismatch { .. })
        ));
        assert!(matches!(resolve(&claim(json!({})), "u1", DRIVER, "node-a"), Err(AllocationError::NotAllocated)));
        assert!(matches!(resolve(&claim(ours), "u1", DRIVER, "node-b"), Err(AllocationError::ForeignPool { .. })));
        let foreign =
            json!({"allocation": {"devices": {"results": [result("r", "gpu.nvidia.com", "node-a", "gpu-0")]}}});
        let e = resolve(&claim(foreign), "u1", DRIVER, "node-a").expect_err("not ours");
        assert!(e.to_string().contains("gpu.nvidia.com"), "{e}");
        let bad_name = json!({"allocation": {"devices": {"results": [result("r", DRIVER, "node-a", "gpu-0")]}}});
        assert!(matches!(resolve(&claim(bad_name), "u1", DRIVER, "node-a"), Err(AllocationError::NotOurDevice(_))));
        let admin = json!({"allocation": {"devices": {"results": [
            {"request": "r", "driver": DRIVER, "pool": "node-a", "device": "gpu-0000-18-00-0", "adminAccess": true}]}}});
        assert!(matches!(resolve(&claim(admin), "u1", DRIVER, "node-a"), Err(AllocationError::AdminAccess { .. })));
        let bad_config = json!({"allocation": {"devices": {
            "results": [result("r", DRIVER, "node-a", "gpu-0000-18-00-0")],
            "config": [{"source": "FromClaim", "opaque": {"driver": DRIVER, "parameters": {"ccMode": "on"}}}]}}});
        assert!(matches!(
            resolve(&claim(bad_config), "u1", DRIVER, "node-a"),
            Err(AllocationError::BadConfig { index: 0, .. })
        ));
        let other_drivers_config = json!({"allocation": {"devices": {
            "results": [result("r", DRIVER, "node-a", "gpu-0000-18-00-0")],
            "config": [{"source": "FromClaim", "opaque": {"driver": "x.example.com", "parameters": {"any": 1}}}]}}});
        assert!(
            resolve(&claim(other_drivers_config), "u1", DRIVER, "node-a").is_ok(),
            "other drivers' config is theirs"
        );
    }
}
