//! [`KubeletStandIn`]: registers a DRA plugin through its registration socket exactly as the kubelet's
//! plugin watcher does — dial `<name>-reg.sock`, `GetInfo`, validate type/name/versions/endpoint, dial the
//! endpoint, `NotifyRegistrationStatus` — then drives NodePrepareResources/NodeUnprepareResources over
//! the v1 or v1beta1 service, as the kubelet would (45 s deadline per call). Its device-health watch is
//! in [`super::kubelet_health`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::dra::proto::registration::registration_client::RegistrationClient;
use crate::dra::proto::registration::{InfoRequest, PluginInfo, RegistrationStatus};
use crate::dra::proto::{v1, v1beta1};

/// The kubelet's per-call deadline.
pub const KUBELET_DEADLINE: Duration = Duration::from_secs(45);

/// The versions the kubelet knows, in its order of preference.
const KNOWN_VERSIONS: [&str; 2] = ["v1.DRAPlugin", "v1beta1.DRAPlugin"];

/// A call of the stand-in failed.
#[derive(Debug, thiserror::Error)]
pub enum StandInError {
    /// A socket could not be dialled.
    #[error("dialling {path}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// tonic's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// A gRPC call failed.
    #[error("{call}: {}", .status.message())]
    Rpc {
        /// Which call.
        call: &'static str,
        /// The status.
        status: Box<tonic::Status>,
    },
    /// The kubelet refused the plugin (and told it so).
    #[error("registration refused: {0}")]
    Refused(String),
}

pub(super) fn rpc(call: &'static str) -> impl FnOnce(tonic::Status) -> StandInError {
    move |status| StandInError::Rpc { call, status: Box::new(status) }
}

/// A gRPC channel over a unix socket, with the kubelet's deadline.
pub async fn unix_channel(path: &Path) -> Result<Channel, StandInError> {
    let connect = |source| StandInError::Connect { path: path.to_owned(), source };
    let socket = path.to_owned();
    Endpoint::try_from("http://[::]:50051")
        .map_err(connect)?
        .timeout(KUBELET_DEADLINE)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .map_err(connect)
}

/// Which DRA API version a call goes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DraVersion {
    /// `k8s.io.kubelet.pkg.apis.dra.v1` (Kubernetes 1.34+).
    V1,
    /// `k8s.io.kubelet.pkg.apis.dra.v1beta1`.
    V1beta1,
}

/// One device of a prepared claim, version-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedDevice {
    /// The claim's requests this device satisfies.
    pub request_names: Vec<String>,
    /// The pool.
    pub pool: String,
    /// The device name.
    pub device: String,
    /// CDI ids for the container runtime.
    pub cdi_device_ids: Vec<String>,
}

/// One claim's answer to NodePrepareResources, version-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareAnswer {
    /// The prepared devices (empty on error).
    pub devices: Vec<PreparedDevice>,
    /// The plugin's error for this claim; empty on success.
    pub error: String,
}

/// A registered plugin, as the kubelet holds it.
#[derive(Debug)]
pub struct KubeletStandIn {
    /// What the plugin said about itself.
    pub info: PluginInfo,
    /// The version the kubelet chose (`v1.DRAPlugin` when offered).
    pub chosen: String,
    pub(super) channel: Channel,
}

/// A claim as the kubelet names it: `(namespace, name, uid)`.
pub type ClaimKey<'a> = (&'a str, &'a str, &'a str);

macro_rules! claims {
    ($v:ident, $claims:expr) => {
        $claims
            .iter()
            .map(|(ns, name, uid)| $v::Claim {
                namespace: ns.to_string(),
                uid: uid.to_string(),
                name: name.to_string(),
            })
            .collect()
    };
}

macro_rules! answers {
    ($response:expr) => {
        $response
            .claims
            .into_iter()
            .map(|(uid, a)| {
                let devices = a
                    .devices
                    .into_iter()
                    .map(|d| PreparedDevice {
                        request_names: d.request_names,
                        pool: d.pool_name,
                        device: d.device_name,
                        cdi_device_ids: d.cdi_device_ids,
                    })
                    .collect();
                (uid, PrepareAnswer { devices, error: a.error })
            })
            .collect()
    };
}

impl KubeletStandIn {
    /// Registers the plugin behind `registration_socket` for `driver`, like the kubelet: refuses (and
    /// tells the plugin) when the type, name, versions or endpoint are wrong or the endpoint does not
    /// answer.
    pub async fn register(registration_socket: &Path, driver: &str) -> Result<Self, StandInError> {
        let mut reg = RegistrationClient::new(unix_channel(registration_socket).await?);
        let info = reg.get_info(InfoRequest {}).await.map_err(rpc("GetInfo"))?.into_inner();
        let chosen = KNOWN_VERSIONS.iter().find(|k| info.supported_versions.iter().any(|v| v == *k));
        let problem = if info.r#type != "DRAPlugin" {
            Some(format!("type {:?} is not DRAPlugin", info.r#type))
        } else if info.name != driver {
            Some(format!("name {:?} is not {driver:?}", info.name))
        } else if chosen.is_none() {
            Some(format!("none of {:?} is supported", info.supported_versions))
        } else if !Path::new(&info.endpoint).is_absolute() {
            Some(format!("endpoint {:?} is not absolute", info.endpoint))
        } else {
            None
        };
        let channel = match problem {
            None => unix_channel(Path::new(&info.endpoint)).await.map_err(|e| crate::error_chain(&e)),
            Some(p) => Err(p),
        };
        let status = match &channel {
            Ok(_) => RegistrationStatus { plugin_registered: true, error: String::new() },
            Err(e) => RegistrationStatus { plugin_registered: false, error: e.clone() },
        };
        let notified = reg.notify_registration_status(status).await;
        let channel = channel.map_err(StandInError::Refused)?;
        notified.map_err(rpc("NotifyRegistrationStatus"))?;
        Ok(Self { info, chosen: chosen.map(|c| (*c).to_owned()).unwrap_or_default(), channel })
    }

    /// NodePrepareResources for `claims`, over `version`: one answer per claim uid.
    pub async fn prepare(
        &self,
        version: DraVersion,
        claims: &[ClaimKey<'_>],
    ) -> Result<BTreeMap<String, PrepareAnswer>, StandInError> {
        const CALL: &str = "NodePrepareResources";
        Ok(match version {
            DraVersion::V1 => {
                let mut c = v1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1::NodePrepareResourcesRequest { claims: claims!(v1, claims) };
                answers!(c.node_prepare_resources(req).await.map_err(rpc(CALL))?.into_inner())
            }
            DraVersion::V1beta1 => {
                let mut c = v1beta1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1beta1::NodePrepareResourcesRequest { claims: claims!(v1beta1, claims) };
                answers!(c.node_prepare_resources(req).await.map_err(rpc(CALL))?.into_inner())
            }
        })
    }

    /// NodeUnprepareResources for `claims`, over `version`: the error per claim uid (empty: done).
    pub async fn unprepare(
        &self,
        version: DraVersion,
        claims: &[ClaimKey<'_>],
    ) -> Result<BTreeMap<String, String>, StandInError> {
        const CALL: &str = "NodeUnprepareResources";
        Ok(match version {
            DraVersion::V1 => {
                let mut c = v1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1::NodeUnprepareResourcesRequest { claims: claims!(v1, claims) };
                let out = c.node_unprepare_resources(req).await.map_err(rpc(CALL))?.into_inner();
                out.claims.into_iter().map(|(k, v)| (k, v.error)).collect()
            }
            DraVersion::V1beta1 => {
                let mut c = v1beta1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1beta1::NodeUnprepareResourcesRequest { claims: claims!(v1beta1, claims) };
                let out = c.node_unprepare_resources(req).await.map_err(rpc(CALL))?.into_inner();
                out.claims.into_iter().map(|(k, v)| (k, v.error)).collect()
            }
        })
    }
}
