//! RIM documents outside the profile, made from NVIDIA's real H100 driver RIM by text edits: XML-DSig
//! profile violations, SWID structure errors, and resource bombs — each refused by the right aspect with
//! its precise error. And the converse: rewrites that canonicalize to the same bytes (attribute order,
//! quoting, empty-element form, character references, comments) still verify under NVIDIA's signature,
//! which checks our C14N against NVIDIA's signer.

use ccgpu_attestation::{
    Anchors, ChainParseError,
    testing::rim::{self, MAX_RIM_LEN, RimChainError, RimError, RimVerification, StructureError, XmlDsigError},
};
use time::macros::datetime;

const DRIVER: &str = "nvidia/h100-550.90.07/rims/NV_GPU_DRIVER_GH100_550.90.07.xml";

const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const C14N_11: &str = "http://www.w3.org/2006/12/xml-c14n11";

fn driver() -> Option<String> {
    ccgpu_test_support::read_testdata(DRIVER).map(|b| String::from_utf8(b).expect("UTF-8 RIM"))
}

fn verify(xml: &str) -> RimVerification {
    rim::verify(xml.as_bytes(), &Anchors::nvidia().rim, datetime!(2025-09-01 0:00 UTC))
}

/// `xml` with the first occurrence of `from` replaced by `to` (which must exist).
fn edit(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "test edit: {from:?} not in the document");
    xml.replacen(from, to, 1)
}

fn signature_err(v: &RimVerification) -> XmlDsigError {
    match &v.signature {
        Err(RimError::Signature(e)) => e.clone(),
        other => panic!("expected a signature error, got {other:?}"),
    }
}

fn profile(element: &'static str, reason: &str) -> XmlDsigError {
    XmlDsigError::Profile { element, reason: reason.to_owned() }
}

fn structure(v: &RimVerification) -> StructureError {
    match &v.identity {
        Err(RimError::Structure(e)) => e.clone(),
        other => panic!("expected a structure error, got {other:?}"),
    }
}

fn structure_err(element: &str, reason: &str) -> StructureError {
    StructureError { element: element.to_owned(), reason: reason.to_owned() }
}

#[test]
fn the_unedited_rim_verifies() {
    let Some(xml) = driver() else { return };
    let v = verify(&xml);
    assert_eq!(v.signature, Ok(()));
    assert!(v.verified.is_some());
}

#[test]
fn transforms_in_the_wrong_order() {
    let Some(xml) = driver() else { return };
    let t1 = format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/>");
    let t2 = format!("<ds:Transform Algorithm=\"{C14N_11}\"/>");
    let swapped = edit(&xml, &format!("{t1}{t2}"), &format!("{t2}{t1}"));
    let v = verify(&swapped);
    assert_eq!(
        signature_err(&v),
        XmlDsigError::Algorithm { element: "Transform", expected: ENVELOPED, found: C14N_11.to_owned() }
    );
    assert!(v.verified.is_none());
    // Only one transform, and a third one.
    let one = edit(&xml, &t2, "");
    assert_eq!(
        signature_err(&verify(&one)),
        profile("Transforms", r#"children are ["Transform"], expected exactly ["Transform", "Transform"]"#)
    );
    let three = edit(&xml, &t2, &format!("{t2}{t2}"));
    assert_eq!(
        signature_err(&verify(&three)),
        profile(
            "Transforms",
            r#"children are ["Transform", "Transform", "Transform"], expected exactly ["Transform", "Transform"]"#
        )
    );
}

#[test]
fn key_info_missing_or_not_just_certificates() {
    let Some(xml) = driver() else { return };
    let start = xml.find("<ds:KeyInfo>").expect("KeyInfo");
    let end = xml.find("</ds:KeyInfo>").expect("KeyInfo end") + "</ds:KeyInfo>".len();
    let no_key_info = format!("{}{}", &xml[..start], &xml[end..]);
    let v = verify(&no_key_info);
    let expected = profile(
        "Signature",
        r#"children are ["SignedInfo", "SignatureValue"], expected exactly ["SignedInfo", "SignatureValue", "KeyInfo"]"#,
    );
    assert_eq!(signature_err(&v), expected);
    // Without a usable signature element there is no chain either.
    assert_eq!(v.chain, Err(RimChainError::Unavailable(RimError::Signature(expected))));

    let subject = edit(&xml, "<ds:X509Data>", "<ds:X509Data><ds:X509SubjectName>CN=x</ds:X509SubjectName>");
    assert_eq!(signature_err(&verify(&subject)), profile("X509Data", "unexpected child <X509SubjectName>"));
    let foreign = edit(&xml, "<ds:X509Data>", "<ds:X509Data><x:X509Certificate xmlns:x=\"urn:x\"/>");
    assert_eq!(signature_err(&verify(&foreign)), profile("X509Data", "unexpected child <X509Certificate>"));
    let key_value = edit(&xml, "<ds:KeyInfo>", "<ds:KeyInfo><ds:KeyValue/>");
    assert_eq!(
        signature_err(&verify(&key_value)),
        profile("KeyInfo", r#"children are ["KeyValue", "X509Data"], expected exactly ["X509Data"]"#)
    );
    let empty = format!("{}<ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo>{}", &xml[..start], &xml[end..]);
    assert_eq!(signature_err(&verify(&empty)), XmlDsigError::Certificates(ChainParseError::Empty));
    let object = edit(&xml, "</ds:KeyInfo>", "</ds:KeyInfo><ds:Object/>");
    assert!(matches!(signature_err(&verify(&object)), XmlDsigError::Profile { element: "Signature", .. }));
}

#[test]
fn base64_garbage_and_wrong_lengths() {
    let Some(xml) = driver() else { return };
    let sig = edit(&xml, "<ds:SignatureValue>", "<ds:SignatureValue>*");
    assert!(matches!(signature_err(&verify(&sig)), XmlDsigError::Base64 { element: "SignatureValue", .. }));
    let digest = edit(&xml, "<ds:DigestValue>", "<ds:DigestValue>=");
    assert!(matches!(signature_err(&verify(&digest)), XmlDsigError::Base64 { element: "DigestValue", .. }));
    let cert = edit(&xml, "<ds:X509Certificate>", "<ds:X509Certificate>%");
    assert!(matches!(signature_err(&verify(&cert)), XmlDsigError::Base64 { element: "X509Certificate", .. }));
    // Whitespace inside base64 is allowed (the real certificates are wrapped).
    let wrapped = edit(&xml, "<ds:SignatureValue>", "<ds:SignatureValue>\n  ");
    assert_eq!(verify(&wrapped).signature, Ok(()));

    // 32 bytes of DigestValue, 95 of SignatureValue: well-formed base64 of the wrong size.
    let start = xml.find("<ds:DigestValue>").expect("DigestValue") + "<ds:DigestValue>".len();
    let end = xml.find("</ds:DigestValue>").expect("end");
    let short = format!("{}{}{}", &xml[..start], "A".repeat(43) + "=", &xml[end..]);
    assert_eq!(signature_err(&verify(&short)), profile("DigestValue", "32 bytes, expected 48 (SHA-384)"));
    let start = xml.find("<ds:SignatureValue>").expect("SignatureValue") + "<ds:SignatureValue>".len();
    let end = xml.find("</ds:SignatureValue>").expect("end");
    let sig95 = format!("{}{}{}", &xml[..start], "A".repeat(127) + "=", &xml[end..]);
    assert_eq!(signature_err(&verify(&sig95)), profile("SignatureValue", "95 bytes, expected 96 (P-384 r‖s)"));
    // A certificate that is base64 but not DER.
    let junk = edit(&xml, "<ds:X509Certificate>", "<ds:X509Certificate>AAAA");
    assert!(matches!(
        signature_err(&verify(&junk)),
        XmlDsigError::Certificates(ChainParseError::Malformed { position: 0, .. }) | XmlDsigError::Base64 { .. }
    ));
}

#[test]
fn attributes_where_the_profile_has_none() {
    let Some(xml) = driver() else { return };
    let cases = [
        ("<ds:Signature xmlns:ds=", "<ds:Signature Id=\"sig\" xmlns:ds=", "Signature", "unexpected attribute Id"),
        ("<ds:SignedInfo>", "<ds:SignedInfo Id=\"si\">", "SignedInfo", "unexpected attribute Id"),
        ("<ds:Transforms>", "<ds:Transforms a=\"b\">", "Transforms", "unexpected attribute a"),
        ("<ds:SignatureValue>", "<ds:SignatureValue Id=\"v\">", "SignatureValue", "unexpected attribute Id"),
        ("<ds:KeyInfo>", "<ds:KeyInfo Id=\"k\">", "KeyInfo", "unexpected attribute Id"),
        ("<ds:X509Data>", "<ds:X509Data Id=\"d\">", "X509Data", "unexpected attribute Id"),
        (
            "<ds:Reference URI=\"\">",
            "<ds:Reference URI=\"\" Id=\"r\">",
            "Reference",
            "must carry exactly URI=\"\" (the whole document)",
        ),
        (
            "<ds:Reference URI=\"\">",
            "<ds:Reference URI=\"#payload\">",
            "Reference",
            "must carry exactly URI=\"\" (the whole document)",
        ),
        ("<ds:Reference URI=\"\">", "<ds:Reference>", "Reference", "must carry exactly URI=\"\" (the whole document)"),
    ];
    for (from, to, element, reason) in cases {
        assert_eq!(signature_err(&verify(&edit(&xml, from, to))), profile(element, reason), "{to}");
    }
    // Algorithm elements: only the Algorithm attribute, no children, no other algorithm.
    let extra = edit(&xml, &format!("Algorithm=\"{C14N_11}\"/>"), &format!("Algorithm=\"{C14N_11}\" x=\"1\"/>"));
    assert_eq!(
        signature_err(&verify(&extra)),
        profile("CanonicalizationMethod", "must carry only the Algorithm attribute and no children")
    );
    let exclusive =
        edit(&xml, &format!("Algorithm=\"{C14N_11}\""), "Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"");
    assert!(matches!(
        signature_err(&verify(&exclusive)),
        XmlDsigError::Algorithm { element: "CanonicalizationMethod", .. }
    ));
    let text = edit(&xml, "<ds:SignedInfo>", "<ds:SignedInfo>text");
    assert_eq!(signature_err(&verify(&text)), profile("SignedInfo", "unexpected text content"));
}

#[test]
fn signature_count_and_placement() {
    let Some(xml) = driver() else { return };
    let start = xml.find("<ds:Signature ").expect("Signature");
    let end = xml.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
    let signature = &xml[start..end];
    let twice = edit(&xml, "</SoftwareIdentity>", &format!("{signature}</SoftwareIdentity>"));
    assert_eq!(signature_err(&verify(&twice)), XmlDsigError::SignatureCount(2));
    let none = format!("{}{}", &xml[..start], &xml[end..]);
    assert_eq!(signature_err(&verify(&none)), XmlDsigError::SignatureCount(0));
    // Moved into the Payload (one signature, wrong place), and followed by another element.
    let moved = edit(&none, "</ns0:Payload>", &format!("{signature}</ns0:Payload>"));
    assert_eq!(signature_err(&verify(&moved)), XmlDsigError::SignaturePlacement);
    let followed = edit(&xml, "</SoftwareIdentity>", "<ns0:Entity name=\"x\" role=\"y\"/></SoftwareIdentity>");
    assert_eq!(signature_err(&verify(&followed)), XmlDsigError::SignaturePlacement);
}

#[test]
fn swid_structure_errors() {
    let Some(xml) = driver() else { return };
    let r0 = "index=\"0\" active=\"False\" alternatives=\"1\"";
    let cases: Vec<(String, StructureError)> = vec![
        (
            edit(&xml, "index=\"1\" active", "index=\"0\" active"),
            structure_err("Resource index 0", "index appears twice"),
        ),
        (
            edit(&xml, r0, "index=\"0\" active=\"False\" alternatives=\"2\""),
            structure_err("Resource index 0", "1 Hash attributes for alternatives=2"),
        ),
        (
            edit(&xml, r0, "index=\"0\" active=\"False\" alternatives=\"0\""),
            structure_err("Resource index 0", "alternatives and size must be at least 1"),
        ),
        (
            edit(&xml, r0, "index=\"0\" active=\"maybe\" alternatives=\"1\""),
            structure_err("Resource index 0", "active=\"maybe\" is not True or False"),
        ),
        (
            edit(&xml, "name=\"Measurement_0\" size=\"48\"", "name=\"Measurement_0\" size=\"32\""),
            structure_err("Resource index 0", "Hash0 is 48 bytes, size says 32"),
        ),
        (
            edit(&xml, r0, "index=\"+0\" active=\"False\" alternatives=\"1\""),
            structure_err("Resource", "index=\"+0\" is not a number in 0..=255"),
        ),
        (
            edit(&xml, r0, "index=\"00\" active=\"False\" alternatives=\"1\""),
            structure_err("Resource", "index=\"00\" is not a number in 0..=255"),
        ),
        (
            edit(&xml, r0, "index=\"256\" active=\"False\" alternatives=\"1\""),
            structure_err("Resource", "index=\"256\" is not a number in 0..=255"),
        ),
        (
            edit(&xml, r0, "index=\"0\" active=\"False\" alternatives=\" 1\""),
            structure_err("Resource", "alternatives=\" 1\" is not a number in 0..=16"),
        ),
        (
            edit(&xml, "ns2:Hash0=\"0000", "ns2:Hash0=\"zz00"),
            structure_err("Resource index 0", "Hash0 is not hex: Invalid character 'z' at position 0"),
        ),
        (
            edit(&xml, "<ns0:Meta ", "<ns0:Meta2 ").replacen("</ns0:Meta>", "</ns0:Meta2>", 1),
            structure_err("SoftwareIdentity", "unexpected or repeated child <Meta2>"),
        ),
        (
            edit(&xml, "<ns0:Payload ", "<ns0:Payload a=\"1\"/><ns0:Payload "),
            structure_err("SoftwareIdentity", "unexpected or repeated child <Payload>"),
        ),
        (edit(&xml, "colloquialVersion=", "colloquial="), structure_err("Meta", "missing attribute colloquialVersion")),
    ];
    for (doc, expected) in cases {
        let v = verify(&doc);
        assert_eq!(structure(&v), expected);
        assert!(v.verified.is_none());
    }
    // A HashN beyond the count (Hash1 with alternatives=1) is as wrong as one missing.
    let extra = edit(&xml, "ns2:Hash0=", "ns2:Hash1=\"00\" ns2:Hash0=");
    assert_eq!(structure(&verify(&extra)), structure_err("Resource index 0", "2 Hash attributes for alternatives=1"));
    let renamed = edit(&xml, "ns2:Hash0=", "ns2:Hash7=");
    assert_eq!(structure(&verify(&renamed)), structure_err("Resource index 0", "missing Hash0"));
}

/// The bomb is refused by the budget pass before any parsing (the error says which limit), which is what
/// keeps it cheap; the test asserts the limit, not a time.
fn refused(xml: &[u8]) -> RimError {
    let v = rim::verify(xml, &Anchors::nvidia().rim, datetime!(2025-09-01 0:00 UTC));
    assert!(v.verified.is_none());
    match v.identity {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn size_encoding_and_resource_bombs() {
    let big = vec![b' '; MAX_RIM_LEN + 1];
    assert_eq!(refused(&big), RimError::TooLarge(MAX_RIM_LEN + 1));
    assert_eq!(refused(b"<SoftwareIdentity name=\"\xff\"/>"), RimError::NotUtf8);
    assert!(matches!(refused(b"<!DOCTYPE r [<!ENTITY a \"b\">]><r>&a;</r>"), RimError::Xml(_)));

    // Depth: 17 nested elements (NVIDIA's nest 6), and 30 000 (a stack and memory bomb for naive parsers).
    for depth in [17usize, 30_000] {
        let doc = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert_eq!(refused(doc.as_bytes()), RimError::TooDeep, "depth {depth}");
    }
    let sixteen = format!("{}{}", "<a>".repeat(16), "</a>".repeat(16));
    assert!(matches!(refused(sixteen.as_bytes()), RimError::Structure(_)));

    // Node count: 20 001 empty elements.
    let many = format!("<r>{}</r>", "<a/>".repeat(20_001));
    assert!(matches!(refused(many.as_bytes()), RimError::Xml(m) if m.contains("nodes limit")));

    // Found by review, measured at 10 s (attributes) and > 5 min (nested namespaces) before the pre-scan:
    // one element with 100 000 attributes, and 30 000 nested elements each declaring a namespace.
    let mut attrs = String::from("<r");
    let mut i = 0;
    while attrs.len() < MAX_RIM_LEN - 16 {
        attrs.push_str(&format!(" a{i}=\"\""));
        i += 1;
    }
    attrs.push_str("/>");
    assert!(matches!(refused(attrs.as_bytes()), RimError::Xml(m) if m.contains("attributes")));
    let nested: String = (0..30_000).map(|i| format!("<a xmlns:p{i}=\"u\">")).collect();
    let nested = format!("{nested}{}", "</a>".repeat(30_000));
    assert_eq!(refused(nested.as_bytes()), RimError::TooDeep);
    let one: String = (0..33).map(|i| format!(" xmlns:p{i}=\"u\"")).collect();
    assert!(matches!(refused(format!("<r{one}/>").as_bytes()), RimError::Xml(m) if m.contains("namespace")));
    let flat: String = (0..40).map(|i| format!("<a xmlns:p{i}=\"u\"/>")).collect();
    assert!(matches!(refused(format!("<r>{flat}</r>").as_bytes()), RimError::Xml(m) if m.contains("namespace")));
}

/// Rewrites that change the bytes but not the canonical form: NVIDIA's signature must still verify, and
/// the golden values must read the same.
#[test]
fn canonically_equivalent_rewrites_still_verify() {
    let Some(xml) = driver() else { return };
    let original = verify(&xml).verified.expect("verifies");
    let entity = "<ns0:Entity name=\"NVIDIA Corporation\" role=\"softwareCreator tagCreator\"/>";
    let rewrites = [
        // XML declaration, comments and PIs-free whitespace outside the document element.
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->{xml}\n<!-- d -->\n"),
        // Attribute order and quoting inside a start tag, and whitespace before its end.
        edit(&xml, entity, "<ns0:Entity role='softwareCreator tagCreator'   name=\"NVIDIA Corporation\" />"),
        // An empty element as a start/end pair.
        edit(&xml, entity, "<ns0:Entity name=\"NVIDIA Corporation\" role=\"softwareCreator tagCreator\"></ns0:Entity>"),
        // A character reference for a character of a golden value, and a comment inside the Payload.
        edit(&xml, "ns2:Hash0=\"0000", "ns2:Hash0=\"&#x30;000").replacen("<ns0:Payload ", "<!-- x --><ns0:Payload ", 1),
        // A redundant namespace declaration (same prefix, same URI) on a child.
        edit(&xml, "<ns0:Entity ", "<ns0:Entity xmlns:ns0=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "),
    ];
    for (i, doc) in rewrites.iter().enumerate() {
        let v = verify(doc);
        assert_eq!(v.signature, Ok(()), "rewrite {i}");
        let got = v.verified.expect("verifies");
        assert_eq!((got.identity, got.golden), (original.identity.clone(), original.golden.clone()), "rewrite {i}");
    }
    // A comment inside a base64 element is not part of its content: the signed SignedInfo has no comment,
    // and the value read must be the one signed (roxmltree's `text()` also returns comment text).
    let at = xml.find("<ds:DigestValue>").expect("DigestValue") + "<ds:DigestValue>".len() + 10;
    let commented = format!("{}<!--AAAA-->{}", &xml[..at], &xml[at..]);
    assert_eq!(verify(&commented).signature, Ok(()));
    let at = xml.find("<ds:SignatureValue>").expect("SignatureValue") + "<ds:SignatureValue>".len() + 10;
    let commented = format!("{}<!--AAAA-->{}", &xml[..at], &xml[at..]);
    assert_eq!(verify(&commented).signature, Ok(()));

    // And one that is not equivalent: a changed value in an attribute that is not a golden value.
    let changed = edit(&xml, "role=\"softwareCreator tagCreator\"", "role=\"softwareCreator\"");
    assert_eq!(signature_err(&verify(&changed)), XmlDsigError::DigestMismatch);
}
