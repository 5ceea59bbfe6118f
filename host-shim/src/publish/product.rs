//! What a PCI device id tells about a GPU: product name, memory size, whether it supports confidential
//! computing. A small table of the data-center GPUs ccgpu targets; an id not in it is published without
//! these attributes (vendor and device id are always published), never guessed.

use ccgpu_pci::ids::NVIDIA_VENDOR as NVIDIA;

/// Facts about one GPU model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product {
    /// Marketing name.
    pub name: &'static str,
    /// Memory in GiB.
    pub memory_gib: u32,
    /// Whether the model supports confidential computing (Hopper and later).
    pub cc_capable: bool,
}

/// (vendor, device) → product (PCI ID repository names).
const PRODUCTS: [(u16, u16, Product); 7] = [
    (NVIDIA, 0x2330, Product { name: "H100 SXM5 80GB", memory_gib: 80, cc_capable: true }),
    (NVIDIA, 0x2331, Product { name: "H100 PCIe", memory_gib: 80, cc_capable: true }),
    (NVIDIA, 0x2321, Product { name: "H100 NVL", memory_gib: 94, cc_capable: true }),
    (NVIDIA, 0x2322, Product { name: "H800 PCIe", memory_gib: 80, cc_capable: true }),
    (NVIDIA, 0x2324, Product { name: "H800", memory_gib: 80, cc_capable: true }),
    (NVIDIA, 0x2339, Product { name: "H100 SXM5 94GB", memory_gib: 94, cc_capable: true }),
    (NVIDIA, 0x2335, Product { name: "H200 SXM 141GB", memory_gib: 141, cc_capable: true }),
];

/// The product with this vendor and device id, when known.
pub fn product(vendor: u16, device: u16) -> Option<Product> {
    PRODUCTS.iter().find(|(v, d, _)| *v == vendor && *d == device).map(|(_, _, p)| *p)
}
