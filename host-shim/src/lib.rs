//! The host side of ccgpu: everything that runs on the (untrusted) Kubernetes node.
//!
//! Filled by later issues: sysfs GPU discovery, binding whole IOMMU groups to `vfio-pci`, CDI specs, the
//! crash-safe claim checkpoint, and the DRA kubelet plugin (`ccgpu-kubelet-plugin`). Nothing here decides
//! whether a GPU is trustworthy: that decision belongs to the guest (see `ccgpu-guest-agent`).
