//! The kubelet side of the DRA driver: the generated protocol ([`proto`]), reading claims from the API
//! server ([`claims`]), resolving a claim's allocation and our opaque config ([`allocation`],
//! [`config`]), the DRA gRPC handler ([`service`]) that drives the node layer, and the kubelet's device
//! health stream ([`health`]).

pub mod allocation;
pub mod claims;
pub mod config;
pub mod health;
pub mod proto;
pub mod service;
