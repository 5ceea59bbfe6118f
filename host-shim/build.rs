//! Compiles our .proto files (host-shim/proto/) into tonic/prost code with protox, a pure-Rust protobuf
//! compiler: building needs no `protoc`.

use std::error::Error;

const PROTOS: [&str; 5] = [
    "proto/k8s.io/kubelet/pkg/apis/dra-health/v1alpha1/api.proto",
    "proto/k8s.io/kubelet/pkg/apis/dra-health/v1beta1/api.proto",
    "proto/k8s.io/kubelet/pkg/apis/dra/v1/api.proto",
    "proto/k8s.io/kubelet/pkg/apis/dra/v1beta1/api.proto",
    "proto/k8s.io/kubelet/pkg/apis/pluginregistration/v1/api.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
