//! The kubelet's `DRAResourceHealth` service (KEP-4680, package `v1alpha1`): `NodeWatchResources`
//! streams the complete health list of our devices ([`crate::health::HealthMonitor`]) — at the start of
//! the stream, on every change, and again every [`crate::health::HEALTH_RESEND_INTERVAL`] when nothing
//! changed, because the kubelet reports a device Unknown once its last report is older than its own
//! timeout (30 s). Every response lists every device: the kubelet reconciles its cache with each one.
//!
//! Served on the DRA socket next to `DRAPlugin`, and advertised in the registration as
//! `v1alpha1.DRAResourceHealth`. A stream ends when the plugin stops serving (so a graceful shutdown does
//! not wait for the kubelet to hang up) or when the kubelet goes. Trusts the monitor; reads nothing from
//! the request (it is empty).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::proto::health_v1alpha1 as pb;
use crate::health::{DeviceHealth, HealthList};

/// The service: our pool's devices from the monitor's list.
#[derive(Clone, Debug)]
pub struct HealthService {
    pool: String,
    list: watch::Receiver<HealthList>,
    resend: Duration,
    stop: watch::Receiver<bool>,
}

impl HealthService {
    /// Streams `list` as the devices of `pool`, repeated every `resend`, until `stop` turns true.
    pub fn new(pool: String, list: watch::Receiver<HealthList>, resend: Duration, stop: watch::Receiver<bool>) -> Self {
        Self { pool, list, resend, stop }
    }
}

/// One response: every device of `list` in `pool`.
pub fn response(pool: &str, list: &HealthList) -> pb::NodeWatchResourcesResponse {
    let devices = list
        .iter()
        .map(|(name, entry)| pb::DeviceHealth {
            device: Some(pb::DeviceIdentifier { pool_name: pool.to_owned(), device_name: name.to_string() }),
            health: match entry.health {
                DeviceHealth::Healthy => pb::HealthStatus::Healthy,
                DeviceHealth::Unhealthy(_) => pb::HealthStatus::Unhealthy,
                DeviceHealth::Unknown(_) => pb::HealthStatus::Unknown,
            }
            .into(),
            last_updated_time: entry
                .last_updated
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        })
        .collect();
    pb::NodeWatchResourcesResponse { devices }
}

#[tonic::async_trait]
impl pb::dra_resource_health_server::DraResourceHealth for HealthService {
    type NodeWatchResourcesStream = ReceiverStream<Result<pb::NodeWatchResourcesResponse, Status>>;

    async fn node_watch_resources(
        &self,
        _request: Request<pb::NodeWatchResourcesRequest>,
    ) -> Result<Response<Self::NodeWatchResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(2);
        let (pool, mut list, resend, mut stop) = (self.pool.clone(), self.list.clone(), self.resend, self.stop.clone());
        tracing::info!(pool = %pool, "the kubelet is watching device health");
        tokio::spawn(async move {
            loop {
                let message = response(&pool, &list.borrow_and_update());
                if tx.send(Ok(message)).await.is_err() {
                    break;
                }
                tokio::select! {
                    changed = list.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep(resend) => {}
                    () = tx.closed() => break,
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            tracing::debug!(at = ?SystemTime::now(), "device health stream ended");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
