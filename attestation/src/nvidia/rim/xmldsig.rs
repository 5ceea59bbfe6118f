//! The one XML-DSig profile NVIDIA signs RIMs with, verified strictly:
//!
//! - exactly one `ds:Signature` in the whole document, the last element child of the root;
//! - `SignedInfo` = C14N 1.1 + ECDSA-SHA384, exactly one `Reference` with `URI=""` (the whole document)
//!   and exactly the transforms `enveloped-signature`, C14N 1.1, digest SHA-384;
//! - `KeyInfo` = one `X509Data` of `X509Certificate`s, leaf first; nothing else (no `Object`, no
//!   `KeyValue`, no `RetrievalMethod`).
//!
//! Anything else is refused rather than interpreted, which closes signature-wrapping attacks: the signed
//! reference can only be the very document whose golden values are read, and there is no second
//! signature, reference or object for a parser to pick by mistake. The signature key comes from the
//! embedded leaf certificate; whether that certificate is trustworthy is the caller's path validation.

use base64::Engine as _;
use roxmltree::{Document, Node};
use thiserror::Error;

use super::c14n::{self, C14nError};
use crate::crypto::{self, EcPublicKey, SignatureError};
use crate::x509::{CertChain, ChainParseError};

/// XML-DSig namespace.
pub(crate) const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const C14N_11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA384_DIGEST: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";

/// Why the signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlDsigError {
    /// Not exactly one Signature element.
    #[error("document has {0} ds:Signature elements, expected exactly 1")]
    SignatureCount(usize),
    /// The Signature is not the last element child of the root.
    #[error("ds:Signature must be the last child element of the document element")]
    SignaturePlacement,
    /// A structural deviation from the profile.
    #[error("{element}: {reason}")]
    Profile {
        /// Element concerned.
        element: &'static str,
        /// What deviates.
        reason: String,
    },
    /// An algorithm outside the profile.
    #[error("{element} algorithm {found} is not supported (expected {expected})")]
    Algorithm {
        /// Element concerned.
        element: &'static str,
        /// Required algorithm URI.
        expected: &'static str,
        /// Found URI.
        found: String,
    },
    /// Invalid base64 content.
    #[error("{element} is not valid base64: {reason}")]
    Base64 {
        /// Element concerned.
        element: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// The embedded certificates do not parse.
    #[error("embedded certificates: {0}")]
    Certificates(#[from] ChainParseError),
    /// Canonicalization refused the input.
    #[error("canonicalization: {0}")]
    C14n(#[from] C14nError),
    /// The document does not hash to the signed digest.
    #[error("document digest does not match the signed DigestValue (content was changed)")]
    DigestMismatch,
    /// The SignedInfo signature does not verify with the embedded leaf key.
    #[error("SignatureValue over SignedInfo: {0}")]
    Signature(SignatureError),
    /// The leaf certificate's key is unusable.
    #[error("signing certificate key: {0}")]
    Key(String),
}

/// The parts of a profile-conforming signature.
#[derive(Debug)]
pub(crate) struct SignatureParts<'a, 'input> {
    pub(crate) signature: Node<'a, 'input>,
    pub(crate) signed_info: Node<'a, 'input>,
    pub(crate) digest_value: Vec<u8>,
    pub(crate) signature_value: Vec<u8>,
    pub(crate) chain: CertChain,
}

/// Locates the document's signature and checks it follows the profile exactly.
pub(crate) fn parse<'a, 'input>(doc: &'a Document<'input>) -> Result<SignatureParts<'a, 'input>, XmlDsigError> {
    let signatures: Vec<Node<'a, 'input>> = doc.descendants().filter(|n| is_ds(*n, "Signature")).collect();
    let [signature] = signatures[..] else { return Err(XmlDsigError::SignatureCount(signatures.len())) };
    let root = doc.root_element();
    if signature.parent() != Some(root) || root.last_element_child() != Some(signature) {
        return Err(XmlDsigError::SignaturePlacement);
    }
    no_attributes(signature, "Signature")?;
    let [signed_info, signature_value, key_info] =
        children(signature, "Signature", &["SignedInfo", "SignatureValue", "KeyInfo"])?;

    no_attributes(signed_info, "SignedInfo")?;
    let [c14n_method, sig_method, reference] =
        children(signed_info, "SignedInfo", &["CanonicalizationMethod", "SignatureMethod", "Reference"])?;
    algorithm(c14n_method, "CanonicalizationMethod", C14N_11)?;
    algorithm(sig_method, "SignatureMethod", ECDSA_SHA384)?;

    let uri_only = reference.attributes().len() == 1 && reference.attribute("URI") == Some("");
    if !uri_only {
        return Err(profile("Reference", "must carry exactly URI=\"\" (the whole document)"));
    }
    let [transforms, digest_method, digest_value] =
        children(reference, "Reference", &["Transforms", "DigestMethod", "DigestValue"])?;
    no_attributes(transforms, "Transforms")?;
    let [t1, t2] = children(transforms, "Transforms", &["Transform", "Transform"])?;
    algorithm(t1, "Transform", ENVELOPED)?;
    algorithm(t2, "Transform", C14N_11)?;
    algorithm(digest_method, "DigestMethod", SHA384_DIGEST)?;
    let digest_value = base64_content(digest_value, "DigestValue")?;
    if digest_value.len() != 48 {
        return Err(profile("DigestValue", format!("{} bytes, expected 48 (SHA-384)", digest_value.len())));
    }

    no_attributes(signature_value, "SignatureValue")?;
    let signature_value = base64_content(signature_value, "SignatureValue")?;
    if signature_value.len() != 96 {
        return Err(profile("SignatureValue", format!("{} bytes, expected 96 (P-384 r‖s)", signature_value.len())));
    }

    no_attributes(key_info, "KeyInfo")?;
    let [x509_data] = children(key_info, "KeyInfo", &["X509Data"])?;
    no_attributes(x509_data, "X509Data")?;
    let mut ders = Vec::new();
    for cert in element_children(x509_data, "X509Data")? {
        if !is_ds(cert, "X509Certificate") {
            return Err(profile("X509Data", format!("unexpected child <{}>", cert.tag_name().name())));
        }
        no_attributes(cert, "X509Certificate")?;
        ders.push(base64_content(cert, "X509Certificate")?);
    }
    let chain = CertChain::from_der_list(ders)?;
    Ok(SignatureParts { signature, signed_info, digest_value, signature_value, chain })
}

/// Checks the reference digest over the document (minus the signature) and the signature over
/// `SignedInfo` with `key`. `scratch` is reused for the canonical bytes.
pub(crate) fn verify(
    doc: &Document<'_>,
    parts: &SignatureParts<'_, '_>,
    key: &EcPublicKey,
    scratch: &mut Vec<u8>,
) -> Result<(), XmlDsigError> {
    scratch.clear();
    c14n::document(doc, Some(parts.signature.id()), scratch)?;
    if crypto::sha384(scratch) != parts.digest_value.as_slice() {
        return Err(XmlDsigError::DigestMismatch);
    }
    scratch.clear();
    c14n::subtree(doc, parts.signed_info, scratch)?;
    key.verify_p384_fixed(scratch, &parts.signature_value).map_err(XmlDsigError::Signature)
}

fn is_ds(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(DS_NS) && node.tag_name().name() == name
}

fn profile(element: &'static str, reason: impl Into<String>) -> XmlDsigError {
    XmlDsigError::Profile { element, reason: reason.into() }
}

fn no_attributes(node: Node<'_, '_>, element: &'static str) -> Result<(), XmlDsigError> {
    match node.attributes().next() {
        None => Ok(()),
        Some(a) => Err(profile(element, format!("unexpected attribute {}", a.name()))),
    }
}

/// Element children, refusing non-whitespace text between them.
fn element_children<'a, 'input>(
    node: Node<'a, 'input>,
    element: &'static str,
) -> Result<Vec<Node<'a, 'input>>, XmlDsigError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
            return Err(profile(element, "unexpected text content"));
        }
    }
    Ok(out)
}

/// Exactly the named ds: children, in order.
fn children<'a, 'input, const N: usize>(
    node: Node<'a, 'input>,
    element: &'static str,
    names: &[&str; N],
) -> Result<[Node<'a, 'input>; N], XmlDsigError> {
    let kids = element_children(node, element)?;
    let found: Vec<&str> = kids.iter().map(|k| k.tag_name().name()).collect();
    let ok = kids.len() == N && kids.iter().zip(names).all(|(k, n)| is_ds(*k, n));
    if !ok {
        return Err(profile(element, format!("children are {found:?}, expected exactly {names:?}")));
    }
    kids.try_into().map_err(|_| profile(element, "child count"))
}

/// An algorithm element: exactly one `Algorithm` attribute with the required value and no children.
fn algorithm(node: Node<'_, '_>, element: &'static str, expected: &'static str) -> Result<(), XmlDsigError> {
    let found = node.attribute("Algorithm").unwrap_or("");
    if found != expected {
        return Err(XmlDsigError::Algorithm { element, expected, found: found.to_owned() });
    }
    if node.attributes().len() != 1 || !element_children(node, element)?.is_empty() {
        return Err(profile(element, "must carry only the Algorithm attribute and no children"));
    }
    Ok(())
}

/// Base64 text content (whitespace allowed between characters, as XML-DSig permits). Only text nodes
/// count: a comment inside the element is not content (C14N drops it from the signed bytes), although
/// roxmltree's `text()` returns a comment's text too.
fn base64_content(node: Node<'_, '_>, element: &'static str) -> Result<Vec<u8>, XmlDsigError> {
    if node.children().any(|c| c.is_element()) {
        return Err(profile(element, "unexpected child element"));
    }
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .flat_map(str::chars)
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| XmlDsigError::Base64 { element, reason: e.to_string() })
}
