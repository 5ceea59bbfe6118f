//! The kubelet's plugin registration: a `pluginregistration.Registration` service on
//! `<kubelet root>/plugins_registry/<driver>-reg.sock`.
//!
//! The kubelet's plugin watcher finds the socket, calls `GetInfo`, checks the type and versions, dials the
//! endpoint we name (our dra.sock), and reports the outcome with `NotifyRegistrationStatus`. We answer
//! `GetInfo` with type `DRAPlugin`, our driver name, the absolute dra.sock path and the gRPC services we
//! serve there as `<package>.<service>`: the DRA services, v1 first (the kubelet takes the first one it
//! knows and ignores names it does not know), then the optional device-health service (KEP-4680) in
//! both its packages, `v1beta1.DRAResourceHealth` first (it states each device's health-check timeout
//! and why) and `v1alpha1.DRAResourceHealth` (a 1.34 kubelet with `ResourceHealthStatus` on calls it on
//! every registered plugin; later kubelets on a plugin whose list names the service).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::dra::proto::registration::registration_server::Registration;
use crate::dra::proto::registration::{InfoRequest, PluginInfo, RegistrationStatus, RegistrationStatusResponse};
use crate::metrics::Metrics;

/// `PluginInfo.type` of a DRA driver.
pub const PLUGIN_TYPE: &str = "DRAPlugin";
/// The gRPC services we serve on the DRA socket, as the kubelet names them: the DRA services, preferred
/// first, then the device-health service, preferred package first.
pub const SUPPORTED_VERSIONS: [&str; 4] =
    ["v1.DRAPlugin", "v1beta1.DRAPlugin", "v1beta1.DRAResourceHealth", "v1alpha1.DRAResourceHealth"];

/// What the kubelet last told us about our registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not told anything yet.
    Pending,
    /// Registered.
    Registered,
    /// The kubelet refused us, with its reason.
    Refused(String),
}

/// The registration service.
#[derive(Debug)]
pub struct RegistrationService {
    driver: String,
    endpoint: PathBuf,
    state: watch::Sender<RegistrationState>,
    metrics: Arc<Metrics>,
}

impl RegistrationService {
    /// The service for `driver` whose DRA socket is `endpoint` (absolute).
    pub fn new(driver: String, endpoint: PathBuf, metrics: Arc<Metrics>) -> Self {
        Self { driver, endpoint, state: watch::Sender::new(RegistrationState::Pending), metrics }
    }

    /// Follows the registration state.
    pub fn state(&self) -> watch::Receiver<RegistrationState> {
        self.state.subscribe()
    }
}

#[tonic::async_trait]
impl Registration for RegistrationService {
    async fn get_info(&self, _request: Request<InfoRequest>) -> Result<Response<PluginInfo>, Status> {
        tracing::debug!(driver = %self.driver, endpoint = %self.endpoint.display(), "kubelet asked for plugin info");
        Ok(Response::new(PluginInfo {
            r#type: PLUGIN_TYPE.to_owned(),
            name: self.driver.clone(),
            endpoint: self.endpoint.to_string_lossy().into_owned(),
            supported_versions: SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        }))
    }

    async fn notify_registration_status(
        &self,
        request: Request<RegistrationStatus>,
    ) -> Result<Response<RegistrationStatusResponse>, Status> {
        let status = request.into_inner();
        self.metrics.set_registered(status.plugin_registered);
        if status.plugin_registered {
            tracing::info!(driver = %self.driver, "registered with the kubelet");
            self.state.send_replace(RegistrationState::Registered);
            Ok(Response::new(RegistrationStatusResponse {}))
        } else {
            let reason: String = status.error.chars().take(1024).collect();
            tracing::error!(driver = %self.driver, error = %reason, "the kubelet refused the registration");
            self.state.send_replace(RegistrationState::Refused(reason.clone()));
            Err(Status::failed_precondition(format!("registration refused by the kubelet: {reason}")))
        }
    }
}
