//! A minimal strict DER reader for the few ASN.1 structures we parse by hand (the FWID certificate
//! extensions; later OCSP).
//!
//! Trusts nothing: definite lengths only, minimal length encodings only, single-byte tags only, and a
//! nesting budget enforced by the callers (every structure we read has a fixed, shallow shape).

use thiserror::Error;

/// Universal and context tags we read.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
}

/// Malformed DER.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DerError {
    /// The input ended inside an element.
    #[error("DER truncated at byte {0}")]
    Truncated(usize),
    /// A length that is not in minimal definite form.
    #[error("DER length at byte {0} is not minimally encoded or is indefinite")]
    BadLength(usize),
    /// A tag other than the one the structure requires.
    #[error("DER tag at byte {offset}: expected 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag {
        /// Offset of the tag.
        offset: usize,
        /// Tag required here.
        expected: u8,
        /// Tag found.
        found: u8,
    },
    /// Multi-byte (high-number) tags are not used by any structure we read.
    #[error("DER high-number tag at byte {0} is not supported")]
    HighTag(usize),
    /// Bytes left after the structure ended.
    #[error("{0} trailing bytes after DER structure")]
    Trailing(usize),
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
    /// The complete encoding: tag, length and value (what a signature over a DER structure covers).
    pub(crate) raw: &'a [u8],
}

/// Reads consecutive DER elements from a slice.
#[derive(Debug, Clone)]
pub(crate) struct DerReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> DerReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn byte(&mut self) -> Result<u8, DerError> {
        let b = *self.data.get(self.pos).ok_or(DerError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let tag_at = self.pos;
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::HighTag(tag_at));
        }
        let len_at = self.pos;
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(DerError::BadLength(len_at));
            }
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(self.byte()?);
            }
            // Minimal: long form only for lengths >= 128, and no leading zero byte.
            if len < 0x80 || len >> (8 * (n - 1)) == 0 {
                return Err(DerError::BadLength(len_at));
            }
            len
        };
        let start = self.pos;
        let end = start.checked_add(len).filter(|&e| e <= self.data.len()).ok_or(DerError::Truncated(start))?;
        self.pos = end;
        Ok(Tlv { tag, value: &self.data[start..end], raw: &self.data[tag_at..end] })
    }

    pub(crate) fn expect(&mut self, expected: u8) -> Result<Tlv<'a>, DerError> {
        let offset = self.pos;
        let tlv = self.read()?;
        if tlv.tag != expected {
            return Err(DerError::UnexpectedTag { offset, expected, found: tlv.tag });
        }
        Ok(tlv)
    }

    /// Reads the next element only if it carries `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) { self.read().map(Some) } else { Ok(None) }
    }

    pub(crate) fn finish(&self) -> Result<(), DerError> {
        if self.is_empty() { Ok(()) } else { Err(DerError::Trailing(self.data.len() - self.pos)) }
    }
}

/// Parses `data` as exactly one element with tag `expected` and returns its value.
pub(crate) fn single(data: &[u8], expected: u8) -> Result<&[u8], DerError> {
    let mut r = DerReader::new(data);
    let tlv = r.expect(expected)?;
    r.finish()?;
    Ok(tlv.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(single(&long, tag::OCTET_STRING).map(<[u8]>::len), Ok(0x80));
        assert_eq!(single(&[0x02, 0x01, 0x05], tag::INTEGER), Ok(&[5u8][..]));
    }

    #[test]
    fn rejects_non_minimal_indefinite_and_trailing() {
        assert_eq!(single(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0], tag::OCTET_STRING), Err(DerError::BadLength(1)));
        assert_eq!(single(&[0x30, 0x80, 0, 0], tag::SEQUENCE), Err(DerError::BadLength(1)));
        assert_eq!(single(&[0x02, 0x01, 0x05, 0x00], tag::INTEGER), Err(DerError::Trailing(1)));
        assert_eq!(single(&[0x04, 0x05, 0x00], tag::OCTET_STRING), Err(DerError::Truncated(2)));
        assert_eq!(single(&[0x1f, 0x01, 0x00], tag::OCTET_STRING), Err(DerError::HighTag(0)));
    }

    #[test]
    fn length_forms_at_their_limits() {
        // Short form up to 127; long form only from 128, with no leading zero byte, at most 4 bytes.
        assert_eq!(single(&[0x04, 0x00], tag::OCTET_STRING), Ok(&[][..]));
        let mut v = vec![0x04, 0x7f];
        v.extend([1u8; 0x7f]);
        assert_eq!(single(&v, tag::OCTET_STRING).map(<[u8]>::len), Ok(0x7f));
        assert_eq!(single(&[0x04, 0x81, 0x7f], tag::OCTET_STRING), Err(DerError::BadLength(1)));
        assert_eq!(single(&[0x04, 0x82, 0x00, 0x80], tag::OCTET_STRING), Err(DerError::BadLength(1)));
        assert_eq!(single(&[0x04, 0x82, 0x00, 0xff], tag::OCTET_STRING), Err(DerError::BadLength(1)));
        let mut v = vec![0x04, 0x82, 0x01, 0x00];
        v.extend([0u8; 0x100]);
        assert_eq!(single(&v, tag::OCTET_STRING).map(<[u8]>::len), Ok(0x100));
        assert_eq!(single(&[0x04, 0x85, 1, 0, 0, 0, 0], tag::OCTET_STRING), Err(DerError::BadLength(1)));
        // The largest lengths are bounds-checked, not trusted.
        assert_eq!(single(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0], tag::OCTET_STRING), Err(DerError::Truncated(6)));
        assert_eq!(single(&[0x04, 0x83, 0x01, 0x00], tag::OCTET_STRING), Err(DerError::Truncated(4)));
    }

    #[test]
    fn empty_and_cut_inputs() {
        assert_eq!(single(&[], tag::SEQUENCE), Err(DerError::Truncated(0)));
        assert_eq!(single(&[0x30], tag::SEQUENCE), Err(DerError::Truncated(1)));
        assert_eq!(single(&[0x30, 0x82, 0x01], tag::SEQUENCE), Err(DerError::Truncated(3)));
        assert_eq!(single(&[0x30, 0x03, 0x02, 0x01], tag::SEQUENCE), Err(DerError::Truncated(2)));
    }

    #[test]
    fn tags_expected_optional_and_raw() {
        let data = [0x02, 0x01, 0x07, 0x04, 0x02, 0xaa, 0xbb];
        let mut r = DerReader::new(&data);
        assert_eq!(r.peek_tag(), Some(tag::INTEGER));
        assert!(r.optional(tag::BIT_STRING).expect("absent is fine").is_none());
        let int = r.optional(tag::INTEGER).expect("present").expect("read");
        assert_eq!((int.tag, int.value, int.raw), (tag::INTEGER, &[7u8][..], &data[..3]));
        assert_eq!(
            r.clone().expect(tag::OID).map(|t| t.tag),
            Err(DerError::UnexpectedTag { offset: 3, expected: tag::OID, found: tag::OCTET_STRING })
        );
        assert_eq!(r.finish(), Err(DerError::Trailing(4)));
        let os = r.expect(tag::OCTET_STRING).expect("octet string");
        assert_eq!(os.value, &[0xaa, 0xbb]);
        assert!(r.is_empty());
        assert_eq!(r.peek_tag(), None);
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(r.read().map(|t| t.tag), Err(DerError::Truncated(7)));
        // High-number tags (low five bits all set) in any class are refused, never mis-read.
        for t in [0x1f, 0x3f, 0x9f, 0xbf, 0xff] {
            assert_eq!(single(&[t, 0x01, 0x00], t), Err(DerError::HighTag(0)), "{t:#x}");
        }
    }
}
