//! A cursor over untrusted bytes that names every field it reads.
//!
//! Trusts nothing: every read is bounds-checked and a short read reports which field was being read, at
//! which offset, and how many bytes were missing. Offsets are absolute within the buffer being parsed, so
//! an error points at the exact byte of the input.

use thiserror::Error;

/// A read past the end of the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} at byte {offset}: needs {needed} bytes, only {available} left")]
pub struct Truncated {
    /// The field being read.
    pub field: &'static str,
    /// Absolute offset where the field starts.
    pub offset: usize,
    /// Bytes the field needs.
    pub needed: usize,
    /// Bytes that were left.
    pub available: usize,
}

/// Little-endian cursor over a byte slice with absolute offsets.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `data` whose first byte has absolute offset `base`.
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        Self { data, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], Truncated> {
        if self.remaining() < n {
            return Err(Truncated { field, offset: self.offset(), needed: n, available: self.remaining() });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Truncated> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Truncated> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16le(&mut self, field: &'static str) -> Result<u16, Truncated> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u24le(&mut self, field: &'static str) -> Result<u32, Truncated> {
        let [a, b, c] = self.array(field)?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_read_names_field_and_offset() {
        let mut r = Reader::new(&[1, 2, 3], 10);
        assert_eq!(r.u16le("a"), Ok(0x0201));
        let err = r.u24le("length").expect_err("short");
        assert_eq!(err, Truncated { field: "length", offset: 12, needed: 3, available: 1 });
        assert_eq!(err.to_string(), "length at byte 12: needs 3 bytes, only 1 left");
    }
}
