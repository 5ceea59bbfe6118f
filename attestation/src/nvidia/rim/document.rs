//! The SWID tag structure of an NVIDIA RIM (ISO/IEC 19770-2 with TCG RIM attributes): identity from
//! `SoftwareIdentity`/`Meta`, golden measurements from `Payload/Resource`.
//!
//! This is our structural "schema" check: it refuses anything outside the shape NVIDIA publishes (unknown
//! root children, duplicate `Meta`/`Payload`, a repeated measurement index, a hash of the wrong length, a
//! count of `HashN` attributes that disagrees with `alternatives`). It reads the document, but callers only
//! get the golden values through a [`super::VerifiedRim`], i.e. after the signature and its chain verified.

use roxmltree::{Document, Node};
use serde::Serialize;
use thiserror::Error;

use super::xmldsig::DS_NS;

const SWID_NS: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
const TCG_RIM_NS: &str =
    "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
const SHA384_HASH_NS: &str = "http://www.w3.org/2001/04/xmlenc#sha384";
/// Most measurement resources a RIM may hold (NVIDIA's hold 64).
const MAX_RESOURCES: usize = 256;
/// Most alternatives per measurement (NVIDIA's use up to 4).
const MAX_ALTERNATIVES: usize = 16;

/// A structural problem with the RIM.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{element}: {reason}")]
pub struct StructureError {
    /// Element concerned (with the measurement index when there is one).
    pub element: String,
    /// What is wrong.
    pub reason: String,
}

fn err(element: impl Into<String>, reason: impl Into<String>) -> StructureError {
    StructureError { element: element.into(), reason: reason.into() }
}

/// Who and what the RIM describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RimIdentity {
    /// `SoftwareIdentity@name`, the chip family (e.g. `GH100`).
    pub name: String,
    /// `SoftwareIdentity@tagId`.
    pub tag_id: String,
    /// `Meta@colloquialVersion`: the driver or VBIOS version the golden values are for.
    pub version: String,
    /// `Meta@product` (e.g. `GH100`).
    pub product: String,
    /// `Meta@edition` (`GPU` or `SWITCH`).
    pub edition: String,
    /// TCG `FirmwareManufacturerId` (NVIDIA: `5703`), NVIDIA's `oemid` claim.
    pub firmware_manufacturer_id: Option<String>,
}

/// One golden measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldenMeasurement {
    /// 0-based golden index (compared with SPDM block `index + 1`).
    pub index: usize,
    /// Whether the measurement is to be compared.
    pub active: bool,
    /// `Resource@name`.
    pub name: String,
    /// Digest size in bytes.
    pub size: usize,
    /// Acceptable values (`Hash0`…`HashN`); any one matching is a match.
    #[serde(serialize_with = "hex_list")]
    pub alternatives: Vec<Vec<u8>>,
}

fn hex_list<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(hex::encode))
}

/// Reads identity and payload, checking the structure.
pub(crate) fn read(doc: &Document<'_>) -> Result<(RimIdentity, Vec<GoldenMeasurement>), StructureError> {
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(SWID_NS) || root.tag_name().name() != "SoftwareIdentity" {
        return Err(err("document element", format!("<{}> is not a SWID SoftwareIdentity", root.tag_name().name())));
    }
    let mut meta = None;
    let mut payload = None;
    for child in root.children().filter(Node::is_element) {
        let (ns, name) = (child.tag_name().namespace(), child.tag_name().name());
        match (ns, name) {
            (Some(SWID_NS), "Entity") => {}
            (Some(SWID_NS), "Meta") if meta.is_none() => meta = Some(child),
            (Some(SWID_NS), "Payload") if payload.is_none() => payload = Some(child),
            (Some(DS_NS), "Signature") => {}
            _ => return Err(err("SoftwareIdentity", format!("unexpected or repeated child <{name}>"))),
        }
    }
    let meta = meta.ok_or_else(|| err("SoftwareIdentity", "no Meta element"))?;
    let payload = payload.ok_or_else(|| err("SoftwareIdentity", "no Payload element"))?;
    let attr = |n: Node<'_, '_>, element: &str, name: &str| {
        n.attribute(name).map(str::to_owned).ok_or_else(|| err(element, format!("missing attribute {name}")))
    };
    let identity = RimIdentity {
        name: attr(root, "SoftwareIdentity", "name")?,
        tag_id: attr(root, "SoftwareIdentity", "tagId")?,
        version: attr(meta, "Meta", "colloquialVersion")?,
        product: attr(meta, "Meta", "product")?,
        edition: attr(meta, "Meta", "edition")?,
        firmware_manufacturer_id: meta.attribute((TCG_RIM_NS, "FirmwareManufacturerId")).map(str::to_owned),
    };
    Ok((identity, golden(payload)?))
}

fn golden(payload: Node<'_, '_>) -> Result<Vec<GoldenMeasurement>, StructureError> {
    let mut out: Vec<GoldenMeasurement> = Vec::new();
    for resource in payload.children().filter(Node::is_element) {
        if resource.tag_name().namespace() != Some(SWID_NS) || resource.tag_name().name() != "Resource" {
            return Err(err("Payload", format!("unexpected child <{}>", resource.tag_name().name())));
        }
        if out.len() == MAX_RESOURCES {
            return Err(err("Payload", format!("more than {MAX_RESOURCES} resources")));
        }
        let m = measurement(resource)?;
        if out.iter().any(|g| g.index == m.index) {
            return Err(err(format!("Resource index {}", m.index), "index appears twice"));
        }
        out.push(m);
    }
    if out.is_empty() {
        return Err(err("Payload", "no measurements"));
    }
    Ok(out)
}

fn measurement(r: Node<'_, '_>) -> Result<GoldenMeasurement, StructureError> {
    let get = |name: &str| r.attribute(name).ok_or_else(|| err("Resource", format!("missing attribute {name}")));
    let number = |name: &str, max: usize| -> Result<usize, StructureError> {
        let v = get(name)?;
        // Plain decimal digits only: no sign, no leading zero, no whitespace (`str::parse` takes "+5").
        let canonical = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && (v == "0" || !v.starts_with('0'));
        v.parse::<usize>()
            .ok()
            .filter(|n| canonical && *n <= max)
            .ok_or_else(|| err("Resource", format!("{name}=\"{v}\" is not a number in 0..={max}")))
    };
    let index = number("index", MAX_RESOURCES - 1)?;
    let at = format!("Resource index {index}");
    if get("type")? != "Measurement" {
        return Err(err(at, "type is not Measurement"));
    }
    let active = match get("active")? {
        "True" | "true" => true,
        "False" | "false" => false,
        other => return Err(err(at, format!("active=\"{other}\" is not True or False"))),
    };
    let size = number("size", 64)?;
    let count = number("alternatives", MAX_ALTERNATIVES)?;
    if count == 0 || size == 0 {
        return Err(err(at, "alternatives and size must be at least 1"));
    }
    let hashes: Vec<_> = r.attributes().filter(|a| a.namespace() == Some(SHA384_HASH_NS)).collect();
    if hashes.len() != count {
        return Err(err(at, format!("{} Hash attributes for alternatives={count}", hashes.len())));
    }
    let mut alternatives = Vec::with_capacity(count);
    for k in 0..count {
        let name = format!("Hash{k}");
        let value =
            hashes.iter().find(|a| a.name() == name).ok_or_else(|| err(at.clone(), format!("missing {name}")))?.value();
        let bytes = hex::decode(value).map_err(|e| err(at.clone(), format!("{name} is not hex: {e}")))?;
        if bytes.len() != size {
            return Err(err(at.clone(), format!("{name} is {} bytes, size says {size}", bytes.len())));
        }
        alternatives.push(bytes);
    }
    Ok(GoldenMeasurement { index, active, name: get("name")?.to_owned(), size, alternatives })
}
