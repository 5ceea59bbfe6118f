//! Finding the passed-through NVIDIA functions in the guest, through the same [`PciBus`] code as the host
//! (the sysfs root is the bus's parameter).
//!
//! A GPU is vendor `0x10de` with a display class (`0x03xx`: `0x0302` 3D controller, `0x0300` VGA); an
//! NVSwitch is vendor `0x10de`, class `0x0680` — the ids of [`ccgpu_pci::ids`], which the host uses too.
//! Companion functions (the GPU's HDA audio function, class `0x0403`) are neither. An unreadable bus is an
//! error, never "no GPUs".

use ccgpu_pci::{PciBus, PciDevice, PciError};

/// What discovery found, in address order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// GPUs.
    pub gpus: Vec<PciDevice>,
    /// NVSwitches.
    pub nvswitches: Vec<PciDevice>,
}

/// Every NVIDIA GPU and NVSwitch on `bus`.
pub fn discover(bus: &dyn PciBus) -> Result<Discovered, PciError> {
    let mut out = Discovered::default();
    for address in bus.devices()? {
        let d = bus.describe(address)?;
        if d.class.is_nvidia_gpu(d.vendor) {
            out.gpus.push(d);
        } else if d.class.is_nvswitch(d.vendor) {
            out.nvswitches.push(d);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ccgpu_pci::PciAddress;
    use ccgpu_pci::ids::NVIDIA_VENDOR;
    use ccgpu_pci::sim::SimFunction;

    use super::*;

    #[test]
    fn gpus_and_switches_are_told_apart_from_companions() {
        let bus = ccgpu_pci::sim::SimBus::hgx(2);
        let at = |b: u8| PciAddress::new(0, b, 0, 0).expect("address");
        bus.add_function(SimFunction::new(at(0x90), NVIDIA_VENDOR, 0x22a3, 0x068000));
        let d = discover(&bus).expect("discovery");
        assert_eq!(d.gpus.len(), 2);
        assert!(d.gpus.iter().all(|g| g.address.function() == 0));
        assert_eq!(d.nvswitches.iter().map(|s| s.address).collect::<Vec<_>>(), vec![at(0x90)]);
    }
}
