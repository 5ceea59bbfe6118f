//! The kubelet's `DRAResourceHealth` service (KEP-4680, packages `v1alpha1` and `v1beta1`): `NodeWatchResources`
//! streams the complete health list of our devices ([`crate::health::HealthMonitor`]) — at the start of
//! the stream, on every change, and again every [`crate::health::HEALTH_RESEND_INTERVAL`] when nothing
//! changed, because the kubelet reports a device Unknown once its last report is older than its own
//! timeout (30 s). Every response lists every device: the kubelet reconciles its cache with each one.
//!
//! `v1beta1` adds to each device the health-check timeout we state ([`stated_timeout`]: three resends, so
//! one lost resend does not turn a device Unknown) and a message saying why (the cause of an unhealthy
//! device, the reason its health is unknown; empty when healthy).
//!
//! Served on the DRA socket next to `DRAPlugin`, and advertised in the registration as
//! `v1alpha1.DRAResourceHealth` and `v1beta1.DRAResourceHealth`. A stream ends when the plugin stops serving (so a graceful shutdown does
//! not wait for the kubelet to hang up) or when the kubelet goes. Trusts the monitor; reads nothing from
//! the request (it is empty).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::proto::{health_v1alpha1 as pb, health_v1beta1 as pb_beta};
use crate::health::{DeviceHealth, HealthList};

/// The upstream limit of a `v1beta1` message; the kubelet cuts longer ones.
pub const MAX_HEALTH_MESSAGE: usize = 1024;
/// How many resends the health-check timeout we state to the kubelet covers.
const STATED_TIMEOUT_RESENDS: u32 = 3;

/// The health-check timeout stated in `v1beta1` for a stream that repeats itself every `resend`.
pub fn stated_timeout(resend: Duration) -> Duration {
    resend.saturating_mul(STATED_TIMEOUT_RESENDS)
}

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

fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One `v1alpha1` response: every device of `list` in `pool`.
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
            last_updated_time: unix_seconds(entry.last_updated),
        })
        .collect();
    pb::NodeWatchResourcesResponse { devices }
}

/// Why a device has its health, within [`MAX_HEALTH_MESSAGE`] bytes (cut on a character boundary).
fn message(health: &DeviceHealth) -> String {
    let mut text = match health {
        DeviceHealth::Healthy => return String::new(),
        DeviceHealth::Unhealthy(cause) => format!("unhealthy ({}): {cause}", cause.label()),
        DeviceHealth::Unknown(why) => format!("unknown: {why}"),
    };
    if text.len() > MAX_HEALTH_MESSAGE {
        let end = (0..=MAX_HEALTH_MESSAGE).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(end);
    }
    text
}

/// One `v1beta1` response: every device of `list` in `pool`, each with the stated `timeout` and why.
pub fn response_v1beta1(pool: &str, list: &HealthList, timeout: Duration) -> pb_beta::NodeWatchResourcesResponse {
    // Whole seconds, rounded up: a sub-second timeout is not "zero" (the kubelet's default).
    let timeout = i64::try_from(timeout.as_millis().div_ceil(1000)).unwrap_or(i64::MAX);
    let devices = list
        .iter()
        .map(|(name, entry)| pb_beta::DeviceHealth {
            device: Some(pb_beta::DeviceIdentifier { pool_name: pool.to_owned(), device_name: name.to_string() }),
            health: match entry.health {
                DeviceHealth::Healthy => pb_beta::HealthStatus::Healthy,
                DeviceHealth::Unhealthy(_) => pb_beta::HealthStatus::Unhealthy,
                DeviceHealth::Unknown(_) => pb_beta::HealthStatus::Unknown,
            }
            .into(),
            last_updated_time: unix_seconds(entry.last_updated),
            health_check_timeout_seconds: timeout,
            message: message(&entry.health),
        })
        .collect();
    pb_beta::NodeWatchResourcesResponse { devices }
}

impl HealthService {
    /// The stream of one watch: `make`'s response from the list at the start, on every change and every
    /// `resend`, until the kubelet goes or the plugin stops.
    fn stream<M: Send + 'static>(
        &self,
        version: &'static str,
        make: impl Fn(&str, &HealthList) -> M + Send + 'static,
    ) -> ReceiverStream<Result<M, Status>> {
        let (tx, rx) = mpsc::channel(2);
        let (pool, mut list, resend, mut stop) = (self.pool.clone(), self.list.clone(), self.resend, self.stop.clone());
        tracing::info!(pool = %pool, version, "the kubelet is watching device health");
        tokio::spawn(async move {
            loop {
                let message = make(&pool, &list.borrow_and_update());
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
            tracing::debug!(at = ?SystemTime::now(), version, "device health stream ended");
        });
        ReceiverStream::new(rx)
    }
}

#[tonic::async_trait]
impl pb::dra_resource_health_server::DraResourceHealth for HealthService {
    type NodeWatchResourcesStream = ReceiverStream<Result<pb::NodeWatchResourcesResponse, Status>>;

    async fn node_watch_resources(
        &self,
        _request: Request<pb::NodeWatchResourcesRequest>,
    ) -> Result<Response<Self::NodeWatchResourcesStream>, Status> {
        Ok(Response::new(self.stream("v1alpha1", response)))
    }
}

#[tonic::async_trait]
impl pb_beta::dra_resource_health_server::DraResourceHealth for HealthService {
    type NodeWatchResourcesStream = ReceiverStream<Result<pb_beta::NodeWatchResourcesResponse, Status>>;

    async fn node_watch_resources(
        &self,
        _request: Request<pb_beta::NodeWatchResourcesRequest>,
    ) -> Result<Response<Self::NodeWatchResourcesStream>, Status> {
        let timeout = stated_timeout(self.resend);
        Ok(Response::new(self.stream("v1beta1", move |pool, list| response_v1beta1(pool, list, timeout))))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use ccgpu_pci::PciAddress;

    use super::*;
    use crate::health::{Cause, HealthEntry};
    use crate::names::{DeviceKind, DeviceName};

    fn list(entries: &[(u8, DeviceHealth)]) -> HealthList {
        entries
            .iter()
            .map(|(bus, health)| {
                let address = PciAddress::new(0, *bus, 0, 0).expect("valid");
                let name = DeviceName::new(DeviceKind::Gpu, address);
                (name, HealthEntry { address, health: health.clone(), last_updated: SystemTime::now() })
            })
            .collect()
    }

    #[test]
    fn v1beta1_states_the_timeout_rounded_up_and_says_why() {
        let l = list(&[
            (0x18, DeviceHealth::Healthy),
            (0x28, DeviceHealth::Unhealthy(Cause::FatalAer { count: 2 })),
            (0x38, DeviceHealth::Unknown("sysfs unreadable".into())),
        ]);
        let r = response_v1beta1("node-a", &l, Duration::from_millis(600));
        assert_eq!(r.devices.len(), 3);
        assert!(r.devices.iter().all(|d| d.health_check_timeout_seconds == 1), "{r:?}");
        assert_eq!(r.devices[0].message, "");
        assert_eq!(r.devices[0].health, i32::from(pb_beta::HealthStatus::Healthy));
        assert!(r.devices[1].message.contains("fatal-aer"), "{r:?}");
        assert_eq!(r.devices[1].health, i32::from(pb_beta::HealthStatus::Unhealthy));
        assert!(r.devices[2].message.contains("sysfs unreadable"), "{r:?}");
        assert_eq!(r.devices[2].health, i32::from(pb_beta::HealthStatus::Unknown));
        // The same devices and health as v1alpha1.
        let alpha = response("node-a", &l);
        for (a, b) in alpha.devices.iter().zip(&r.devices) {
            assert_eq!((a.health, a.last_updated_time), (b.health, b.last_updated_time));
            assert_eq!(a.device.as_ref().map(|d| &d.device_name), b.device.as_ref().map(|d| &d.device_name));
        }
        assert_eq!(stated_timeout(Duration::from_secs(10)), Duration::from_secs(30));
        let r = response_v1beta1("node-a", &l, stated_timeout(Duration::from_secs(10)));
        assert_eq!(r.devices[0].health_check_timeout_seconds, 30);
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary_within_the_limit() {
        let why = "é".repeat(MAX_HEALTH_MESSAGE);
        let text = message(&DeviceHealth::Unknown(why));
        assert!(text.len() <= MAX_HEALTH_MESSAGE && text.len() > MAX_HEALTH_MESSAGE - 4, "{}", text.len());
        assert!(text.starts_with("unknown: é"));
    }
}
