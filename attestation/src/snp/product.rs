//! AMD EPYC product lines with SEV-SNP, and the two ways a piece of evidence names one: a v3+ report's
//! CPUID family/model, and a VCEK/VLEK's `productName` extension (`Milan-B0`, `Genoa`, `Turin`, …).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A product line whose AMD roots the verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// 3rd generation EPYC (family 19h, models 00h–0Fh).
    Milan,
    /// 4th generation EPYC (family 19h, models 10h–1Fh and A0h–AFh).
    Genoa,
    /// 5th generation EPYC (family 1Ah, models 00h–11h).
    Turin,
}

impl Product {
    /// Every product, in release order.
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// AMD's name (`Milan`), as in certificate names (`ARK-Milan`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// True when reports from this product use the Turin TCB layout (with an FMC SPL).
    pub fn has_fmc(self) -> bool {
        self == Self::Turin
    }

    /// The product a VCEK/VLEK `productName` names: the part before an optional `-stepping` suffix.
    pub fn from_product_name(name: &str) -> Option<Self> {
        let family = name.split_once('-').map_or(name, |(family, _stepping)| family);
        Self::ALL.into_iter().find(|p| p.name() == family)
    }

    /// The product of a report's CPUID family and model (report versions 3 and later), `Err` with a
    /// description for a CPU that is not one of the known products.
    pub fn from_cpuid(family: u8, model: u8) -> Result<Self, String> {
        match (family, model) {
            (0x19, 0x00..=0x0f) => Ok(Self::Milan),
            (0x19, 0x10..=0x1f | 0xa0..=0xaf) => Ok(Self::Genoa),
            (0x1a, 0x00..=0x11) => Ok(Self::Turin),
            (0x1a, 0x50..=0x57 | 0x90..=0x9f | 0xa0..=0xaf | 0xc0..=0xc7) => {
                Err(format!("CPUID family {family:#04x} model {model:#04x} is Venice, which has no shipped roots"))
            }
            _ => Err(format!("CPUID family {family:#04x} model {model:#04x} is not a known SEV-SNP product")),
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_cpuids() {
        assert_eq!(Product::from_product_name("Milan-B0"), Some(Product::Milan));
        assert_eq!(Product::from_product_name("Genoa"), Some(Product::Genoa));
        assert_eq!(Product::from_product_name("Turin-C1"), Some(Product::Turin));
        assert_eq!(Product::from_product_name("Venice"), None);
        assert_eq!(Product::from_product_name("milan"), None);
        assert_eq!(Product::from_cpuid(0x19, 0x01), Ok(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0xa0), Ok(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1a, 0x02), Ok(Product::Turin));
        assert!(Product::from_cpuid(0x1a, 0x50).expect_err("refused").contains("Venice"));
        assert!(Product::from_cpuid(0x17, 0x31).is_err());
    }
}
