//! A kubelet stand-in: registers a DRA plugin through its registration socket exactly as the kubelet's
//! plugin watcher does — dial `<name>-reg.sock`, `GetInfo`, validate type/name/versions, dial the
//! endpoint, `NotifyRegistrationStatus` — then drives NodePrepareResources/NodeUnprepareResources over
//! the v1 or v1beta1 service, as the kubelet would (45 s deadline per call).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ccgpu_host_shim::dra::proto::registration::registration_client::RegistrationClient;
use ccgpu_host_shim::dra::proto::registration::{InfoRequest, PluginInfo, RegistrationStatus};
use ccgpu_host_shim::dra::proto::{v1, v1beta1};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The kubelet's per-call deadline.
pub const KUBELET_DEADLINE: Duration = Duration::from_secs(45);

/// A gRPC channel over a unix socket.
pub async fn unix_channel(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_owned();
    Endpoint::try_from("http://[::]:50051")?
        .timeout(KUBELET_DEADLINE)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
}

/// Which DRA API version a call goes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V1beta1,
}

/// A registered plugin, as the kubelet holds it.
pub struct Kubelet {
    pub info: PluginInfo,
    pub chosen: String,
    channel: Channel,
}

/// One claim's answer, version-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub devices: Vec<(Vec<String>, String, String, Vec<String>)>,
    pub error: String,
}

impl Kubelet {
    /// Registers the plugin behind `registration_socket` for `driver`, like the kubelet: refuses (and
    /// tells the plugin) when the type, name or versions are wrong.
    pub async fn register(registration_socket: &Path, driver: &str) -> Result<Self, String> {
        let reg = unix_channel(registration_socket).await.map_err(|e| e.to_string())?;
        let mut reg = RegistrationClient::new(reg);
        let info = reg.get_info(InfoRequest {}).await.map_err(|e| e.to_string())?.into_inner();
        let known = ["v1.DRAPlugin", "v1beta1.DRAPlugin"];
        let chosen = info.supported_versions.iter().find(|v| known.contains(&v.as_str())).cloned();
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
        let channel = match &problem {
            None => unix_channel(&PathBuf::from(&info.endpoint)).await.map_err(|e| e.to_string()),
            Some(p) => Err(p.clone()),
        };
        let status = match &channel {
            Ok(_) => RegistrationStatus { plugin_registered: true, error: String::new() },
            Err(e) => RegistrationStatus { plugin_registered: false, error: e.clone() },
        };
        let notified = reg.notify_registration_status(status).await;
        let channel = channel?;
        notified.map_err(|e| e.to_string())?;
        Ok(Self { info, chosen: chosen.unwrap_or_default(), channel })
    }

    pub async fn prepare(
        &self,
        version: Version,
        claims: &[(&str, &str, &str)],
    ) -> std::collections::BTreeMap<String, Answer> {
        match version {
            Version::V1 => {
                let mut c = v1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1::NodePrepareResourcesRequest {
                    claims: claims
                        .iter()
                        .map(|(ns, name, uid)| v1::Claim {
                            namespace: ns.to_string(),
                            uid: uid.to_string(),
                            name: name.to_string(),
                        })
                        .collect(),
                };
                c.node_prepare_resources(req)
                    .await
                    .unwrap()
                    .into_inner()
                    .claims
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            Answer {
                                devices: v
                                    .devices
                                    .into_iter()
                                    .map(|d| (d.request_names, d.pool_name, d.device_name, d.cdi_device_ids))
                                    .collect(),
                                error: v.error,
                            },
                        )
                    })
                    .collect()
            }
            Version::V1beta1 => {
                let mut c = v1beta1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1beta1::NodePrepareResourcesRequest {
                    claims: claims
                        .iter()
                        .map(|(ns, name, uid)| v1beta1::Claim {
                            namespace: ns.to_string(),
                            uid: uid.to_string(),
                            name: name.to_string(),
                        })
                        .collect(),
                };
                c.node_prepare_resources(req)
                    .await
                    .unwrap()
                    .into_inner()
                    .claims
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            Answer {
                                devices: v
                                    .devices
                                    .into_iter()
                                    .map(|d| (d.request_names, d.pool_name, d.device_name, d.cdi_device_ids))
                                    .collect(),
                                error: v.error,
                            },
                        )
                    })
                    .collect()
            }
        }
    }

    pub async fn unprepare(
        &self,
        version: Version,
        claims: &[(&str, &str, &str)],
    ) -> std::collections::BTreeMap<String, String> {
        match version {
            Version::V1 => {
                let mut c = v1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1::NodeUnprepareResourcesRequest {
                    claims: claims
                        .iter()
                        .map(|(ns, name, uid)| v1::Claim {
                            namespace: ns.to_string(),
                            uid: uid.to_string(),
                            name: name.to_string(),
                        })
                        .collect(),
                };
                c.node_unprepare_resources(req)
                    .await
                    .unwrap()
                    .into_inner()
                    .claims
                    .into_iter()
                    .map(|(k, v)| (k, v.error))
                    .collect()
            }
            Version::V1beta1 => {
                let mut c = v1beta1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = v1beta1::NodeUnprepareResourcesRequest {
                    claims: claims
                        .iter()
                        .map(|(ns, name, uid)| v1beta1::Claim {
                            namespace: ns.to_string(),
                            uid: uid.to_string(),
                            name: name.to_string(),
                        })
                        .collect(),
                };
                c.node_unprepare_resources(req)
                    .await
                    .unwrap()
                    .into_inner()
                    .claims
                    .into_iter()
                    .map(|(k, v)| (k, v.error))
                    .collect()
            }
        }
    }
}
