//! Publishing this node's devices as ResourceSlices: what a slice holds ([`slices`], pure, with the
//! GPU model table in [`product`]) and writing it to the API server ([`publisher`]).

pub mod product;
pub mod publisher;
pub mod slices;

pub use publisher::SlicePublisher;
pub use slices::{Built, Preflight, Withheld, build_devices, resource_slices};
