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
        if !(inherited || prefix.is_empty() && ns.uri().is_empty()) {
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

#[cfg(test)]
mod tests {
    //! Known answers from the W3C Canonical XML specification's examples (§3 of C14N 1.0, repeated in
    //! C14N 1.1, whose output is identical for documents without `xml:*` attributes), with the parts that
    //! need a DTD left out (the verifier refuses DTDs), and document-subset cases worked out from the
    //! spec's rules for an apex whose ancestors are not in the node-set.

    use super::*;

    fn parse(xml: &str) -> Document<'_> {
        Document::parse(xml).expect("well-formed test input")
    }

    fn canonical(xml: &str) -> String {
        let doc = parse(xml);
        let mut out = Vec::new();
        document(&doc, None, &mut out).expect("canonicalizes");
        String::from_utf8(out).expect("UTF-8")
    }

    fn subset(xml: &str, apex: &str) -> String {
        let doc = parse(xml);
        let node = doc.descendants().find(|n| n.is_element() && n.tag_name().name() == apex).expect("apex");
        let mut out = Vec::new();
        subtree(&doc, node, &mut out).expect("canonicalizes");
        String::from_utf8(out).expect("UTF-8")
    }

    /// §3.1 PIs, comments, and outside of the document element (DOCTYPE removed).
    #[test]
    fn spec_3_1_pis_comments_outside_document_element() {
        let input = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n\
                     <doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->";
        let expected = "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>";
        assert_eq!(canonical(input), expected);
    }

    /// §3.2 Whitespace in document content: kept exactly.
    #[test]
    fn spec_3_2_whitespace_in_content() {
        let doc = "<doc>\n   <clean>   </clean>\n   <dirty>   A   B   </dirty>\n   <mixed>\n      A\n      <clean>   </clean>\n      B\n      \
                   <dirty>   A   B   </dirty>\n      C\n   </mixed>\n</doc>";
        assert_eq!(canonical(&format!("<?xml version=\"1.0\"?>\n{doc}")), doc);
    }

    /// §3.3 Start and end tags: empty elements expanded, attributes and namespace declarations sorted,
    /// superfluous declarations removed, `xmlns=""` only where it undoes a rendered default. (The spec's
    /// `e9 attr="default"` comes from its DTD and is not here.)
    #[test]
    fn spec_3_3_start_and_end_tags() {
        let input = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
        assert_eq!(canonical(input), expected);
    }

    /// §3.4 Character modifications and character references (the elements whose attribute types come
    /// from the spec's DTD are left out).
    #[test]
    fn spec_3_4_character_modifications() {
        let input = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   \
                     <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   \
                     <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   \
                     <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n</doc>";
        let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   \
                        <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   \
                        <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   \
                        <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
        assert_eq!(canonical(input), expected);
    }

    /// §3.6 UTF-8 encoding: character references become UTF-8 characters.
    #[test]
    fn spec_3_6_utf8() {
        assert_eq!(canonical("<?xml version=\"1.0\"?><doc>&#169;</doc>").as_bytes(), b"<doc>\xc2\xa9</doc>");
    }

    /// Literal tabs, newlines and carriage returns in attribute values are normalized to spaces by the
    /// parser; written as character references they survive and are escaped.
    #[test]
    fn attribute_and_text_escaping() {
        assert_eq!(canonical("<a b=\"x\ty\nz\"/>"), "<a b=\"x y z\"></a>");
        assert_eq!(
            canonical("<a b=\"&lt;&amp;&quot;&#9;&#10;&#13;>'\"/>"),
            "<a b=\"&lt;&amp;&quot;&#x9;&#xA;&#xD;>'\"></a>"
        );
        assert_eq!(canonical("<a>&lt;&amp;&gt;\"'&#13;\t</a>"), "<a>&lt;&amp;&gt;\"'&#xD;\t</a>");
        assert_eq!(canonical("<a>x\r\ny\rz</a>"), "<a>x\ny\nz</a>");
    }

    /// Attributes sort by (namespace URI, local name), unqualified ones first; the prefix plays no part.
    #[test]
    fn attribute_order_is_by_namespace_uri_then_local_name() {
        let input = r#"<r xmlns:z="urn:a" xmlns:a="urn:b" a:x="1" z:y="2" z:b="3" c="4" b="5"/>"#;
        assert_eq!(canonical(input), r#"<r xmlns:a="urn:b" xmlns:z="urn:a" b="5" c="4" z:b="3" z:y="2" a:x="1"></r>"#);
    }

    /// A document subset whose apex has unrendered ancestors gets every namespace in scope — inherited
    /// ones included, used or not (inclusive C14N) — and its descendants get none of them again. This is
    /// how `SignedInfo` is canonicalized for the signature.
    #[test]
    fn subset_apex_inherits_every_namespace_in_scope() {
        let input = r#"<root xmlns="http://example.org/default" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:unused="urn:u">
  <ds:Signature>
    <ds:SignedInfo b="2" a="1"><ds:Ref  URI=""/>
    </ds:SignedInfo>
  </ds:Signature>
</root>"#;
        assert_eq!(
            subset(input, "SignedInfo"),
            "<ds:SignedInfo xmlns=\"http://example.org/default\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" \
             xmlns:unused=\"urn:u\" a=\"1\" b=\"2\"><ds:Ref URI=\"\"></ds:Ref>\n    </ds:SignedInfo>"
        );
        // A redeclaration on the apex with the same value is the same namespace node: rendered once.
        let redeclared = r#"<r xmlns:p="urn:p"><p:a xmlns:p="urn:p"><p:b/></p:a></r>"#;
        assert_eq!(subset(redeclared, "a"), r#"<p:a xmlns:p="urn:p"><p:b></p:b></p:a>"#);
        // A redeclaration below with another value is rendered where it happens.
        let changed = r#"<r xmlns:p="urn:p"><p:a><q xmlns:p="urn:q"/></p:a></r>"#;
        assert_eq!(subset(changed, "a"), r#"<p:a xmlns:p="urn:p"><q xmlns:p="urn:q"></q></p:a>"#);
    }

    /// `xmlns=""` is output only to undo a default namespace that the nearest rendered ancestor has.
    #[test]
    fn empty_default_namespace_handling() {
        // At an apex there is no rendered ancestor: nothing to undo.
        let input = r#"<root xmlns="urn:d"><a xmlns=""><b/></a></root>"#;
        assert_eq!(subset(input, "a"), "<a><b></b></a>");
        assert_eq!(subset(input, "b"), "<b></b>");
        // In the whole document it undoes root's default.
        assert_eq!(canonical(input), r#"<root xmlns="urn:d"><a xmlns=""><b></b></a></root>"#);
        // Redundant xmlns="" where no default is in scope is dropped.
        assert_eq!(canonical(r#"<root xmlns=""><a xmlns=""/></root>"#), "<root><a></a></root>");
        // A default namespace in scope at the apex is rendered there.
        assert_eq!(subset(r#"<root xmlns="urn:d"><a><b/></a></root>"#, "a"), r#"<a xmlns="urn:d"><b></b></a>"#);
    }

    /// The enveloped-signature node-set: the whole document minus the Signature subtree, whitespace
    /// around it kept.
    #[test]
    fn document_minus_an_excluded_subtree() {
        let input = "<r xmlns:ds=\"urn:ds\">\n  <a/>\n  <ds:Signature><ds:X>1</ds:X></ds:Signature>\n</r>";
        let doc = parse(input);
        let sig = doc.descendants().find(|n| n.tag_name().name() == "Signature").expect("signature");
        let mut out = Vec::new();
        document(&doc, Some(sig.id()), &mut out).expect("canonicalizes");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), "<r xmlns:ds=\"urn:ds\">\n  <a></a>\n  \n</r>");
    }

    /// Two prefixes bound to one namespace (as in NVIDIA's RIMs) keep their own prefixes.
    #[test]
    fn prefixes_survive_when_two_bind_the_same_namespace() {
        let input = r#"<r xmlns="urn:s" xmlns:ns0="urn:s"><ns0:Meta/><Meta/></r>"#;
        assert_eq!(canonical(input), r#"<r xmlns="urn:s" xmlns:ns0="urn:s"><ns0:Meta></ns0:Meta><Meta></Meta></r>"#);
    }

    /// `xml:*` attributes are outside the profile and refused rather than half-implemented.
    #[test]
    fn xml_attributes_are_refused() {
        let doc = parse(r#"<r><a xml:lang="en"/></r>"#);
        let mut out = Vec::new();
        assert_eq!(document(&doc, None, &mut out), Err(C14nError::XmlAttribute("lang".into())));
    }
}
