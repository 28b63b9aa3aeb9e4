//! Explicit consensus encoding (Bitcoin-style little-endian integers and CompactSize
//! lengths). Everything hashed is written with these functions, never with serde,
//! so that a dependency bump cannot change a consensus byte.

use crate::error::{DecodeError, HexError};

/// Appends a Bitcoin CompactSize length.
pub fn write_varint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Appends a length-prefixed byte string.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A bounded reader over a byte slice. Every read checks the remaining length,
/// so decoding untrusted input can fail but never panic.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Returns the number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Returns the unread bytes without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] if fewer remain.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::UnexpectedEof { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] if fewer bytes remain.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] at the end of input.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian u32.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] if fewer than 4 bytes remain.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u64.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] if fewer than 8 bytes remain.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a CompactSize and checks it against `max`. Non-canonical encodings are rejected.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] above `max`, [`DecodeError::Invalid`] if not minimal.
    pub fn varint(&mut self, max: u64, what: &'static str) -> Result<u64, DecodeError> {
        let n = match self.u8(what)? {
            0xfd => {
                let v = u64::from(u16::from_le_bytes(self.array(what)?));
                if v < 0xfd {
                    return Err(DecodeError::Invalid { what });
                }
                v
            }
            0xfe => {
                let v = u64::from(self.u32(what)?);
                if v <= 0xffff {
                    return Err(DecodeError::Invalid { what });
                }
                v
            }
            0xff => {
                let v = self.u64(what)?;
                if v <= 0xffff_ffff {
                    return Err(DecodeError::Invalid { what });
                }
                v
            }
            b => u64::from(b),
        };
        if n > max {
            return Err(DecodeError::TooLong { what, len: n, max });
        }
        Ok(n)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes.
    ///
    /// # Errors
    /// As [`Reader::varint`] and [`Reader::take`].
    pub fn bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.varint(max as u64, what)?;
        // n <= max, which is a usize.
        self.take(n as usize, what)
    }

    /// Fails unless all input was consumed.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] otherwise.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.buf.len()))
        }
    }
}

/// Parses exactly 64 hex digits into 32 bytes (no reversal).
///
/// # Errors
/// Returns an error on wrong length or non-hex characters.
pub fn hex32(s: &str) -> Result<[u8; 32], HexError> {
    let v = hex::decode(s).map_err(|_| HexError { reason: "not hex" })?;
    v.try_into().map_err(|_| HexError {
        reason: "expected 32 bytes",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_boundaries() {
        for (n, len) in [
            (0u64, 1),
            (0xfc, 1),
            (0xfd, 3),
            (0xffff, 3),
            (0x1_0000, 5),
            (0xffff_ffff, 5),
            (1 << 32, 9),
        ] {
            let mut v = Vec::new();
            write_varint(&mut v, n);
            assert_eq!(v.len(), len, "{n}");
            let mut r = Reader::new(&v);
            assert_eq!(r.varint(u64::MAX, "n").expect("decodes"), n);
            r.finish().expect("consumed");
        }
    }

    #[test]
    fn non_minimal_varint_rejected() {
        let mut r = Reader::new(&[0xfd, 0x10, 0x00]);
        assert_eq!(
            r.varint(u64::MAX, "n"),
            Err(DecodeError::Invalid { what: "n" })
        );
    }

    #[test]
    fn bounded_lengths() {
        let mut r = Reader::new(&[0x05, 1, 2]);
        assert!(matches!(r.bytes(4, "b"), Err(DecodeError::TooLong { .. })));
        let mut r = Reader::new(&[0x03, 1, 2]);
        assert!(matches!(
            r.bytes(4, "b"),
            Err(DecodeError::UnexpectedEof { .. })
        ));
    }

    proptest! {
        #[test]
        fn varint_round_trip(n in any::<u64>()) {
            let mut v = Vec::new();
            write_varint(&mut v, n);
            let mut r = Reader::new(&v);
            prop_assert_eq!(r.varint(u64::MAX, "n").expect("decodes"), n);
        }

        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            let _ = r.varint(1000, "n");
            let _ = r.bytes(10, "b");
            let _ = r.u64("x");
        }
    }
}
