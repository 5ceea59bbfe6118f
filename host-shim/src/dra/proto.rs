//! Generated gRPC code for the kubelet's DRA and plugin-registration APIs (from host-shim/proto/ by
//! build.rs). Both DRA packages are generated; [`super::service`] serves them from one handler. The
//! resource-health packages are served by [`super::health`].

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    unused_qualifications,
    missing_debug_implementations
)]

/// `k8s.io.kubelet.pkg.apis.dra.v1` (Kubernetes 1.34+).
pub mod v1 {
    tonic::include_proto!("k8s.io.kubelet.pkg.apis.dra.v1");
}

/// `k8s.io.kubelet.pkg.apis.dra.v1beta1` (Kubernetes 1.32–1.33, still spoken by later kubelets).
pub mod v1beta1 {
    tonic::include_proto!("k8s.io.kubelet.pkg.apis.dra.v1beta1");
}

/// `v1alpha1` (upstream's `k8s.io/kubelet/pkg/apis/dra-health/v1alpha1`): the kubelet's DRA resource-health
/// stream (KEP-4680, Kubernetes 1.34+), served by [`crate::dra::health`].
pub mod health_v1alpha1 {
    tonic::include_proto!("v1alpha1");
}

/// `v1beta1` (upstream's `k8s.io/kubelet/pkg/apis/dra-health/v1beta1`): the same stream with each device's
/// health-check timeout and a message, served beside `v1alpha1` by [`crate::dra::health`].
pub mod health_v1beta1 {
    tonic::include_proto!("v1beta1");
}

/// `pluginregistration` (the kubelet's plugin watcher).
pub mod registration {
    tonic::include_proto!("pluginregistration");
}
