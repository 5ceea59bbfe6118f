//! Producing RIMs in NVIDIA's SWID layout, signed with the one XML-DSig profile the verifier accepts.

use base64::Engine as _;
use std::fmt::Write as _;

use super::pki::{Pki, SimError};
use crate::nvidia::rim::c14n;

/// One golden measurement of a generated RIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldenSpec {
    /// Golden index.
    pub index: usize,
    /// Whether it is compared.
    pub active: bool,
    /// Acceptable values.
    pub alternatives: Vec<Vec<u8>>,
}

const SIG_START: &str = "<ds:Signature";
const SIG_END: &str = "</ds:Signature>";

/// An unsigned RIM document for `chip` and `version` with the given golden values.
pub fn rim_document(chip: &str, version: &str, golden: &[GoldenSpec]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" \
         xmlns:ns0=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" \
         xmlns:ns2=\"http://www.w3.org/2001/04/xmlenc#sha384\" corpus=\"false\" name=\"{chip}\" patch=\"false\" \
         supplemental=\"false\" tagId=\"{}\" version=\"1.0\" tagVersion=\"0\">",
        hex::encode(crate::crypto::sha384(format!("{chip}_{version}").as_bytes()))
    );
    s.push_str("    <ns0:Entity name=\"ccgpu simulation\" role=\"softwareCreator tagCreator\"/>\n");
    let _ = writeln!(
        s,
        "    <ns0:Meta xmlns:ns1=\"https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/\" \
         colloquialVersion=\"{version}\" edition=\"GPU\" product=\"{chip}\" revision=\"r1\" PayloadType=\"direct\" \
         ns1:FirmwareManufacturer=\"ccgpu simulation\" ns1:FirmwareManufacturerId=\"5703\"/>"
    );
    s.push_str("    <ns0:Payload>\n");
    for g in golden {
        let size = g.alternatives.first().map_or(48, Vec::len);
        let _ = write!(
            s,
            "        <ns0:Resource type=\"Measurement\" index=\"{}\" active=\"{}\" alternatives=\"{}\"",
            g.index,
            if g.active { "True" } else { "False" },
            g.alternatives.len()
        );
        for (k, alt) in g.alternatives.iter().enumerate() {
            let _ = write!(s, " ns2:Hash{k}=\"{}\"", hex::encode(alt));
        }
        let _ = writeln!(s, " name=\"Measurement_{}\" size=\"{size}\"/>", g.index);
    }
    s.push_str("    </ns0:Payload>\n</SoftwareIdentity>");
    s
}

/// Signs a RIM document (removing any signature it has) with `pki`'s leaf key, embedding the chain.
pub fn sign_rim(xml: &str, pki: &Pki) -> Result<String, SimError> {
    let mut doc = match (xml.find(SIG_START), xml.rfind(SIG_END)) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &xml[..a], &xml[b + SIG_END.len()..]),
        _ => xml.to_owned(),
    };
    let close = doc.rfind("</").ok_or_else(|| SimError::Rim("no closing tag".into()))?;
    let certs: String =
        pki.chain.ders().iter().map(|d| format!("<ds:X509Certificate>{}</ds:X509Certificate>", b64(d))).collect();
    let signature = format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384\"/>\
         <ds:Reference URI=\"\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#sha384\"/>\
         <ds:DigestValue>@DIGEST@</ds:DigestValue></ds:Reference></ds:SignedInfo>\
         <ds:SignatureValue>@SIGNATURE@</ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data>{certs}</ds:X509Data></ds:KeyInfo></ds:Signature>"
    );
    doc.insert_str(close, &signature);

    let digest = {
        let parsed = roxmltree::Document::parse(&doc).map_err(|e| SimError::Rim(e.to_string()))?;
        let sig = signature_node(&parsed)?;
        let mut out = Vec::new();
        c14n::document(&parsed, Some(sig.id()), &mut out).map_err(|e| SimError::Rim(e.to_string()))?;
        crate::crypto::sha384(&out)
    };
    doc = doc.replacen("@DIGEST@", &b64(&digest), 1);
    let signed_info = {
        let parsed = roxmltree::Document::parse(&doc).map_err(|e| SimError::Rim(e.to_string()))?;
        let sig = signature_node(&parsed)?;
        let si = sig.first_element_child().ok_or_else(|| SimError::Rim("no SignedInfo".into()))?;
        let mut out = Vec::new();
        c14n::subtree(&parsed, si, &mut out).map_err(|e| SimError::Rim(e.to_string()))?;
        out
    };
    let sig = pki.sign(&signed_info)?;
    Ok(doc.replacen("@SIGNATURE@", &b64(&sig), 1))
}

fn signature_node<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> Result<roxmltree::Node<'a, 'i>, SimError> {
    doc.descendants()
        .find(|n| n.has_tag_name(("http://www.w3.org/2000/09/xmldsig#", "Signature")))
        .ok_or_else(|| SimError::Rim("no Signature".into()))
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}
