//! Structure-aware RIM fuzzing: the input is a list of edits applied to one of the two real, signed H100
//! RIMs (byte edits, range copies, and XML fragments from a dictionary: namespace declarations, comments,
//! CDATA, character references, extra Signature/Reference elements …), so most inputs stay well-formed
//! and reach canonicalization and the signature check.
//!
//! Oracle (signature wrapping): whenever an edited document still verifies, its identity and golden
//! values must be exactly those of the original — an edit the signature does not cover must not change
//! what the verifier reads.
#![no_main]

use std::sync::LazyLock;

use ccgpu_attestation::{
    VerifierCache,
    testing::rim::{self, VerifiedRim},
};
use ccgpu_fuzz::{ANCHORS, AT, REAL};
use libfuzzer_sys::fuzz_target;

const FRAGMENTS: &[&str] = &[
    " ",
    "\n",
    "\r\n",
    "\t",
    "<!--c-->",
    "<![CDATA[x]]>",
    "<?pi x?>",
    "&amp;",
    "&#x30;",
    "&#48;",
    "&lt;",
    " xmlns=\"\"",
    " xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\"",
    " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
    " xmlns:ns0=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\"",
    " xmlns:ns2=\"http://www.w3.org/2001/04/xmlenc#sha384\"",
    " xml:lang=\"en\"",
    " a=\"b\"",
    " ns2:Hash1=\"00\"",
    " index=\"1\"",
    " active=\"True\"",
    "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/>",
    "<ds:Object/>",
    "<ds:Reference URI=\"\"/>",
    "<ns0:Resource type=\"Measurement\" index=\"0\" active=\"True\" alternatives=\"1\" ns2:Hash0=\"00\" name=\"m\" size=\"1\"/>",
    "<ns0:Payload/>",
    "<ns0:Meta/>",
    "<x>",
    "</x>",
    "/>",
    "'",
    "\"",
];

/// Caches certificate links (and repeated documents).
static CACHE: LazyLock<VerifierCache> = LazyLock::new(VerifierCache::new);

/// The two real RIMs and what verifies in them unedited.
static BASES: LazyLock<[(Vec<u8>, VerifiedRim); 2]> = LazyLock::new(|| {
    [&REAL.driver, &REAL.vbios].map(|xml| {
        let v = rim::verify(xml, &ANCHORS.rim, AT).verified.expect("the real RIM verifies");
        (xml.clone(), v)
    })
});

fn offset(data: &[u8], len: usize) -> Option<usize> {
    let raw = u32::from_le_bytes([*data.first()?, *data.get(1)?, *data.get(2).unwrap_or(&0), 0]);
    Some(usize::try_from(raw).ok()? % (len + 1))
}

fn apply(doc: &mut Vec<u8>, mut ops: &[u8]) {
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let Some(at) = offset(ops, doc.len()) else { return };
        ops = ops.get(3..).unwrap_or(&[]);
        let Some((&n, rest)) = ops.split_first() else { return };
        ops = rest;
        let n = usize::from(n);
        match op % 6 {
            0 => {
                let take = n.min(ops.len());
                doc.splice(at..at, ops[..take].iter().copied());
                ops = &ops[take..];
            }
            1 => {
                let end = (at + n).min(doc.len());
                doc.drain(at..end);
            }
            2 => {
                if at < doc.len() {
                    doc[at] = n as u8;
                }
            }
            3 => {
                let Some(to) = offset(ops, doc.len()) else { return };
                ops = ops.get(3..).unwrap_or(&[]);
                let end = (at + n * 4).min(doc.len());
                let copy = doc[at..end].to_vec();
                doc.splice(to..to, copy);
            }
            _ => {
                let frag = FRAGMENTS[n % FRAGMENTS.len()];
                doc.splice(at..at, frag.bytes());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, ops)) = data.split_first() else { return };
    let (base, expected) = &BASES[usize::from(which & 1)];
    let mut doc = base.clone();
    apply(&mut doc, ops);
    let v = rim::inspect_cached(&doc, &CACHE).appraise(&ANCHORS.rim, AT, Some(&CACHE));
    if let Some(got) = v.verified {
        assert_eq!(got.identity, expected.identity, "an unsigned edit changed the identity");
        assert_eq!(got.golden, expected.golden, "an unsigned edit changed the golden values");
    }
});
