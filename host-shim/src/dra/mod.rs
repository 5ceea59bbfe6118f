//! The kubelet side of the DRA driver: the generated protocol ([`proto`]), reading claims from the API
//! server ([`claims`]), resolving a claim's allocation and our opaque config ([`allocation`],
//! [`config`]), and the DRA gRPC handler ([`service`]) that drives the node layer.

pub mod allocation;
pub mod claims;
pub mod config;
pub mod proto;
pub mod service;
