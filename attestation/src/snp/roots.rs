//! The AMD SEV-SNP trust anchors ccgpu ships: per product, the AMD Root Key (ARK), the AMD SEV Signing
//! Key (ASK, issuer of VCEKs) and the AMD SEV VLEK Signing Key (ASVK, issuer of VLEKs).
//!
//! Only the ARK is a trust anchor: it is pinned, and a chain must end in it byte for byte. The ASK and
//! ASVK are shipped so that a verifier needs nothing from the network, but they are verified under the
//! ARK on every appraisal like any other certificate (and an evidence bundle may carry a newer one).
//!
//! Origin of the embedded PEMs (AMD's public certificates, as served by AMD's Key Distribution Service):
//! - `roots/{milan,genoa,turin}-{ark,ask}.pem`: the `sev` crate 8.0.0 (virtee/sev, Apache-2.0),
//!   `src/certs/snp/builtin/{milan,genoa,turin}/{ark,ask}.pem`, byte-identical in DER to the ARK/ASK of
//!   confidential-containers/trustee `deps/verifier/src/snp/*_ask_ark_asvk.pem`;
//! - `roots/{milan,genoa,turin}-asvk.pem`: trustee (Apache-2.0) `deps/verifier/src/snp/*_ask_ark_asvk.pem`,
//!   third certificate.
//!
//! SHA-256 fingerprints of the DER (checked by a test):
//! - ARK-Milan `69d063b4…9a540bcd`, ARK-Genoa `4c6598d1…103db2f1`, ARK-Turin `1f084161…73dd3f6a`.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

use super::product::Product;
use crate::x509::{describe, parse_one};

/// PEM of AMD's Milan ARK.
pub const MILAN_ARK_PEM: &[u8] = include_bytes!("roots/milan-ark.pem");
/// PEM of AMD's Milan ASK.
pub const MILAN_ASK_PEM: &[u8] = include_bytes!("roots/milan-ask.pem");
/// PEM of AMD's Milan ASVK.
pub const MILAN_ASVK_PEM: &[u8] = include_bytes!("roots/milan-asvk.pem");
/// PEM of AMD's Genoa ARK.
pub const GENOA_ARK_PEM: &[u8] = include_bytes!("roots/genoa-ark.pem");
/// PEM of AMD's Genoa ASK.
pub const GENOA_ASK_PEM: &[u8] = include_bytes!("roots/genoa-ask.pem");
/// PEM of AMD's Genoa ASVK.
pub const GENOA_ASVK_PEM: &[u8] = include_bytes!("roots/genoa-asvk.pem");
/// PEM of AMD's Turin ARK.
pub const TURIN_ARK_PEM: &[u8] = include_bytes!("roots/turin-ark.pem");
/// PEM of AMD's Turin ASK.
pub const TURIN_ASK_PEM: &[u8] = include_bytes!("roots/turin-ask.pem");
/// PEM of AMD's Turin ASVK.
pub const TURIN_ASVK_PEM: &[u8] = include_bytes!("roots/turin-asvk.pem");

/// A root set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RootsError {
    /// A PEM input that is not exactly one certificate.
    #[error("{product} {role}: {reason}")]
    Pem {
        /// Product.
        product: Product,
        /// ARK, ASK or ASVK.
        role: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A certificate that does not parse.
    #[error("{product} {role} does not parse: {reason}")]
    Malformed {
        /// Product.
        product: Product,
        /// ARK, ASK or ASVK.
        role: &'static str,
        /// Parser message.
        reason: String,
    },
    /// The structure is wrong (ARK not self-issued, ASK not named as issued by the ARK).
    #[error("{product} {role}: {reason}")]
    Structure {
        /// Product.
        product: Product,
        /// ARK, ASK or ASVK.
        role: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Two entries for the same product.
    #[error("roots for {0} given twice")]
    Duplicate(Product),
}

/// Which key a VCEK/VLEK-issuing certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Intermediate {
    /// AMD SEV Signing Key: issues VCEKs.
    Ask,
    /// AMD SEV VLEK Signing Key: issues VLEKs.
    Asvk,
}

impl Intermediate {
    /// "ASK" or "ASVK".
    pub fn name(self) -> &'static str {
        match self {
            Self::Ask => "ASK",
            Self::Asvk => "ASVK",
        }
    }
}

/// One product's ARK, ASK and (optionally) ASVK, as DER.
#[derive(Clone, PartialEq, Eq)]
pub struct ProductRoots {
    product: Product,
    ark: Cow<'static, [u8]>,
    ask: Cow<'static, [u8]>,
    asvk: Option<Cow<'static, [u8]>>,
    /// Raw subject names of the ASK and ASVK, to find a VCEK/VLEK's issuer without parsing.
    ask_subject: Vec<u8>,
    asvk_subject: Option<Vec<u8>>,
}

impl fmt::Debug for ProductRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProductRoots")
            .field("product", &self.product)
            .field("asvk", &self.asvk.is_some())
            .finish_non_exhaustive()
    }
}

impl ProductRoots {
    /// Roots from DER certificates. Checks that each parses, that the ARK is self-issued and that the ASK
    /// and ASVK name the ARK as issuer; signatures and dates are checked at appraisal time.
    pub fn from_der(
        product: Product,
        ark: impl Into<Cow<'static, [u8]>>,
        ask: impl Into<Cow<'static, [u8]>>,
        asvk: Option<Cow<'static, [u8]>>,
    ) -> Result<Self, RootsError> {
        let mut roots =
            Self { product, ark: ark.into(), ask: ask.into(), asvk, ask_subject: Vec::new(), asvk_subject: None };
        let malformed = |role, reason| RootsError::Malformed { product, role, reason };
        let ark = parse_one(&roots.ark).map_err(|r| malformed("ARK", r))?;
        if ark.issuer().as_raw() != ark.subject().as_raw() {
            return Err(RootsError::Structure {
                product,
                role: "ARK",
                reason: format!("{} is not self-issued", describe(&ark)),
            });
        }
        let mut issued = vec![("ASK", roots.ask.as_ref())];
        if let Some(asvk) = &roots.asvk {
            issued.push(("ASVK", asvk.as_ref()));
        }
        let mut subjects = Vec::new();
        for (role, der) in issued {
            let cert = parse_one(der).map_err(|r| malformed(role, r))?;
            if cert.issuer().as_raw() != ark.subject().as_raw() {
                return Err(RootsError::Structure {
                    product,
                    role,
                    reason: format!("{} is issued by {}, not by {}", describe(&cert), cert.issuer(), describe(&ark)),
                });
            }
            subjects.push(cert.subject().as_raw().to_vec());
        }
        let mut subjects = subjects.into_iter();
        roots.ask_subject = subjects.next().unwrap_or_default();
        roots.asvk_subject = subjects.next();
        Ok(roots)
    }

    /// Roots from PEM files, each holding exactly one certificate.
    pub fn from_pem(product: Product, ark: &[u8], ask: &[u8], asvk: Option<&[u8]>) -> Result<Self, RootsError> {
        let one = |role: &'static str, bytes: &[u8]| -> Result<Vec<u8>, RootsError> {
            let pem_err = |reason: String| RootsError::Pem { product, role, reason };
            let blocks = pem::parse_many(bytes).map_err(|e| pem_err(e.to_string()))?;
            match <[pem::Pem; 1]>::try_from(blocks) {
                Ok([block]) if block.tag() == "CERTIFICATE" => Ok(block.into_contents()),
                Ok([block]) => Err(pem_err(format!("PEM block is a {}, not a CERTIFICATE", block.tag()))),
                Err(blocks) => Err(pem_err(format!("{} PEM blocks, expected exactly one", blocks.len()))),
            }
        };
        let asvk = match asvk {
            Some(a) => Some(Cow::Owned(one("ASVK", a)?)),
            None => None,
        };
        Self::from_der(product, one("ARK", ark)?, one("ASK", ask)?, asvk)
    }

    /// The product.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The ARK's DER.
    pub fn ark(&self) -> &[u8] {
        &self.ark
    }

    /// The ASK's DER.
    pub fn ask(&self) -> &[u8] {
        &self.ask
    }

    /// The ASVK's DER, if known.
    pub fn asvk(&self) -> Option<&[u8]> {
        self.asvk.as_deref()
    }

    /// The DER of the intermediate of `kind`.
    pub fn intermediate(&self, kind: Intermediate) -> Option<&[u8]> {
        match kind {
            Intermediate::Ask => Some(self.ask()),
            Intermediate::Asvk => self.asvk(),
        }
    }
}

/// The roots of every product a verification accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdRoots {
    products: Vec<ProductRoots>,
}

impl AmdRoots {
    /// AMD's production roots for Milan, Genoa and Turin (ARK, ASK and ASVK each).
    pub fn amd() -> Self {
        // The embedded PEMs are fixed at build time and covered by tests; failing here is a build defect.
        #[allow(clippy::expect_used)]
        let product = |p, ark, ask, asvk| {
            ProductRoots::from_pem(p, ark, ask, Some(asvk)).expect("embedded AMD roots parse and are well formed")
        };
        Self {
            products: vec![
                product(Product::Milan, MILAN_ARK_PEM, MILAN_ASK_PEM, MILAN_ASVK_PEM),
                product(Product::Genoa, GENOA_ARK_PEM, GENOA_ASK_PEM, GENOA_ASVK_PEM),
                product(Product::Turin, TURIN_ARK_PEM, TURIN_ASK_PEM, TURIN_ASVK_PEM),
            ],
        }
    }

    /// A root set of one's own (a subset of AMD's, or simulated roots for tests).
    pub fn new(products: Vec<ProductRoots>) -> Result<Self, RootsError> {
        for (i, p) in products.iter().enumerate() {
            if products[..i].iter().any(|q| q.product == p.product) {
                return Err(RootsError::Duplicate(p.product));
            }
        }
        Ok(Self { products })
    }

    /// The roots of `product`, if this set has them.
    pub fn product(&self, product: Product) -> Option<&ProductRoots> {
        self.products.iter().find(|p| p.product == product)
    }

    /// Every product's roots.
    pub fn iter(&self) -> impl Iterator<Item = &ProductRoots> {
        self.products.iter()
    }

    /// The product and intermediate whose subject is `issuer` (a VCEK/VLEK's raw issuer name).
    pub(crate) fn find_issuer(&self, issuer: &[u8]) -> Option<(&ProductRoots, Intermediate)> {
        self.products.iter().find_map(|p| {
            if p.ask_subject == issuer {
                Some((p, Intermediate::Ask))
            } else if p.asvk_subject.as_deref() == Some(issuer) {
                Some((p, Intermediate::Asvk))
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_roots_have_the_published_fingerprints() {
        let roots = AmdRoots::amd();
        let sha256 = |d: &[u8]| hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d));
        let expect = [
            (Product::Milan, "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"),
            (Product::Genoa, "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"),
            (Product::Turin, "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"),
        ];
        for (product, fingerprint) in expect {
            let p = roots.product(product).expect("product");
            assert_eq!(sha256(p.ark()), fingerprint, "{product} ARK");
            let ark = parse_one(p.ark()).expect("ark");
            assert_eq!(describe(&ark), format!("CN=ARK-{product}"));
            assert_eq!(describe(&parse_one(p.ask()).expect("ask")), format!("CN=SEV-{product}"));
            let asvk = p.asvk().expect("asvk");
            assert_eq!(describe(&parse_one(asvk).expect("asvk")), format!("CN=SEV-VLEK-{product}"));
        }
    }

    #[test]
    fn issuers_are_found_by_exact_name() {
        let roots = AmdRoots::amd();
        let genoa = roots.product(Product::Genoa).expect("genoa");
        let asvk = parse_one(genoa.asvk().expect("asvk")).expect("asvk");
        let (found, kind) = roots.find_issuer(asvk.subject().as_raw()).expect("found");
        assert_eq!((found.product(), kind), (Product::Genoa, Intermediate::Asvk));
        assert!(roots.find_issuer(b"not a name").is_none());
    }

    #[test]
    fn malformed_root_sets_are_refused() {
        let err = ProductRoots::from_pem(Product::Milan, MILAN_ASK_PEM, MILAN_ASK_PEM, None).expect_err("refused");
        assert!(err.to_string().contains("not self-issued"), "{err}");
        let err = ProductRoots::from_pem(Product::Milan, MILAN_ARK_PEM, GENOA_ASK_PEM, None).expect_err("refused");
        assert!(err.to_string().contains("not by CN=ARK-Milan"), "{err}");
        let two = [MILAN_ARK_PEM, MILAN_ASK_PEM].concat();
        let err = ProductRoots::from_pem(Product::Milan, &two, MILAN_ASK_PEM, None).expect_err("refused");
        assert!(err.to_string().contains("2 PEM blocks"), "{err}");
        let milan = AmdRoots::amd().product(Product::Milan).cloned().expect("milan");
        assert_eq!(
            AmdRoots::new(vec![milan.clone(), milan]).expect_err("refused"),
            RootsError::Duplicate(Product::Milan)
        );
    }
}
