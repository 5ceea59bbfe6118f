//! The kubelet stand-in's device-health watch: `NodeWatchResources` over `v1alpha1.DRAResourceHealth`,
//! as a 1.34 kubelet with `ResourceHealthStatus` speaks it, or over `v1beta1.DRAResourceHealth`, the
//! later package whose devices also carry a health-check timeout and a message. Only on a plugin whose
//! registration lists the package's service, as later kubelets do. Trusts nothing the plugin sends: a
//! device without an identifier or with a health outside the enum is refused, as the kubelet would not
//! know what it is.

use super::kubelet::{KubeletStandIn, StandInError, rpc};
use crate::dra::proto::{health_v1alpha1, health_v1beta1};

/// The package of the device-health service the stand-in speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthVersion {
    /// `v1alpha1.DRAResourceHealth` (Kubernetes 1.34).
    V1alpha1,
    /// `v1beta1.DRAResourceHealth`.
    V1beta1,
}

impl HealthVersion {
    /// The service as a registration lists it.
    pub fn service(self) -> &'static str {
        match self {
            HealthVersion::V1alpha1 => "v1alpha1.DRAResourceHealth",
            HealthVersion::V1beta1 => "v1beta1.DRAResourceHealth",
        }
    }
}

/// A device's health as the kubelet's health stream reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportedHealth {
    /// `UNKNOWN`.
    Unknown,
    /// `HEALTHY`.
    Healthy,
    /// `UNHEALTHY`.
    Unhealthy,
}

/// One device of a health response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// The pool.
    pub pool: String,
    /// The device name.
    pub device: String,
    /// Its health.
    pub health: ReportedHealth,
    /// Unix seconds of the plugin's last determination.
    pub last_updated: i64,
    /// `v1beta1` only: the health-check timeout the plugin states for the device, in seconds.
    pub timeout_seconds: Option<i64>,
    /// `v1beta1` only: why the device has this health.
    pub message: Option<String>,
}

#[derive(Debug)]
enum Stream {
    V1alpha1(tonic::Streaming<health_v1alpha1::NodeWatchResourcesResponse>),
    V1beta1(tonic::Streaming<health_v1beta1::NodeWatchResourcesResponse>),
}

/// An open `NodeWatchResources` stream.
#[derive(Debug)]
pub struct HealthWatch {
    stream: Stream,
}

fn bad(what: &str) -> StandInError {
    StandInError::Rpc { call: "NodeWatchResources", status: Box::new(tonic::Status::invalid_argument(what.to_owned())) }
}

/// The health enum's value, the same numbers in both packages.
fn reported(value: i32) -> Result<ReportedHealth, StandInError> {
    match health_v1beta1::HealthStatus::try_from(value) {
        Ok(health_v1beta1::HealthStatus::Unknown) => Ok(ReportedHealth::Unknown),
        Ok(health_v1beta1::HealthStatus::Healthy) => Ok(ReportedHealth::Healthy),
        Ok(health_v1beta1::HealthStatus::Unhealthy) => Ok(ReportedHealth::Unhealthy),
        Err(_) => Err(bad("a health value outside the enum")),
    }
}

impl HealthWatch {
    /// The next response: the plugin's complete device list (`None` when the plugin ended the stream).
    pub async fn next(&mut self) -> Result<Option<Vec<HealthReport>>, StandInError> {
        let mut out = Vec::new();
        match &mut self.stream {
            Stream::V1alpha1(stream) => {
                let Some(response) = stream.message().await.map_err(rpc("NodeWatchResources"))? else {
                    return Ok(None);
                };
                for d in response.devices {
                    let id = d.device.ok_or_else(|| bad("a device without an identifier"))?;
                    out.push(HealthReport {
                        pool: id.pool_name,
                        device: id.device_name,
                        health: reported(d.health)?,
                        last_updated: d.last_updated_time,
                        timeout_seconds: None,
                        message: None,
                    });
                }
            }
            Stream::V1beta1(stream) => {
                let Some(response) = stream.message().await.map_err(rpc("NodeWatchResources"))? else {
                    return Ok(None);
                };
                for d in response.devices {
                    let id = d.device.ok_or_else(|| bad("a device without an identifier"))?;
                    out.push(HealthReport {
                        pool: id.pool_name,
                        device: id.device_name,
                        health: reported(d.health)?,
                        last_updated: d.last_updated_time,
                        timeout_seconds: Some(d.health_check_timeout_seconds),
                        message: Some(d.message),
                    });
                }
            }
        }
        Ok(Some(out))
    }
}

impl KubeletStandIn {
    /// Opens the device-health stream over `v1alpha1`, as a 1.34 kubelet does.
    pub async fn watch_health(&self) -> Result<HealthWatch, StandInError> {
        self.watch_health_over(HealthVersion::V1alpha1).await
    }

    /// Opens the device-health stream over `version` on the plugin's DRA socket; refused unless the
    /// plugin's registration lists that service.
    pub async fn watch_health_over(&self, version: HealthVersion) -> Result<HealthWatch, StandInError> {
        let service = version.service();
        if !self.info.supported_versions.iter().any(|v| v == service) {
            return Err(StandInError::Rpc {
                call: "NodeWatchResources",
                status: Box::new(tonic::Status::failed_precondition(format!(
                    "the plugin does not list {service} among {:?}",
                    self.info.supported_versions
                ))),
            });
        }
        let call = rpc("NodeWatchResources");
        let stream = match version {
            HealthVersion::V1alpha1 => {
                let mut c =
                    health_v1alpha1::dra_resource_health_client::DraResourceHealthClient::new(self.channel.clone());
                let request = health_v1alpha1::NodeWatchResourcesRequest {};
                Stream::V1alpha1(c.node_watch_resources(request).await.map_err(call)?.into_inner())
            }
            HealthVersion::V1beta1 => {
                let mut c =
                    health_v1beta1::dra_resource_health_client::DraResourceHealthClient::new(self.channel.clone());
                let request = health_v1beta1::NodeWatchResourcesRequest {};
                Stream::V1beta1(c.node_watch_resources(request).await.map_err(call)?.into_inner())
            }
        };
        Ok(HealthWatch { stream })
    }
}
