//! Canonical XML 1.1 (inclusive, without comments) over a parsed document, for the two node-sets an
//! enveloped XML-DSig over a whole document needs: the whole document minus the `Signature` element
//! (the reference digest), and the `SignedInfo` subtree in its document context (the signed bytes).
//!
//! Trusts nothing about the input but what [`roxmltree`] guarantees (well-formed XML, no DTD, resolved
//! character references, normalised attribute values). Qualified names are copied from the source so the
//! original prefixes survive even where two prefixes bind the same namespace, as in NVIDIA's RIMs.
//! Documents using `xml:*` attributes are refused: C14N 1.1's special inheritance rules for them are never
//! needed by the RIM profile, so we do not implement them rather than implement them half-way.

use roxmltree::{Document, Node, NodeId, NodeType};
use thiserror::Error;

/// The namespace bound to the `xml` prefix.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Input the canonicalizer refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum C14nError {
    /// An `xml:*` attribute (outside the profile).
    #[error("xml:{0} attributes are outside the supported profile")]
    XmlAttribute(String),
    /// A qualified name we could not recover from the source text.
    #[error("cannot recover the qualified name of <{0}> from the source")]
    QName(String),
}

/// Canonicalizes the whole document, leaving out the subtree rooted at `exclude`.
pub fn document(doc: &Document<'_>, exclude: Option<NodeId>, out: &mut Vec<u8>) -> Result<(), C14nError> {
    let mut after_root = false;
    for child in doc.root().children() {
        match child.node_type() {
            NodeType::Element => {
                element(doc, child, None, exclude, out)?;
                after_root = true;
            }
            NodeType::PI => {
                if after_root {
                    out.push(b'\n');
                }
                pi(child, out);
                if !after_root {
                    out.push(b'\n');
                }
            }
            // Comments are not rendered; text outside the document element does not exist in the model.
            _ => {}
        }
    }
    Ok(())
}

/// Canonicalizes the subtree rooted at `apex` as a document subset (its ancestors are not in the
/// node-set), which renders every namespace in scope at `apex` on `apex` itself.
pub fn subtree(doc: &Document<'_>, apex: Node<'_, '_>, out: &mut Vec<u8>) -> Result<(), C14nError> {
    element(doc, apex, None, None, out)
}

/// Renders `node`; `parent` is the nearest rendered ancestor element (None at the apex).
fn element(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    parent: Option<Node<'_, '_>>,
    exclude: Option<NodeId>,
    out: &mut Vec<u8>,
) -> Result<(), C14nError> {
    if Some(node.id()) == exclude {
        return Ok(());
    }
    let qname = element_qname(doc, node)?;
    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());

    // Namespace declarations: those in scope here that the rendered parent does not already have.
    let mut decls: Vec<(&str, &str)> = Vec::new();
    for ns in node.namespaces() {
        let prefix = ns.name().unwrap_or("");
        if prefix == "xml" {
            continue;
        }
        let inherited =
            parent.is_some_and(|p| p.namespaces().any(|pns| pns.name() == ns.name() && pns.uri() == ns.uri()));
        if !inherited && !(prefix.is_empty() && ns.uri().is_empty()) {
            decls.push((prefix, ns.uri()));
        }
    }
    // xmlns="" when this element has no default namespace but the rendered parent had one.
    let has_default = node.namespaces().any(|ns| ns.name().is_none() && !ns.uri().is_empty());
    let parent_default = parent.is_some_and(|p| p.namespaces().any(|ns| ns.name().is_none() && !ns.uri().is_empty()));
    if !has_default && parent_default {
        decls.push(("", ""));
    }
    decls.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (prefix, uri) in decls {
        if prefix.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attr(uri, out);
        out.push(b'"');
    }

    // Attributes sorted by (namespace URI, local name); unqualified ones have the empty URI and sort first.
    let mut attrs: Vec<_> = node.attributes().collect();
    if let Some(a) = attrs.iter().find(|a| a.namespace() == Some(XML_NS)) {
        return Err(C14nError::XmlAttribute(a.name().to_owned()));
    }
    attrs
        .sort_unstable_by(|a, b| (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name())));
    for a in attrs {
        out.push(b' ');
        out.extend_from_slice(doc.input_text()[a.range_qname()].as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(a.value(), out);
        out.push(b'"');
    }
    out.push(b'>');

    for child in node.children() {
        match child.node_type() {
            NodeType::Element => element(doc, child, Some(node), exclude, out)?,
            NodeType::Text => escape_text(child.text().unwrap_or(""), out),
            NodeType::PI => pi(child, out),
            NodeType::Comment | NodeType::Root => {}
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(qname.as_bytes());
    out.push(b'>');
    Ok(())
}

/// The element's qualified name exactly as written in the source start tag.
fn element_qname<'d>(doc: &'d Document<'_>, node: Node<'_, '_>) -> Result<&'d str, C14nError> {
    let text = doc.input_text();
    let start = node.range().start + 1;
    let rest = text.get(start..).unwrap_or("");
    let end = rest.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(rest.len());
    let qname = &rest[..end];
    let local = qname.rsplit(':').next().unwrap_or(qname);
    if local != node.tag_name().name() {
        return Err(C14nError::QName(node.tag_name().name().to_owned()));
    }
    Ok(qname)
}

fn pi(node: Node<'_, '_>, out: &mut Vec<u8>) {
    if let Some(pi) = node.pi() {
        out.extend_from_slice(b"<?");
        out.extend_from_slice(pi.target.as_bytes());
        if let Some(value) = pi.value.filter(|v| !v.is_empty()) {
            out.push(b' ');
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(b"?>");
    }
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}
