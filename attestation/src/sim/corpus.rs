//! The negative corpus: systematic corruptions of real evidence, each paired with the exact set of checks
//! that must fail. Generated, never hand-edited, so it can be regenerated and reviewed as code.
//!
//! Cases that only change bytes keep NVIDIA's anchors (NVIDIA's own verifier can read them too). Cases that
//! must isolate one check behind valid signatures (an FWID mismatch, a changed golden value) re-sign the
//! evidence with simulated PKIs and carry the simulated roots as their anchors.

use time::OffsetDateTime;

use super::pki::{DevicePki, Pki, RimPki, SimError};
use super::report::ReportBuilder;
use super::rim_sign::sign_rim;
use crate::gpu::GpuCheck;
use crate::nvidia::spdm::{AttestationReport, OpaqueType, SIGNATURE_LEN};
use crate::x509::{CertChain, TrustAnchor};

/// Real evidence to derive the corpus from (all of it affirming at `at`).
#[derive(Debug, Clone)]
pub struct RealEvidence {
    /// The report bytes.
    pub report: Vec<u8>,
    /// The device chain.
    pub chain: CertChain,
    /// The matching driver RIM.
    pub driver: Vec<u8>,
    /// The matching VBIOS RIM.
    pub vbios: Vec<u8>,
    /// The report's nonce.
    pub nonce: [u8; 32],
    /// A time at which everything is valid.
    pub at: OffsetDateTime,
}

/// One negative case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short unique name (also a directory name).
    pub name: String,
    /// What was changed.
    pub what: String,
    /// Report bytes.
    pub report: Vec<u8>,
    /// Device chain.
    pub chain: CertChain,
    /// Driver RIM.
    pub driver: Vec<u8>,
    /// VBIOS RIM.
    pub vbios: Vec<u8>,
    /// The nonce the verifier expects.
    pub nonce: [u8; 32],
    /// Device anchor when not NVIDIA's (simulated PKI cases).
    pub device_anchor: Option<TrustAnchor>,
    /// RIM anchor when not NVIDIA's.
    pub rim_anchor: Option<TrustAnchor>,
    /// Exactly the checks that must fail (checks that cannot run as a consequence are not listed).
    pub failing: Vec<GpuCheck>,
}

impl Case {
    /// True when the case uses only NVIDIA's anchors, so NVIDIA's own verifier can judge it too.
    pub fn nvidia_anchored(&self) -> bool {
        self.device_anchor.is_none() && self.rim_anchor.is_none()
    }
}

/// Every single-byte change of the report's signed region: (offset, corrupted report). Each byte is
/// XOR-ed with 0x01, the smallest change.
pub fn byte_flips(report: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
    let signed = report.len().saturating_sub(SIGNATURE_LEN);
    (0..signed).map(move |i| {
        let mut r = report.to_vec();
        r[i] ^= 0x01;
        (i, r)
    })
}

struct Builder<'a> {
    base: &'a RealEvidence,
    cases: Vec<Case>,
}

impl Builder<'_> {
    fn case(&mut self, name: &str, what: &str, failing: &[GpuCheck], edit: impl FnOnce(&mut Case)) {
        let mut c = Case {
            name: name.to_owned(),
            what: what.to_owned(),
            report: self.base.report.clone(),
            chain: self.base.chain.clone(),
            driver: self.base.driver.clone(),
            vbios: self.base.vbios.clone(),
            nonce: self.base.nonce,
            device_anchor: None,
            rim_anchor: None,
            failing: failing.to_vec(),
        };
        edit(&mut c);
        self.cases.push(c);
    }
}

fn chain_with(chain: &CertChain, edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> CertChain {
    let mut ders = chain.ders().to_vec();
    edit(&mut ders);
    // Every edit keeps 1..=8 parseable certificates.
    CertChain::from_der_list(ders).unwrap_or_else(|_| chain.clone())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Replaces the first occurrence of `from` (which must exist) in a document.
fn replace_once(doc: &[u8], from: &str, to: &str) -> Vec<u8> {
    text(doc).replacen(from, to, 1).into_bytes()
}

/// The value of the first `ns2:Hash0` of an active resource with this index.
fn active_hash(doc: &str, index: usize) -> Option<String> {
    let at = doc.find(&format!("index=\"{index}\" active=\"True\""))?;
    let rest = &doc[at..];
    let start = rest.find("Hash0=\"")? + 7;
    Some(rest[start..start + 96].to_owned())
}

fn flip_hex_digit(s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    c[0] = if c[0] == '0' { '1' } else { '0' };
    c.into_iter().collect()
}

/// Builds the corpus. Fails only if the simulated PKIs cannot be generated.
pub fn negative_corpus(base: &RealEvidence) -> Result<Vec<Case>, SimError> {
    use GpuCheck::*;
    let parsed = AttestationReport::parse(&base.report).map_err(|e| SimError::Chain(format!("base report: {e}")))?;
    let fwid = parsed.opaque().fwid.unwrap_or([0; 48]);
    let chip = "GH100";
    let device: Pki = DevicePki::generate(chip, &fwid)?;
    let other_fwid = {
        let mut f = fwid;
        f[0] ^= 0xff;
        f
    };
    let device_other_fwid: Pki = DevicePki::generate(chip, &other_fwid)?;
    let rims: Pki = RimPki::generate()?;
    let resign_report = |edit: &dyn Fn(&mut ReportBuilder), pki: &Pki| -> Result<Vec<u8>, SimError> {
        let mut b = ReportBuilder::from_report(&parsed);
        edit(&mut b);
        b.sign(pki)
    };
    let resign_rim = |doc: &[u8]| sign_rim(&text(doc), &rims).map(String::into_bytes);
    let driver_doc = text(&base.driver);
    let vbios_doc = text(&base.vbios);

    let mut b = Builder { base, cases: Vec::new() };

    // --- freshness and report structure -------------------------------------------------------
    b.case("nonce-wrong", "the verifier expects a different nonce", &[Nonce], |c| c.nonce[31] ^= 0x01);
    for cut in [1, SIGNATURE_LEN, SIGNATURE_LEN + 1, 500, base.report.len() - 37] {
        b.case(
            &format!("report-truncated-{cut}"),
            &format!("last {cut} bytes of the report removed"),
            &[ReportParsed],
            |c| {
                c.report.truncate(c.report.len() - cut);
            },
        );
    }
    b.case("report-extended-1", "one 0x00 byte appended after the signature", &[ReportParsed], |c| c.report.push(0));
    b.case("report-extended-96", "a second signature appended", &[ReportParsed], |c| {
        let sig = c.report[c.report.len() - SIGNATURE_LEN..].to_vec();
        c.report.extend(sig);
    });
    b.case("report-signature-zeroed", "signature bytes replaced by zeros", &[ReportSignature], |c| {
        let n = c.report.len();
        c.report[n - SIGNATURE_LEN..].fill(0);
    });

    // --- device chain ------------------------------------------------------------------------
    b.case(
        "chain-swap-0-1",
        "attestation and device certificates swapped",
        &[DeviceChain, Fwid, ReportSignature],
        |c| {
            c.chain = chain_with(&c.chain, |d| d.swap(0, 1));
        },
    );
    b.case("chain-swap-2-3", "provisioner and identity CA certificates swapped", &[DeviceChain], |c| {
        c.chain = chain_with(&c.chain, |d| d.swap(2, 3));
    });
    b.case(
        "chain-reversed",
        "chain given root first",
        &[Arch, DeviceChain, Fwid, ReportSignature, DriverRimIdentity, VbiosRimIdentity],
        |c| {
            c.chain = chain_with(&c.chain, |d| d.reverse());
        },
    );
    b.case(
        "chain-missing-leaf",
        "attestation certificate removed",
        &[Arch, DeviceChain, Fwid, ReportSignature, DriverRimIdentity, VbiosRimIdentity],
        |c| {
            c.chain = chain_with(&c.chain, |d| {
                d.remove(0);
            });
        },
    );
    b.case("chain-missing-intermediate", "provisioner CA certificate removed", &[DeviceChain], |c| {
        c.chain = chain_with(&c.chain, |d| {
            d.remove(2);
        });
    });
    b.case("chain-missing-root", "root certificate removed", &[DeviceChain], |c| {
        c.chain = chain_with(&c.chain, |d| {
            d.pop();
        });
    });
    b.case(
        "chain-duplicate-leaf",
        "attestation certificate repeated in place of the device certificate",
        &[DeviceChain],
        |c| {
            c.chain = chain_with(&c.chain, |d| d[1] = d[0].clone());
        },
    );
    let foreign_root = device.chain.ders().last().cloned().unwrap_or_default();
    b.case("chain-foreign-root", "NVIDIA's root replaced by a simulated root", &[DeviceChain], |c| {
        c.chain = chain_with(&c.chain, |d| {
            if let Some(last) = d.last_mut() {
                last.clone_from(&foreign_root);
            }
        });
    });
    let foreign_report = resign_report(&|_| {}, &device)?;
    b.case("chain-foreign-pki", "report re-signed by a simulated device PKI with the same FWID", &[DeviceChain], |c| {
        c.report = foreign_report.clone();
        c.chain = device.chain.clone();
    });

    // --- FWID and report content behind valid simulated signatures -----------------------------
    let fwid_report = resign_report(&|_| {}, &device_other_fwid)?;
    b.case(
        "fwid-mismatch",
        "attestation certificate FWID differs from the report FWID (simulated PKI trusted)",
        &[Fwid],
        |c| {
            c.report = fwid_report.clone();
            c.chain = device_other_fwid.chain.clone();
            c.device_anchor = Some(device_other_fwid.anchor.clone());
        },
    );
    let no_fwid = resign_report(
        &|r| {
            let mut o = crate::sim::OpaqueBuilder::default();
            for e in &parsed.opaque().entries {
                if e.data_type != OpaqueType::Fwid {
                    o.push(e.data_type, e.value.clone());
                }
            }
            r.opaque = o;
        },
        &device,
    )?;
    b.case("fwid-missing", "report re-signed without its FWID (simulated PKI trusted)", &[Fwid], |c| {
        c.report = no_fwid.clone();
        c.chain = device.chain.clone();
        c.device_anchor = Some(device.anchor.clone());
    });
    let changed_measurement = resign_report(&|r| r.measurements[21][0] ^= 0x01, &device)?;
    b.case(
        "measurement-changed",
        "block 22 changed and the report re-signed (simulated PKI trusted)",
        &[Measurements],
        |c| {
            c.report = changed_measurement.clone();
            c.chain = device.chain.clone();
            c.device_anchor = Some(device.anchor.clone());
        },
    );
    let other_driver = resign_report(
        &|r| {
            r.opaque.set(OpaqueType::DriverVersion, b"550.90.08\0".to_vec());
        },
        &device,
    )?;
    b.case(
        "report-other-driver",
        "report claims driver 550.90.08 (simulated PKI trusted)",
        &[DriverRimIdentity],
        |c| {
            c.report = other_driver.clone();
            c.chain = device.chain.clone();
            c.device_anchor = Some(device.anchor.clone());
        },
    );
    let unknown_tlv = resign_report(
        &|r| {
            r.opaque.push_raw(30, vec![1]);
        },
        &device,
    )?;
    b.case(
        "report-unknown-opaque",
        "opaque TLV of undocumented type 30 (simulated PKI trusted)",
        &[ReportParsed],
        |c| {
            c.report = unknown_tlv.clone();
            c.chain = device.chain.clone();
            c.device_anchor = Some(device.anchor.clone());
        },
    );
    let dup_tlv = resign_report(
        &|r| {
            r.opaque.push(OpaqueType::DriverVersion, b"550.90.07\0".to_vec());
        },
        &device,
    )?;
    b.case("report-duplicate-opaque", "driver version TLV twice (simulated PKI trusted)", &[ReportParsed], |c| {
        c.report = dup_tlv.clone();
        c.chain = device.chain.clone();
        c.device_anchor = Some(device.anchor.clone());
    });
    let mut gap = ReportBuilder::from_report(&parsed).unsigned();
    // Block 2's index byte sits at 37 + 8 + 55 (request, response header, one 55-byte block).
    gap[37 + 8 + 55] = 3;
    let gap_sig = device.sign(&gap)?;
    gap.extend(gap_sig);
    b.case("report-noncontiguous-blocks", "block 2 labelled index 3 (simulated PKI trusted)", &[ReportParsed], |c| {
        c.report = gap.clone();
        c.chain = device.chain.clone();
        c.device_anchor = Some(device.anchor.clone());
    });

    // --- RIMs under NVIDIA's anchors ------------------------------------------------------------
    let hash7 = active_hash(&driver_doc, 7).unwrap_or_default();
    b.case(
        "driver-rim-golden-changed",
        "one golden value of the driver RIM changed, signature kept",
        &[DriverRimSignature],
        |c| {
            c.driver = replace_once(&c.driver, &hash7, &flip_hex_digit(&hash7));
        },
    );
    let vhash1 = active_hash(&vbios_doc, 1).unwrap_or_default();
    b.case(
        "vbios-rim-golden-changed",
        "one golden value of the VBIOS RIM changed, signature kept",
        &[VbiosRimSignature],
        |c| {
            c.vbios = replace_once(&c.vbios, &vhash1, &flip_hex_digit(&vhash1));
        },
    );
    let sig_value =
        driver_doc.find("<ds:SignatureValue>").map(|i| driver_doc[i + 19..i + 29].to_owned()).unwrap_or_default();
    b.case(
        "driver-rim-signature-broken",
        "one character of the driver RIM SignatureValue changed",
        &[DriverRimSignature],
        |c| {
            c.driver = replace_once(
                &c.driver,
                &format!("<ds:SignatureValue>{sig_value}"),
                &format!("<ds:SignatureValue>{}", flip_b64(&sig_value)),
            );
        },
    );
    b.case(
        "driver-rim-chain-broken",
        "the L3 certificate removed from the driver RIM's embedded chain",
        &[DriverRimChain],
        |c| {
            c.driver = remove_nth_cert(&c.driver, 1);
        },
    );
    b.case(
        "driver-rim-chain-foreign",
        "the driver RIM's embedded chain replaced by a simulated one",
        &[DriverRimSignature, DriverRimChain],
        |c| {
            c.driver = replace_certs(&c.driver, &rims);
        },
    );
    let driver_foreign = resign_rim(&base.driver)?;
    b.case("driver-rim-resigned-foreign", "driver RIM re-signed by a simulated RIM PKI", &[DriverRimChain], |c| {
        c.driver = driver_foreign.clone()
    });
    b.case(
        "rims-swapped",
        "driver and VBIOS RIMs given in each other's place",
        &[DriverRimIdentity, VbiosRimIdentity],
        |c| {
            std::mem::swap(&mut c.driver, &mut c.vbios);
        },
    );

    // Signature-wrapping and profile violations.
    let sig_block = driver_doc
        .find("<ds:Signature")
        .and_then(|a| driver_doc.rfind("</ds:Signature>").map(|b| driver_doc[a..b + 15].to_owned()))
        .unwrap_or_default();
    b.case(
        "rim-two-signatures",
        "the driver RIM's Signature element duplicated",
        &[DriverRimSignature, DriverRimChain],
        |c| {
            c.driver = replace_once(&c.driver, &sig_block, &format!("{sig_block}{sig_block}"));
        },
    );
    b.case(
        "rim-signature-in-payload",
        "the driver RIM's Signature moved into Payload",
        &[DriverRimStructure, DriverRimSignature, DriverRimChain],
        |c| {
            let without = text(&c.driver).replacen(&sig_block, "", 1);
            c.driver = without.replacen("</ns0:Payload>", &format!("{sig_block}</ns0:Payload>"), 1).into_bytes();
        },
    );
    b.case("rim-second-reference", "a second ds:Reference added to SignedInfo", &[DriverRimSignature, DriverRimChain], |c| {
        let reference = "<ds:Reference URI=\"#payload\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#sha384\"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>";
        c.driver = replace_once(&c.driver, "</ds:SignedInfo>", &format!("{reference}</ds:SignedInfo>"));
    });
    b.case(
        "rim-reference-to-id",
        "Reference URI points at an element instead of the whole document",
        &[DriverRimSignature, DriverRimChain],
        |c| {
            c.driver = replace_once(&c.driver, "<ds:Reference URI=\"\">", "<ds:Reference URI=\"#x\">");
        },
    );
    b.case("rim-object-element", "a ds:Object carrying a second payload inside the Signature", &[DriverRimSignature, DriverRimChain], |c| {
        c.driver = replace_once(&c.driver, "</ds:Signature>", "<ds:Object><ns0:Payload xmlns:ns0=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\"/></ds:Object></ds:Signature>");
    });
    b.case("rim-second-payload", "a second, unsigned Payload with other golden values before the signed one", &[DriverRimStructure, DriverRimSignature], |c| {
        let forged = format!("<ns0:Payload><ns0:Resource type=\"Measurement\" index=\"7\" active=\"True\" alternatives=\"1\" ns2:Hash0=\"{}\" name=\"m\" size=\"48\"/></ns0:Payload>\n    <ns0:Payload", "00".repeat(48));
        c.driver = replace_once(&c.driver, "<ns0:Payload", &forged);
    });
    b.case(
        "rim-dtd-entity",
        "a DOCTYPE with an entity declaration prepended",
        &[DriverRimStructure, DriverRimSignature, DriverRimChain],
        |c| {
            let mut d = b"<!DOCTYPE x [<!ENTITY e \"v\">]>\n".to_vec();
            d.extend_from_slice(&c.driver);
            c.driver = d;
        },
    );
    b.case(
        "rim-exclusive-c14n",
        "the canonicalization algorithm switched to exclusive C14N",
        &[DriverRimSignature, DriverRimChain],
        |c| {
            c.driver = replace_once(
                &c.driver,
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/>",
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            );
        },
    );

    // --- RIM content behind valid simulated signatures ------------------------------------------
    let driver_resigned = resign_rim(&base.driver)?;
    let vbios_resigned = resign_rim(&base.vbios)?;
    let driver_changed = resign_rim(&replace_once(&base.driver, &hash7, &flip_hex_digit(&hash7)))?;
    b.case(
        "driver-golden-changed-resigned",
        "driver golden index 7 changed and re-signed (simulated RIM PKI trusted)",
        &[Measurements],
        |c| {
            c.driver = driver_changed.clone();
            c.vbios = vbios_resigned.clone();
            c.rim_anchor = Some(rims.anchor.clone());
        },
    );
    let vbios_other_version = resign_rim(&replace_once(
        &base.vbios,
        "colloquialVersion=\"96.00.9F.00.01\"",
        "colloquialVersion=\"96.00.9F.00.02\"",
    ))?;
    b.case(
        "vbios-rim-other-version",
        "VBIOS RIM for VBIOS 96.00.9F.00.02 (simulated RIM PKI trusted)",
        &[VbiosRimIdentity],
        |c| {
            c.driver = driver_resigned.clone();
            c.vbios = vbios_other_version.clone();
            c.rim_anchor = Some(rims.anchor.clone());
        },
    );
    let driver_other_chip = resign_rim(&replace_once(
        &replace_once(&base.driver, "product=\"GH100\"", "product=\"GB100\""),
        "name=\"GH100\"",
        "name=\"GB100\"",
    ))?;
    b.case("driver-rim-other-chip", "driver RIM for GB100 (simulated RIM PKI trusted)", &[DriverRimIdentity], |c| {
        c.driver = driver_other_chip.clone();
        c.vbios = vbios_resigned.clone();
        c.rim_anchor = Some(rims.anchor.clone());
    });
    let conflict =
        resign_rim(&replace_once(&base.driver, "index=\"0\" active=\"False\"", "index=\"0\" active=\"True\""))?;
    b.case(
        "index-conflict",
        "driver RIM also activates golden index 0, which the VBIOS RIM owns (simulated RIM PKI trusted)",
        &[IndexConflict],
        |c| {
            c.driver = conflict.clone();
            c.vbios = vbios_resigned.clone();
            c.rim_anchor = Some(rims.anchor.clone());
        },
    );
    Ok(b.cases)
}

fn flip_b64(s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    c[0] = if c[0] == 'A' { 'B' } else { 'A' };
    c.into_iter().collect()
}

fn cert_spans(doc: &str) -> Vec<(usize, usize)> {
    let (open, close) = ("<ds:X509Certificate>", "</ds:X509Certificate>");
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(a) = doc[from..].find(open) {
        let a = from + a;
        let Some(b) = doc[a..].find(close) else { break };
        let b = a + b + close.len();
        spans.push((a, b));
        from = b;
    }
    spans
}

fn remove_nth_cert(doc: &[u8], n: usize) -> Vec<u8> {
    let d = text(doc);
    match cert_spans(&d).get(n) {
        Some(&(a, b)) => format!("{}{}", &d[..a], &d[b..]).into_bytes(),
        None => doc.to_vec(),
    }
}

fn replace_certs(doc: &[u8], pki: &Pki) -> Vec<u8> {
    use base64::Engine as _;
    let d = text(doc);
    let spans = cert_spans(&d);
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else { return doc.to_vec() };
    let certs: String = pki
        .chain
        .ders()
        .iter()
        .map(|c| {
            format!("<ds:X509Certificate>{}</ds:X509Certificate>", base64::engine::general_purpose::STANDARD.encode(c))
        })
        .collect();
    format!("{}{}{}", &d[..first.0], certs, &d[last.1..]).into_bytes()
}
