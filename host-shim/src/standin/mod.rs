//! SIMULATIONS of what surrounds the kubelet plugin on a real node, for tests and demos (feature
//! `standin`, off by default; the `ccgpu` CLI enables it for `ccgpu demo`). Nothing here runs on a node.
//!
//! - [`KubeletStandIn`]: a kubelet stand-in that registers a DRA plugin through its registration socket
//!   exactly as the kubelet's plugin watcher does, then calls NodePrepareResources /
//!   NodeUnprepareResources over the v1 or v1beta1 service;
//! - [`FakeApiServer`]: an in-process fake of the few `resource.k8s.io/v1` and `v1` endpoints the plugin
//!   calls, served over HTTP on localhost so the real `kube` client code path runs;
//! - [`InProcessPlugin`]: the real plugin ([`crate::plugin::run`]) on a task of this process, with a stop
//!   handle.
//!
//! Trusts: nothing; these are the test side of the protocol, written from the kubelet's and the API
//! server's documented behaviour (see `reference/kubelet-dra-and-kata-host.md`).

mod api_server;
mod kubelet;
mod plugin;

pub use api_server::{FakeApiServer, FakeState, client_for};
pub use kubelet::{
    DraVersion, KUBELET_DEADLINE, KubeletStandIn, PrepareAnswer, PreparedDevice, StandInError, unix_channel,
};
pub use plugin::InProcessPlugin;
