//! The log's digest type, [`Sha384Digest`], written as 96 lowercase hex digits, and the strict
//! lowercase-hex decoding and string visitor that every hex field of the log shares.
//!
//! Parsing a digest from text with a [`super::LogError`] (`FromStr`) is in `record`, with the other fields'
//! parsers; this module depends on nothing else in the log, so the log's errors can name digests.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A SHA-384 digest, written as 96 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha384Digest(pub [u8; 48]);

impl Sha384Digest {
    /// The SHA-384 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(crate::crypto::sha384(data))
    }

    /// Parses exactly 96 lowercase hex digits.
    pub fn from_hex(text: &[u8]) -> Option<Self> {
        let mut out = [0u8; 48];
        decode_lower_hex(text, &mut out).then_some(Self(out))
    }
}

impl fmt::Display for Sha384Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha384Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha384Digest({self})")
    }
}

impl Serialize for Sha384Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 96];
        // Infallible: the buffer is exactly twice the input.
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Sha384Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor("96 lowercase hex digits", |s| Self::from_hex(s.as_bytes())))
    }
}

/// Decodes lowercase hex into exactly `out.len()` bytes. Table-driven and branch-free per digit: a
/// record carries seven digests, and this is on the verifier's hot path.
pub(crate) fn decode_lower_hex(text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (h, l) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        bad |= h | l;
        *o = (h << 4) | (l & 0x0f);
    }
    bad & 0xf0 == 0
}

/// Value of each lowercase hex digit; 0xff for every other byte.
const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut d = 0u8;
    while d < 10 {
        t[(b'0' + d) as usize] = d;
        d += 1;
    }
    let mut d = 0u8;
    while d < 6 {
        t[(b'a' + d) as usize] = 10 + d;
        d += 1;
    }
    t
};

/// A visitor for string-encoded values, so borrowed and escaped JSON strings both work.
pub(crate) struct StrVisitor<T>(pub &'static str, pub fn(&str) -> Option<T>);

impl<T> Visitor<'_> for StrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}
