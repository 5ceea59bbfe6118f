//! The typed PCI address of one function: `DDDD:BB:DD.F` (domain, bus, device, function).
//!
//! This is the only way a device name from outside (the API server, the kubelet, a command line, a sysfs
//! directory entry) becomes part of a path: it is parsed here, strictly, and only the re-rendered
//! canonical form is ever joined onto a directory. Anything else (`../`, NUL, whitespace, overlong input,
//! out-of-range device or function numbers) is refused. Trusts nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest text we even try to parse (`ffffffff:ff:1f.7` is 16 characters).
const MAX_LEN: usize = 16;

/// A PCI function address. Rendered in the kernel's canonical lowercase form (`0000:3b:00.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    domain: u32,
    bus: u8,
    device: u8,
    function: u8,
}

/// Why a string is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Longer than any valid address: refused before looking at it.
    #[error("PCI address is {len} bytes long; at most {MAX_LEN} are allowed")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// Not of the form `DDDD:BB:DD.F` with hexadecimal fields.
    #[error("{input:?} is not a PCI address of the form DDDD:BB:DD.F")]
    Malformed {
        /// The refused input (bounded by `MAX_LEN`).
        input: String,
    },
    /// Device number above 0x1f or function above 7.
    #[error("{input:?}: device must be at most 1f and function at most 7")]
    OutOfRange {
        /// The refused input.
        input: String,
    },
}

impl PciAddress {
    /// An address from its parts; `None` when the device (≤ 0x1f) or function (≤ 7) is out of range.
    pub fn new(domain: u32, bus: u8, device: u8, function: u8) -> Option<Self> {
        (device <= 0x1f && function <= 7).then_some(Self { domain, bus, device, function })
    }

    /// PCI segment (domain).
    pub fn domain(self) -> u32 {
        self.domain
    }

    /// Bus number.
    pub fn bus(self) -> u8 {
        self.bus
    }

    /// Device (slot) number.
    pub fn device(self) -> u8 {
        self.device
    }

    /// Function number.
    pub fn function(self) -> u8 {
        self.function
    }

    /// True when both addresses are functions of the same physical slot (same domain, bus and device),
    /// like a GPU and its HDA audio function.
    pub fn same_slot(self, other: PciAddress) -> bool {
        (self.domain, self.bus, self.device) == (other.domain, other.bus, other.device)
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

impl FromStr for PciAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_LEN {
            return Err(AddressError::TooLong { len: s.len() });
        }
        let malformed = || AddressError::Malformed { input: s.to_owned() };
        let (domain, rest) = s.split_once(':').ok_or_else(malformed)?;
        let (bus, rest) = rest.split_once(':').ok_or_else(malformed)?;
        let (device, function) = rest.split_once('.').ok_or_else(malformed)?;
        let field = |text: &str, min: usize, max: usize| -> Result<u32, AddressError> {
            let ok = (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(malformed());
            }
            u32::from_str_radix(text, 16).map_err(|_| malformed())
        };
        let domain = field(domain, 4, 8)?;
        let bus = field(bus, 2, 2)?;
        let device = field(device, 2, 2)?;
        let function = field(function, 1, 1)?;
        let out_of_range = || AddressError::OutOfRange { input: s.to_owned() };
        let bus = u8::try_from(bus).map_err(|_| malformed())?;
        let device = u8::try_from(device).map_err(|_| out_of_range())?;
        let function = u8::try_from(function).map_err(|_| out_of_range())?;
        PciAddress::new(domain, bus, device, function).ok_or_else(out_of_range)
    }
}

impl Serialize for PciAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PciAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_canonical_and_uppercase() {
        let a: PciAddress = "0000:3b:00.1".parse().expect("valid");
        assert_eq!((a.domain(), a.bus(), a.device(), a.function()), (0, 0x3b, 0, 1));
        assert_eq!("0000:3B:00.1".parse::<PciAddress>().expect("valid"), a);
        assert_eq!(a.to_string(), "0000:3b:00.1");
        let vmd: PciAddress = "10000:e1:1f.7".parse().expect("vmd domains have 5 digits");
        assert_eq!(vmd.to_string(), "10000:e1:1f.7");
    }

    #[test]
    fn refuses_path_tricks_and_junk() {
        for bad in [
            "",
            "../0000:00:00.0",
            "0000:00:00.0/",
            "0000:00:00.0\0",
            "0000:00:00.0 ",
            " 0000:00:00.0",
            "0000:00:00",
            "00:00.0",
            "0000:000:00.0",
            "0000:00:20.0",
            "0000:00:00.8",
            "0000:0g:00.0",
            "0000:00:00.+1",
            "+000:00:00.0",
            "0000:00:00.0:0",
            "0000/00:00.0",
            "..",
            ".",
        ] {
            assert!(bad.parse::<PciAddress>().is_err(), "{bad:?} must be refused");
        }
        assert_eq!("0000:00:00.0000000000000000".parse::<PciAddress>(), Err(AddressError::TooLong { len: 27 }));
    }

    #[test]
    fn same_slot_ignores_function_only() {
        let gpu: PciAddress = "0000:3b:00.0".parse().expect("valid");
        let hda: PciAddress = "0000:3b:00.1".parse().expect("valid");
        let other: PciAddress = "0000:3b:01.0".parse().expect("valid");
        assert!(gpu.same_slot(hda));
        assert!(!gpu.same_slot(other));
    }

    proptest! {
        #[test]
        fn display_parse_roundtrip(domain in 0u32..=0xffff_ffff, bus: u8, device in 0u8..=0x1f, function in 0u8..=7) {
            let a = PciAddress::new(domain, bus, device, function).expect("in range");
            prop_assert_eq!(a.to_string().parse::<PciAddress>(), Ok(a));
        }

        #[test]
        fn anything_accepted_is_plain_hex_and_separators(s in "\\PC{0,20}") {
            if let Ok(a) = s.parse::<PciAddress>() {
                prop_assert!(s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'));
                prop_assert_eq!(a.to_string().parse::<PciAddress>(), Ok(a));
            }
        }
    }
}
