//! A linear pre-scan of a RIM's text that bounds what the XML parser and the canonicalizer will be asked
//! to do, before either runs.
//!
//! Both do work that grows faster than the input: roxmltree compares every attribute of an element with
//! every other one (duplicate check) and copies all in-scope namespace declarations into each element
//! that declares another, and canonicalization compares each element's namespaces with its parent's.
//! Unchecked, 1 MiB holding one element with 100 000 attributes takes seconds to parse, and 30 000 nested
//! elements each declaring a namespace takes minutes and gigabytes. NVIDIA's RIMs nest 6 deep, carry at
//! most 13 attributes on one element and declare 6 namespaces; the limits are far above that and far
//! below what hurts.
//!
//! Trusts nothing, and is not a parser: for well-formed XML its counts are exact or too high (never too
//! low), and for anything else the parser that runs next refuses the document. It never panics.

use super::RimError;

/// Most attributes on one element, namespace declarations included.
pub(crate) const MAX_ATTRIBUTES: usize = 64;
/// Most namespace declarations in the whole document.
pub(crate) const MAX_NAMESPACE_DECLARATIONS: usize = 32;

/// Checks element depth (against `max_depth`), attributes per element and namespace declarations.
pub(crate) fn check(text: &[u8], max_depth: usize) -> Result<(), RimError> {
    let mut pos = 0;
    let mut depth = 0usize;
    let mut namespaces = 0usize;
    while let Some(lt) = find(text, pos, b"<") {
        let rest = &text[lt..];
        let skip_to = |end: &[u8], from: usize| find(text, from, end).map_or(text.len(), |i| i + end.len());
        pos = if rest.starts_with(b"<!--") {
            skip_to(b"-->", lt + 4)
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(b"]]>", lt + 9)
        } else if rest.starts_with(b"<?") {
            skip_to(b"?>", lt + 2)
        } else if rest.starts_with(b"<!") {
            skip_to(b">", lt + 2) // a DOCTYPE, which the parser refuses
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_to(b">", lt + 2)
        } else {
            let tag = start_tag(text, lt);
            if tag.attributes > MAX_ATTRIBUTES {
                return Err(RimError::Xml(format!(
                    "element at byte {lt} has more than {MAX_ATTRIBUTES} attributes and namespace declarations"
                )));
            }
            namespaces += tag.namespaces;
            if namespaces > MAX_NAMESPACE_DECLARATIONS {
                return Err(RimError::Xml(format!(
                    "more than {MAX_NAMESPACE_DECLARATIONS} namespace declarations (element at byte {lt})"
                )));
            }
            if !tag.self_closing {
                depth += 1;
                if depth > max_depth {
                    return Err(RimError::TooDeep);
                }
            }
            tag.end
        };
    }
    Ok(())
}

/// What the scan learnt about one start tag.
struct StartTag {
    /// `=` signs outside quoted values: at least the number of attributes.
    attributes: usize,
    /// Attribute names starting with `xmlns`.
    namespaces: usize,
    /// Ends with `/>`.
    self_closing: bool,
    /// Offset just past the tag.
    end: usize,
}

/// Scans the start tag at `lt` up to its `>` outside quoted values.
fn start_tag(text: &[u8], lt: usize) -> StartTag {
    let mut quote = None;
    let mut tag = StartTag { attributes: 0, namespaces: 0, self_closing: false, end: text.len() };
    let mut i = lt + 1;
    while i < text.len() {
        let c = text[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'=' => tag.attributes += 1,
                b'>' => {
                    tag.self_closing = text[i - 1] == b'/';
                    tag.end = i + 1;
                    return tag;
                }
                b'x' if text[i - 1].is_ascii_whitespace() && text[i..].starts_with(b"xmlns") => tag.namespaces += 1,
                _ => {}
            },
        }
        i += 1;
    }
    tag
}

/// Offset of the first `needle` in `text` at or after `from`.
fn find(text: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = text.get(from..)?;
    if let [one] = needle {
        return hay.iter().position(|b| b == one).map(|i| i + from);
    }
    hay.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_the_parser_will_see() {
        let ok = br#"<?xml version="1.0"?><!-- <a b="1" c="2"> --><r xmlns="u" a='x>y'><![CDATA[<b>]]><e/><f></f></r>"#;
        assert_eq!(check(ok, 2), Ok(()));
        // r, then f inside it: depth 2 (e is empty, CDATA and comments are not elements).
        assert_eq!(check(ok, 1), Err(RimError::TooDeep));
    }

    #[test]
    fn refuses_attribute_and_namespace_floods() {
        let attrs: String = (0..=MAX_ATTRIBUTES).map(|i| format!(" a{i}=\"\"")).collect();
        let doc = format!("<r{attrs}/>");
        assert!(matches!(check(doc.as_bytes(), 16), Err(RimError::Xml(m)) if m.contains("attributes")));
        let just = format!("<r{}/>", &attrs[..attrs.rfind(' ').unwrap_or(0)]);
        assert_eq!(check(just.as_bytes(), 16), Ok(()));

        let nested: String = (0..=MAX_NAMESPACE_DECLARATIONS).map(|i| format!("<a xmlns:p{i}=\"u\"/>")).collect();
        let doc = format!("<r>{nested}</r>");
        assert!(matches!(check(doc.as_bytes(), 16), Err(RimError::Xml(m)) if m.contains("namespace")));
    }

    #[test]
    fn never_panics_on_fragments() {
        for s in ["<", "<!", "<!-", "<!--", "<?", "</", "<a", "<a x", "<a x='", "<a/", ">", "<![CDATA[", "</a></b>"] {
            assert_eq!(check(s.as_bytes(), 16), Ok(()), "{s}");
        }
    }
}
