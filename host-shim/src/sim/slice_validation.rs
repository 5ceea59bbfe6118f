//! What the real API server refuses in a `resource.k8s.io/v1` ResourceSlice, for the fake one
//! ([`FakeApiServer`](super::FakeApiServer)): the rules of upstream `pkg/apis/resource/validation` (and
//! the object-meta rules of `apimachinery`) that apply to what the plugin writes, re-implemented here:
//!
//! - `metadata`: name a DNS subdomain; label keys qualified names, label values label values; owner
//!   references with `apiVersion`, `kind`, `name` and `uid`, at most one controller;
//! - `spec.driver` a DNS subdomain of at most 63 characters; `spec.pool.name` one or more DNS
//!   subdomains joined by `/`, at most 253 characters; `resourceSliceCount` > 0; `generation` ≥ 0;
//!   exactly one of `nodeName` (a DNS subdomain), `nodeSelector`, `allNodes`, `perDeviceNodeSelection`;
//! - `spec.devices`: at most [`MAX_DEVICES`], or [`MAX_DEVICES_WITH_TAINTS_OR_COUNTERS`] when any device
//!   has taints or consumes counters; names DNS labels, unique in the slice;
//! - each device: at most [`MAX_ATTRIBUTES_AND_CAPACITIES`] attributes and capacities together; their
//!   names qualified (`cIdentifier` or `domain/cIdentifier`: identifier ≤ 32, domain a DNS subdomain
//!   ≤ 63); exactly one value per attribute, a string or version at most [`MAX_ATTRIBUTE_VALUE`] bytes,
//!   a version semver 2.0.0; no capacity request policy without `allowMultipleAllocations`;
//! - taints: at most [`MAX_TAINTS_PER_DEVICE`]; key a label name, value a label value, effect
//!   `NoSchedule`, `NoExecute` or `None`;
//! - on update, `spec.driver`, `spec.pool.name` and `spec.nodeName` are immutable.
//!
//! Errors are formatted as the API server's field errors (`spec.devices: Too many: 129: must have at
//! most 128 items`) and returned as its 422 `Invalid` status. Not covered: what the plugin never writes
//! (node selectors' contents, counter sets, binding conditions, CEL), and server-side defaulting.
//!
//! Trusts: nothing; it judges JSON a test or the plugin sent.

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::resource::v1::{Device, DeviceAttribute, DeviceTaint, ResourceSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

/// Most devices in one slice (`ResourceSliceMaxDevices`).
pub const MAX_DEVICES: usize = 128;
/// Most devices in one slice when any device has taints or consumes counters
/// (`ResourceSliceMaxDevicesWithTaintsOrConsumesCounters`).
pub const MAX_DEVICES_WITH_TAINTS_OR_COUNTERS: usize = 64;
/// Most attributes and capacities of one device together
/// (`ResourceSliceMaxAttributesAndCapacitiesPerDevice`).
pub const MAX_ATTRIBUTES_AND_CAPACITIES: usize = 32;
/// Longest string or version attribute value, in bytes (`DeviceAttributeMaxValueLength`).
pub const MAX_ATTRIBUTE_VALUE: usize = 64;
/// Most taints of one device (`DeviceTaintsMaxLength`).
pub const MAX_TAINTS_PER_DEVICE: usize = 16;
/// Longest driver name (`DriverNameMaxLength`, as for CSI drivers).
pub const MAX_DRIVER_NAME: usize = 63;
/// Longest pool name (`PoolNameMaxLength`).
pub const MAX_POOL_NAME: usize = 253;
/// Longest identifier part of a qualified attribute or capacity name (`DeviceMaxIDLength`).
pub const MAX_ID: usize = 32;
/// Longest domain part of a qualified attribute or capacity name (`DeviceMaxDomainLength`).
pub const MAX_DOMAIN: usize = 63;
/// The device taint effects the API knows.
pub const TAINT_EFFECTS: [&str; 3] = ["NoExecute", "NoSchedule", "None"];

const DNS_LABEL_MAX: usize = 63;
const DNS_SUBDOMAIN_MAX: usize = 253;
const LABEL_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

/// What is wrong with a field, as the API server's `field.ErrorType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A required value is missing.
    Required,
    /// The value is malformed; the value as text.
    Invalid(String),
    /// A string is too long; the limit in bytes.
    TooLong(usize),
    /// A list or map has too many entries: how many, the limit.
    TooMany(usize, usize),
    /// A value outside a fixed set: the value.
    NotSupported(String, &'static [&'static str]),
    /// A value that must be unique is repeated: the value.
    Duplicate(String),
    /// The field may not be set or changed.
    Forbidden,
}

/// One refused field: its path (`spec.devices[3].name`), the problem and the detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path, in the API server's notation.
    pub field: String,
    /// The problem.
    pub problem: Problem,
    /// Why, in words (may be empty).
    pub detail: String,
}

impl FieldError {
    fn new(field: impl Into<String>, problem: Problem, detail: impl Into<String>) -> Self {
        Self { field: field.into(), problem, detail: detail.into() }
    }

    /// The cause's `reason` in the API server's status (`FieldValueInvalid`, …).
    pub fn reason(&self) -> &'static str {
        match self.problem {
            Problem::Required => "FieldValueRequired",
            Problem::Invalid(_) => "FieldValueInvalid",
            Problem::TooLong(_) => "FieldValueTooLong",
            Problem::TooMany(..) => "FieldValueTooMany",
            Problem::NotSupported(..) => "FieldValueNotSupported",
            Problem::Duplicate(_) => "FieldValueDuplicate",
            Problem::Forbidden => "FieldValueForbidden",
        }
    }

    /// The message without the field (`Too many: 129: must have at most 128 items`).
    pub fn body(&self) -> String {
        let with_detail = |head: String| if self.detail.is_empty() { head } else { format!("{head}: {}", self.detail) };
        match &self.problem {
            Problem::Required => with_detail("Required value".to_owned()),
            Problem::Invalid(v) => with_detail(format!("Invalid value: {v:?}")),
            Problem::TooLong(max) => format!("Too long: may not be more than {max} bytes"),
            Problem::TooMany(n, max) => format!("Too many: {n}: must have at most {max} items"),
            Problem::NotSupported(v, allowed) => {
                let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                format!("Unsupported value: {v:?}: supported values: {}", allowed.join(", "))
            }
            Problem::Duplicate(v) => format!("Duplicate value: {v:?}"),
            Problem::Forbidden => with_detail("Forbidden".to_owned()),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// The API server's answer to an invalid ResourceSlice `name`: a 422 `Invalid` status whose message and
/// causes list `errors` (non-empty).
pub fn invalid_status(name: &str, errors: &[FieldError]) -> Value {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let joined = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
    let causes: Vec<Value> =
        errors.iter().map(|e| json!({"reason": e.reason(), "message": e.body(), "field": e.field})).collect();
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("ResourceSlice.resource.k8s.io {name:?} is invalid: {joined}"),
        "reason": "Invalid",
        "details": {"name": name, "group": "resource.k8s.io", "kind": "ResourceSlice", "causes": causes},
        "code": 422})
}

/// Everything the API server would refuse in `slice` on create (`old` is `None`) or on update of `old`.
pub fn validate(slice: &ResourceSlice, old: Option<&ResourceSlice>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    object_meta(&slice.metadata, &mut errs);
    let spec = &slice.spec;
    driver_name(&spec.driver, "spec.driver", &mut errs);
    pool_name(&spec.pool.name, "spec.pool.name", &mut errs);
    if spec.pool.resource_slice_count <= 0 {
        let v = spec.pool.resource_slice_count.to_string();
        errs.push(FieldError::new("spec.pool.resourceSliceCount", Problem::Invalid(v), "must be greater than zero"));
    }
    if spec.pool.generation < 0 {
        let v = spec.pool.generation.to_string();
        errs.push(FieldError::new(
            "spec.pool.generation",
            Problem::Invalid(v),
            "must be greater than or equal to zero",
        ));
    }
    if let Some(old) = old {
        let immutable = |field: &str, same: bool, errs: &mut Vec<FieldError>| {
            if !same {
                errs.push(FieldError::new(field, Problem::Invalid(String::new()), "field is immutable"));
            }
        };
        immutable("spec.driver", spec.driver == old.spec.driver, &mut errs);
        immutable("spec.pool.name", spec.pool.name == old.spec.pool.name, &mut errs);
        immutable("spec.nodeName", spec.node_name == old.spec.node_name, &mut errs);
    }
    node_selection(slice, &mut errs);
    devices(spec.devices.as_deref().unwrap_or_default(), &mut errs);
    errs
}

fn object_meta(meta: &ObjectMeta, errs: &mut Vec<FieldError>) {
    match meta.name.as_deref() {
        None | Some("") => {
            errs.push(FieldError::new("metadata.name", Problem::Required, "name or generateName is required"))
        }
        Some(name) => dns_subdomain(name, "metadata.name", errs),
    }
    for (key, value) in meta.labels.iter().flatten() {
        label_name(key, "metadata.labels", errs);
        label_value(value, &format!("metadata.labels[{key}]"), errs);
    }
    let owners = meta.owner_references.as_deref().unwrap_or_default();
    for (i, o) in owners.iter().enumerate() {
        let at = format!("metadata.ownerReferences[{i}]");
        for (field, value) in [("apiVersion", &o.api_version), ("kind", &o.kind), ("name", &o.name), ("uid", &o.uid)] {
            if value.is_empty() {
                errs.push(FieldError::new(
                    format!("{at}.{field}"),
                    Problem::Invalid(String::new()),
                    format!("{field} must not be empty"),
                ));
            }
        }
    }
    let controllers = owners.iter().filter(|o| o.controller == Some(true)).count();
    if controllers > 1 {
        errs.push(FieldError::new(
            "metadata.ownerReferences",
            Problem::Invalid(controllers.to_string()),
            "Only one reference can have Controller set to true",
        ));
    }
}

fn node_selection(slice: &ResourceSlice, errs: &mut Vec<FieldError>) {
    let spec = &slice.spec;
    let mut set = Vec::new();
    match spec.node_name.as_deref() {
        Some("") => errs.push(FieldError::new(
            "spec.nodeName",
            Problem::Invalid(String::new()),
            "must be either unset or set to a non-empty string",
        )),
        Some(node) => {
            set.push("`nodeName`");
            dns_subdomain(node, "spec.nodeName", errs);
        }
        None => {}
    }
    if spec.node_selector.is_some() {
        set.push("`nodeSelector`");
    }
    // Flags that may only be unset or true.
    for (value, field, name) in [
        (spec.all_nodes, "spec.allNodes", "`allNodes`"),
        (spec.per_device_node_selection, "spec.perDeviceNodeSelection", "`perDeviceNodeSelection`"),
    ] {
        match value {
            Some(true) => set.push(name),
            Some(false) => errs.push(FieldError::new(
                field,
                Problem::Invalid("false".into()),
                "must be either unset or set to true",
            )),
            None => {}
        }
    }
    const ONE_OF: &str = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required";
    match set.len() {
        0 => errs.push(FieldError::new("spec", Problem::Required, ONE_OF)),
        1 => {}
        _ => errs.push(FieldError::new(
            "spec",
            Problem::Invalid(format!("{{{}}}", set.join(", "))),
            format!("{ONE_OF}, but multiple fields are set"),
        )),
    }
}

fn has_taints(d: &Device) -> bool {
    d.taints.as_ref().is_some_and(|t| !t.is_empty())
}

fn consumes_counters(d: &Device) -> bool {
    d.consumes_counters.as_ref().is_some_and(|c| !c.is_empty())
}

fn devices(devices: &[Device], errs: &mut Vec<FieldError>) {
    let max = if devices.iter().any(|d| has_taints(d) || consumes_counters(d)) {
        MAX_DEVICES_WITH_TAINTS_OR_COUNTERS
    } else {
        MAX_DEVICES
    };
    if devices.len() > max {
        // The API server stops here (a bound on the work an oversized request causes).
        errs.push(FieldError::new("spec.devices", Problem::TooMany(devices.len(), max), ""));
        return;
    }
    let mut seen = BTreeSet::new();
    for (i, d) in devices.iter().enumerate() {
        let at = format!("spec.devices[{i}]");
        device(d, &at, errs);
        if !seen.insert(d.name.as_str()) {
            errs.push(FieldError::new(at, Problem::Duplicate(d.name.clone()), ""));
        }
    }
}

fn device(d: &Device, at: &str, errs: &mut Vec<FieldError>) {
    dns_label(&d.name, &format!("{at}.name"), errs);
    let attributes = d.attributes.as_ref();
    let capacity = d.capacity.as_ref();
    let count = attributes.map_or(0, |a| a.len()) + capacity.map_or(0, |c| c.len());
    if count > MAX_ATTRIBUTES_AND_CAPACITIES {
        errs.push(FieldError::new(
            at,
            Problem::Invalid(count.to_string()),
            format!("the total number of attributes and capacities must not exceed {MAX_ATTRIBUTES_AND_CAPACITIES}"),
        ));
    }
    for (name, value) in attributes.into_iter().flatten() {
        qualified_name(name, &format!("{at}.attributes"), errs);
        attribute(value, &format!("{at}.attributes[{name}]"), errs);
    }
    let multiple = d.allow_multiple_allocations == Some(true);
    for (name, value) in capacity.into_iter().flatten() {
        qualified_name(name, &format!("{at}.capacity"), errs);
        if value.request_policy.is_some() && !multiple {
            errs.push(FieldError::new(
                format!("{at}.capacity[{name}].requestPolicy"),
                Problem::Forbidden,
                "allowMultipleAllocations must be true",
            ));
        }
    }
    let taints = d.taints.as_deref().unwrap_or_default();
    if taints.len() > MAX_TAINTS_PER_DEVICE {
        errs.push(FieldError::new(format!("{at}.taints"), Problem::TooMany(taints.len(), MAX_TAINTS_PER_DEVICE), ""));
    } else {
        for (i, t) in taints.iter().enumerate() {
            taint(t, &format!("{at}.taints[{i}]"), errs);
        }
    }
}

fn attribute(a: &DeviceAttribute, at: &str, errs: &mut Vec<FieldError>) {
    let set = [a.bool.is_some(), a.int.is_some(), a.string.is_some(), a.version.is_some()];
    if set.iter().filter(|s| **s).count() != 1 {
        errs.push(FieldError::new(at, Problem::Invalid(String::new()), "exactly one value must be specified"));
    }
    if let Some(s) = &a.string
        && s.len() > MAX_ATTRIBUTE_VALUE
    {
        errs.push(FieldError::new(format!("{at}.string"), Problem::TooLong(MAX_ATTRIBUTE_VALUE), ""));
    }
    if let Some(v) = &a.version {
        if !semver(v) {
            errs.push(FieldError::new(
                format!("{at}.version"),
                Problem::Invalid(v.clone()),
                "must be a string compatible with semver.org spec 2.0.0",
            ));
        }
        if v.len() > MAX_ATTRIBUTE_VALUE {
            errs.push(FieldError::new(format!("{at}.version"), Problem::TooLong(MAX_ATTRIBUTE_VALUE), ""));
        }
    }
}

fn taint(t: &DeviceTaint, at: &str, errs: &mut Vec<FieldError>) {
    label_name(&t.key, &format!("{at}.key"), errs);
    if let Some(v) = t.value.as_deref().filter(|v| !v.is_empty()) {
        label_value(v, &format!("{at}.value"), errs);
    }
    if t.effect.is_empty() {
        errs.push(FieldError::new(format!("{at}.effect"), Problem::Required, ""));
    } else if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
        errs.push(FieldError::new(format!("{at}.effect"), Problem::NotSupported(t.effect.clone(), &TAINT_EFFECTS), ""));
    }
}

// --- name formats (apimachinery's `IsDNS1123Label`, `IsDNS1123Subdomain`, `IsQualifiedName`, …) ---

fn alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, without the length limit.
fn dns_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|c| alnum_lower(*c))
        && b.last().is_some_and(|c| alnum_lower(*c))
        && b.iter().all(|c| alnum_lower(*c) || *c == b'-')
}

/// Records `s` breaking a name format: longer than `max`, or not `well_formed` (`rule` says what the format
/// is).
fn name_format(s: &str, max: usize, well_formed: bool, rule: &str, at: &str, errs: &mut Vec<FieldError>) {
    if s.len() > max {
        errs.push(FieldError::new(
            at,
            Problem::Invalid(s.to_owned()),
            format!("must be no more than {max} characters"),
        ));
    }
    if !well_formed {
        errs.push(FieldError::new(at, Problem::Invalid(s.to_owned()), rule));
    }
}

fn dns_label(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    let rule = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must \
                start and end with an alphanumeric character";
    name_format(s, DNS_LABEL_MAX, dns_label_chars(s), rule, at, errs);
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= DNS_SUBDOMAIN_MAX && s.split('.').all(dns_label_chars)
}

fn dns_subdomain(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    let rule = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
                and must start and end with an alphanumeric character";
    name_format(s, DNS_SUBDOMAIN_MAX, s.split('.').all(dns_label_chars), rule, at, errs);
}

/// Records a missing or over-long `s`; false when it is missing (nothing more to check).
fn present_within(s: &str, max: usize, at: &str, errs: &mut Vec<FieldError>) -> bool {
    if s.is_empty() {
        errs.push(FieldError::new(at, Problem::Required, ""));
        return false;
    }
    if s.len() > max {
        errs.push(FieldError::new(at, Problem::TooLong(max), ""));
    }
    true
}

fn driver_name(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    if present_within(s, MAX_DRIVER_NAME, at, errs) {
        // As upstream: the name is checked in lower case (upper case is discouraged, not refused).
        dns_subdomain(&s.to_ascii_lowercase(), at, errs);
    }
}

fn pool_name(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    if present_within(s, MAX_POOL_NAME, at, errs) {
        for part in s.split('/') {
            dns_subdomain(part, at, errs);
        }
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, without the length limit.
fn label_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A label key (a qualified name): `[prefix/]name`, the prefix a DNS subdomain, the name at most 63
/// characters of [`label_name_chars`].
fn label_name(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let ok = prefix.is_none_or(|p| !p.is_empty() && is_dns_subdomain(p))
        && !name.contains('/')
        && name.len() <= LABEL_NAME_MAX
        && label_name_chars(name);
    if !ok {
        errs.push(FieldError::new(
            at,
            Problem::Invalid(s.to_owned()),
            "name part must consist of at most 63 alphanumeric characters, '-', '_' or '.', and must start and end \
             with an alphanumeric character, with an optional DNS subdomain prefix and '/'",
        ));
    }
}

fn label_value(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    let rule = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', \
                and must start and end with an alphanumeric character";
    name_format(s, LABEL_VALUE_MAX, s.is_empty() || label_name_chars(s), rule, at, errs);
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn c_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn identifier(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    if s.len() > MAX_ID {
        errs.push(FieldError::new(at, Problem::TooLong(MAX_ID), ""));
    }
    if !c_identifier(s) {
        errs.push(FieldError::new(
            at,
            Problem::Invalid(s.to_owned()),
            "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric \
             characters or '_'",
        ));
    }
}

/// An attribute or capacity name: a C identifier, or `domain/identifier`.
fn qualified_name(s: &str, at: &str, errs: &mut Vec<FieldError>) {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [id] => identifier(id, at, errs),
        [domain, id] => {
            if domain.is_empty() {
                errs.push(FieldError::new(at, Problem::Invalid(String::new()), "the domain must not be empty"));
            } else {
                if domain.len() > MAX_DOMAIN {
                    errs.push(FieldError::new(at, Problem::TooLong(MAX_DOMAIN), ""));
                }
                dns_subdomain(&domain.to_ascii_lowercase(), at, errs);
            }
            if id.is_empty() {
                errs.push(FieldError::new(at, Problem::Invalid(String::new()), "the name must not be empty"));
            } else {
                identifier(id, at, errs);
            }
        }
        _ => errs.push(FieldError::new(at, Problem::Invalid(s.to_owned()), "must not contain more than one slash")),
    }
}

/// Semantic versioning 2.0.0: `MAJOR.MINOR.PATCH[-pre.release][+build.meta]`, numbers without leading
/// zeros, numeric pre-release identifiers without leading zeros.
fn semver(s: &str) -> bool {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numeric = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0'));
    let ident = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let core: Vec<&str> = core.split('.').collect();
    core.len() == 3
        && core.iter().all(|t| numeric(t))
        && pre.is_none_or(|p| p.split('.').all(|t| ident(t) && (numeric(t) || !t.bytes().all(|b| b.is_ascii_digit()))))
        && build.is_none_or(|b| b.split('.').all(ident))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::resource::v1::{CapacityRequestPolicy, DeviceCapacity, DeviceCounterConsumption};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;
    use crate::publish::{resource_slices, slices};

    fn string(s: &str) -> DeviceAttribute {
        DeviceAttribute { string: Some(s.to_owned()), ..DeviceAttribute::default() }
    }

    /// A device as the plugin publishes it.
    fn gpu(i: usize) -> Device {
        let int = |i: i64| DeviceAttribute { int: Some(i), ..DeviceAttribute::default() };
        Device {
            name: format!("gpu-0000-{i:02x}-00-0"),
            attributes: Some(BTreeMap::from([
                ("type".to_owned(), string("gpu")),
                ("resource.kubernetes.io/pciBusID".to_owned(), string("0000:18:00.0")),
                ("productName".to_owned(), string("H200 SXM 141GB")),
                ("iommuGroup".to_owned(), int(11)),
                ("ccCapable".to_owned(), DeviceAttribute { bool: Some(true), ..DeviceAttribute::default() }),
            ])),
            capacity: Some(BTreeMap::from([(
                "memory".to_owned(),
                DeviceCapacity { value: Quantity("141Gi".into()), request_policy: None },
            )])),
            ..Device::default()
        }
    }

    fn tainted(mut d: Device) -> Device {
        d.taints = Some(vec![DeviceTaint {
            key: slices::preflight_taint_key("gpu.ccgpu.dev"),
            value: Some("report-signature".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        }]);
        d
    }

    /// One slice as the plugin writes it, holding `devices` (unsplit).
    fn slice_of(devices: Vec<Device>) -> ResourceSlice {
        let owner = slices::node_owner("node-a", "0f5ab6c2-8e0b-4a0e-9a65-6f0d2b3c4d5e");
        let mut s = resource_slices("gpu.ccgpu.dev", "node-a", Some(&owner), 1, &[]).remove(0);
        s.spec.devices = Some(devices);
        s
    }

    fn slice() -> ResourceSlice {
        slice_of((0..4).map(gpu).collect())
    }

    fn device0(s: &mut ResourceSlice) -> &mut Device {
        &mut s.spec.devices.as_mut().expect("devices")[0]
    }

    /// The errors `s` gets, which must include one for `field`; that one.
    #[track_caller]
    fn refused(s: &ResourceSlice, field: &str) -> FieldError {
        let errs = validate(s, None);
        errs.iter().find(|e| e.field == field).cloned().unwrap_or_else(|| {
            panic!("no error for {field}; got {:?}", errs.iter().map(ToString::to_string).collect::<Vec<_>>())
        })
    }

    #[track_caller]
    fn accepted(s: &ResourceSlice) {
        let errs: Vec<String> = validate(s, None).iter().map(ToString::to_string).collect();
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn what_the_plugin_writes_is_accepted() {
        accepted(&slice());
        accepted(&slice_of(vec![tainted(gpu(0)), gpu(1)]));
        accepted(&slice_of(Vec::new()));
    }

    #[test]
    fn the_object_name_is_a_dns_subdomain() {
        for bad in ["Node-a-gpu.ccgpu.dev-0", "a_b", "-a", "a.", "a..b", &"a".repeat(254)] {
            let mut s = slice();
            s.metadata.name = Some(bad.to_owned());
            assert!(matches!(refused(&s, "metadata.name").problem, Problem::Invalid(_)), "{bad}");
        }
        let mut s = slice();
        s.metadata.name = Some("a".repeat(253));
        accepted(&s);
        s.metadata.name = None;
        assert_eq!(refused(&s, "metadata.name").problem, Problem::Required);
    }

    #[test]
    fn labels_and_owner_references_follow_the_object_meta_rules() {
        let mut s = slice();
        s.metadata.labels = Some(BTreeMap::from([("bad key!".to_owned(), "v".to_owned())]));
        refused(&s, "metadata.labels");
        s.metadata.labels = Some(BTreeMap::from([("k".to_owned(), "bad value".to_owned())]));
        refused(&s, "metadata.labels[k]");
        s.metadata.labels = Some(BTreeMap::from([("k".to_owned(), "v".repeat(64))]));
        refused(&s, "metadata.labels[k]");

        // A Node read without a uid would give an owner reference the API server refuses.
        let mut s = slice();
        s.metadata.owner_references = Some(vec![slices::node_owner("node-a", "")]);
        refused(&s, "metadata.ownerReferences[0].uid");
        let mut s = slice();
        let owner = slices::node_owner("node-a", "u");
        s.metadata.owner_references = Some(vec![owner.clone(), owner]);
        refused(&s, "metadata.ownerReferences");
    }

    #[test]
    fn the_driver_is_a_dns_subdomain_of_at_most_63_characters() {
        for bad in ["gpu_ccgpu.dev", "gpu.ccgpu.dev.", "-gpu", "gpu/ccgpu"] {
            let mut s = slice();
            s.spec.driver = bad.to_owned();
            refused(&s, "spec.driver");
        }
        let mut s = slice();
        s.spec.driver = format!("{}.dev", "a".repeat(60));
        assert_eq!(refused(&s, "spec.driver").problem, Problem::TooLong(63));
        s.spec.driver = String::new();
        assert_eq!(refused(&s, "spec.driver").problem, Problem::Required);
    }

    #[test]
    fn the_pool_has_a_valid_name_a_slice_count_and_a_generation() {
        for bad in ["Node-A", "a//b", "a/", "node_a"] {
            let mut s = slice();
            s.spec.pool.name = bad.to_owned();
            refused(&s, "spec.pool.name");
        }
        let mut s = slice();
        s.spec.pool.name = "rack-1/node-a".to_owned();
        accepted(&s);
        s.spec.pool.name = ["a"; 128].join("/");
        assert_eq!(refused(&s, "spec.pool.name").problem, Problem::TooLong(253));
        let mut s = slice();
        s.spec.pool.resource_slice_count = 0;
        refused(&s, "spec.pool.resourceSliceCount");
        let mut s = slice();
        s.spec.pool.generation = -1;
        refused(&s, "spec.pool.generation");
    }

    #[test]
    fn exactly_one_node_selection_and_the_node_name_is_a_dns_subdomain() {
        let mut s = slice();
        s.spec.node_name = None;
        assert_eq!(refused(&s, "spec").problem, Problem::Required);
        let mut s = slice();
        s.spec.all_nodes = Some(true);
        assert!(matches!(refused(&s, "spec").problem, Problem::Invalid(_)));
        let mut s = slice();
        s.spec.node_name = Some("Node_A".into());
        refused(&s, "spec.nodeName");
        s.spec.node_name = Some(String::new());
        refused(&s, "spec.nodeName");
    }

    #[test]
    fn at_most_128_devices_or_64_with_taints_or_counters() {
        accepted(&slice_of((0..128).map(gpu).collect()));
        let e = refused(&slice_of((0..129).map(gpu).collect()), "spec.devices");
        assert_eq!(e.to_string(), "spec.devices: Too many: 129: must have at most 128 items");

        let with_taint = |n: usize| slice_of((0..n).map(|i| if i == 3 { tainted(gpu(i)) } else { gpu(i) }).collect());
        accepted(&with_taint(64));
        assert_eq!(refused(&with_taint(65), "spec.devices").problem, Problem::TooMany(65, 64));

        let mut s = slice_of((0..65).map(gpu).collect());
        device0(&mut s).consumes_counters =
            Some(vec![DeviceCounterConsumption { counter_set: "memory".into(), counters: BTreeMap::new() }]);
        assert_eq!(refused(&s, "spec.devices").problem, Problem::TooMany(65, 64));
    }

    #[test]
    fn device_names_are_unique_dns_labels() {
        for bad in ["GPU-0", "gpu.0", "gpu_0", "", &"g".repeat(64)] {
            let mut s = slice();
            device0(&mut s).name = bad.to_owned();
            refused(&s, "spec.devices[0].name");
        }
        let mut s = slice();
        device0(&mut s).name = "g".repeat(63);
        accepted(&s);
        let mut s = slice_of(vec![gpu(0), gpu(0)]);
        assert_eq!(refused(&s, "spec.devices[1]").problem, Problem::Duplicate("gpu-0000-00-00-0".into()));
        s.spec.devices = Some(vec![gpu(0), gpu(1)]);
        accepted(&s);
    }

    #[test]
    fn attribute_and_capacity_names_are_qualified() {
        for bad in ["1abc", "a-b", "a.b", "a/b/c", "/x", "x/", "Bad_Domain/x", "gpu.ccgpu.dev/pci-bus"] {
            let mut s = slice();
            device0(&mut s).attributes.as_mut().expect("attributes").insert(bad.to_owned(), string("x"));
            refused(&s, "spec.devices[0].attributes");
        }
        let mut s = slice();
        device0(&mut s).attributes.as_mut().expect("attributes").insert("a".repeat(33), string("x"));
        assert_eq!(refused(&s, "spec.devices[0].attributes").problem, Problem::TooLong(32));
        let mut s = slice();
        let long_domain = format!("{}.dev/x", "a".repeat(60));
        device0(&mut s).attributes.as_mut().expect("attributes").insert(long_domain, string("x"));
        assert_eq!(refused(&s, "spec.devices[0].attributes").problem, Problem::TooLong(63));
        let mut s = slice();
        let capacity = DeviceCapacity { value: Quantity("1".into()), request_policy: None };
        device0(&mut s).capacity.as_mut().expect("capacity").insert("bad-name".to_owned(), capacity);
        refused(&s, "spec.devices[0].capacity");
        let mut s = slice();
        for good in ["_x", "x9", "a".repeat(32).as_str(), "gpu.ccgpu.dev/ccMode"] {
            device0(&mut s).attributes.as_mut().expect("attributes").insert(good.to_owned(), string("x"));
        }
        accepted(&s);
    }

    #[test]
    fn an_attribute_has_exactly_one_value_within_the_limits() {
        let set = |a: DeviceAttribute| {
            let mut s = slice();
            device0(&mut s).attributes.as_mut().expect("attributes").insert("x".to_owned(), a);
            s
        };
        refused(&set(DeviceAttribute::default()), "spec.devices[0].attributes[x]");
        refused(
            &set(DeviceAttribute { int: Some(1), bool: Some(true), ..DeviceAttribute::default() }),
            "spec.devices[0].attributes[x]",
        );
        let e = refused(&set(string(&"é".repeat(33))), "spec.devices[0].attributes[x].string");
        assert_eq!(e.to_string(), "spec.devices[0].attributes[x].string: Too long: may not be more than 64 bytes");
        accepted(&set(string(&"x".repeat(64))));
        let version = |v: &str| set(DeviceAttribute { version: Some(v.to_owned()), ..DeviceAttribute::default() });
        for bad in ["1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "v1.2.3", "1.2.3-a..b"] {
            refused(&version(bad), "spec.devices[0].attributes[x].version");
        }
        for good in ["1.2.3", "0.0.0", "1.2.3-rc.1", "1.2.3-0a.x-y+build.5", "550.90.7"] {
            accepted(&version(good));
        }
    }

    #[test]
    fn at_most_32_attributes_and_capacities_together() {
        let mut s = slice();
        let d = device0(&mut s);
        let attributes = d.attributes.as_mut().expect("attributes");
        for i in attributes.len()..31 {
            attributes.insert(format!("a{i}"), string("x"));
        }
        accepted(&s);
        device0(&mut s).attributes.as_mut().expect("attributes").insert("a31".to_owned(), string("x"));
        let e = refused(&s, "spec.devices[0]");
        assert_eq!(e.problem, Problem::Invalid("33".into()));
    }

    #[test]
    fn a_capacity_request_policy_needs_multiple_allocations() {
        let mut s = slice();
        let policy = Some(CapacityRequestPolicy::default());
        device0(&mut s).capacity.as_mut().expect("capacity").get_mut("memory").expect("memory").request_policy = policy;
        assert_eq!(refused(&s, "spec.devices[0].capacity[memory].requestPolicy").problem, Problem::Forbidden);
        device0(&mut s).allow_multiple_allocations = Some(true);
        accepted(&s);
    }

    #[test]
    fn taints_have_a_label_key_a_label_value_and_a_known_effect() {
        let with = |key: &str, value: Option<&str>, effect: &str| {
            let mut s = slice();
            device0(&mut s).taints = Some(vec![DeviceTaint {
                key: key.to_owned(),
                value: value.map(str::to_owned),
                effect: effect.to_owned(),
                time_added: None,
            }]);
            s
        };
        let key = slices::preflight_taint_key("gpu.ccgpu.dev");
        accepted(&with(&key, Some("report-signature"), "NoSchedule"));
        accepted(&with("health", None, "NoExecute"));
        accepted(&with("health", Some(""), "None"));
        for bad in ["bad key", "a/b/c", "-x", "Gpu.Dev/x", "gpu.ccgpu.dev/", &"k".repeat(64), ""] {
            refused(&with(bad, None, "NoSchedule"), "spec.devices[0].taints[0].key");
        }
        for bad in ["bad value", "-x", "x-", &"v".repeat(64)] {
            refused(&with(&key, Some(bad), "NoSchedule"), "spec.devices[0].taints[0].value");
        }
        let e = refused(&with(&key, None, "Evict"), "spec.devices[0].taints[0].effect");
        assert_eq!(
            e.to_string(),
            "spec.devices[0].taints[0].effect: Unsupported value: \"Evict\": supported values: \"NoExecute\", \
             \"NoSchedule\", \"None\""
        );
        assert_eq!(refused(&with(&key, None, ""), "spec.devices[0].taints[0].effect").problem, Problem::Required);

        let mut s = with(&key, None, "NoSchedule");
        let taint = device0(&mut s).taints.as_ref().expect("taints")[0].clone();
        device0(&mut s).taints = Some(vec![taint; 17]);
        assert_eq!(refused(&s, "spec.devices[0].taints").problem, Problem::TooMany(17, 16));
    }

    #[test]
    fn an_update_keeps_the_driver_the_pool_and_the_node() {
        let old = slice();
        assert!(validate(&old, Some(&old)).is_empty());
        for (field, change) in [
            (
                "spec.driver",
                (|s: &mut ResourceSlice| s.spec.driver = "other.ccgpu.dev".into()) as fn(&mut ResourceSlice),
            ),
            ("spec.pool.name", |s| s.spec.pool.name = "node-b".into()),
            ("spec.nodeName", |s| s.spec.node_name = Some("node-b".into())),
        ] {
            let mut new = old.clone();
            change(&mut new);
            let errs = validate(&new, Some(&old));
            assert!(errs.iter().any(|e| e.field == field && e.detail == "field is immutable"), "{field}: {errs:?}");
        }
    }

    #[test]
    fn the_answer_is_the_api_servers_422_invalid_status() {
        let errs = validate(&slice_of((0..129).map(gpu).collect()), None);
        let status = invalid_status("node-a-gpu.ccgpu.dev-0", &errs);
        assert_eq!(status["code"], 422);
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(
            status["message"],
            "ResourceSlice.resource.k8s.io \"node-a-gpu.ccgpu.dev-0\" is invalid: spec.devices: Too many: 129: must \
             have at most 128 items"
        );
        assert_eq!(status["details"]["kind"], "ResourceSlice");
        assert_eq!(
            status["details"]["causes"],
            json!([{"reason": "FieldValueTooMany", "message": "Too many: 129: must have at most 128 items",
                "field": "spec.devices"}])
        );
        let mut s = slice();
        s.spec.driver = String::new();
        s.spec.pool.generation = -1;
        let errs = validate(&s, None);
        let message = invalid_status("x", &errs)["message"].as_str().unwrap_or_default().to_owned();
        assert!(
            message.starts_with("ResourceSlice.resource.k8s.io \"x\" is invalid: [spec.driver: Required value, "),
            "{message}"
        );
    }
}
