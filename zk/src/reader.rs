//! A byte reader for hostile proofs. winterfell's `SliceReader` trusts length prefixes: a proof claiming a
//! vector of 2^60 elements makes `Vec::with_capacity` abort the process (found by
//! `cargo fuzz run stark_proof`), and its end-of-input check can overflow. This reader refuses any length
//! longer than the bytes that remain (every element takes at least one byte) and does checked arithmetic.

use winter_verifier::{ByteReader, Deserializable, DeserializationError};

/// Reads from a slice, bounding every length by what remains of it.
pub(crate) struct BoundedReader<'a> {
    source: &'a [u8],
    pos: usize,
}

impl<'a> BoundedReader<'a> {
    pub(crate) fn new(source: &'a [u8]) -> Self {
        BoundedReader { source, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.source.len() - self.pos
    }
}

impl ByteReader for BoundedReader<'_> {
    fn read_u8(&mut self) -> Result<u8, DeserializationError> {
        self.check_eor(1)?;
        let b = self.source[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn peek_u8(&self) -> Result<u8, DeserializationError> {
        self.check_eor(1)?;
        Ok(self.source[self.pos])
    }

    fn read_slice(&mut self, len: usize) -> Result<&[u8], DeserializationError> {
        self.check_eor(len)?;
        let out = &self.source[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DeserializationError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_slice(N)?);
        Ok(out)
    }

    fn check_eor(&self, num_bytes: usize) -> Result<(), DeserializationError> {
        if num_bytes > self.remaining() {
            return Err(DeserializationError::UnexpectedEOF);
        }
        Ok(())
    }

    fn has_more_bytes(&self) -> bool {
        self.pos < self.source.len()
    }

    /// winterfell's variable-length integer, refused when it exceeds the bytes that remain (all of
    /// winterfell's `usize` fields in a proof are lengths or small counts).
    fn read_usize(&mut self) -> Result<usize, DeserializationError> {
        let first = self.peek_u8()?;
        let length = first.trailing_zeros() as usize + 1;
        let value = if length == 9 {
            self.read_u8()?;
            u64::from_le_bytes(self.read_array::<8>()?)
        } else {
            let mut encoded = [0u8; 8];
            encoded[..length].copy_from_slice(self.read_slice(length)?);
            u64::from_le_bytes(encoded) >> length
        };
        if value > self.remaining() as u64 {
            return Err(DeserializationError::InvalidValue(format!(
                "a length of {value} with {} bytes left",
                self.remaining()
            )));
        }
        Ok(value as usize)
    }

    fn read_many<D: Deserializable>(&mut self, num_elements: usize) -> Result<Vec<D>, DeserializationError> {
        if num_elements > self.remaining() {
            return Err(DeserializationError::InvalidValue(format!(
                "{num_elements} elements with {} bytes left",
                self.remaining()
            )));
        }
        let mut out = Vec::with_capacity(num_elements);
        for _ in 0..num_elements {
            out.push(D::read_from(self)?);
        }
        Ok(out)
    }
}
