//! Monero's varint: 7 bits per byte, least significant group first, high bit = "more follows".
//!
//! The reader accepts only the canonical (shortest) form, as P2Pool does: a trailing zero
//! byte, bits beyond the target width and values out of range are rejected, so that one
//! value has one encoding and a re-serialised share is byte-identical.

use crate::encode::Reader;
use crate::error::DecodeError;

/// Appends `n` as a Monero varint.
pub fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Returns the encoded length of `n` as a Monero varint.
pub fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Reads a canonical Monero varint no larger than `max`.
///
/// # Errors
/// [`DecodeError::UnexpectedEof`] on short input, [`DecodeError::Invalid`] on a
/// non-canonical encoding or one wider than 64 bits, [`DecodeError::TooLong`] above `max`.
pub fn read_varint(r: &mut Reader<'_>, max: u64, what: &'static str) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    let mut shift: u32 = 0;
    loop {
        let byte = r.u8(what)?;
        if shift > 0 && byte == 0 {
            // A final zero group would make a longer encoding of the same value.
            return Err(DecodeError::Invalid { what });
        }
        let group = u64::from(byte & 0x7f);
        if shift >= 64 || (shift > 0 && group >> (64 - shift) != 0) {
            return Err(DecodeError::Invalid { what });
        }
        value |= group << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    if value > max {
        return Err(DecodeError::TooLong {
            what,
            len: value,
            max,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(bytes: &[u8]) -> Result<u64, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = read_varint(&mut r, u64::MAX, "v")?;
        r.finish()?;
        Ok(v)
    }

    #[test]
    fn known_encodings() {
        assert_eq!(read(&[0]), Ok(0));
        assert_eq!(read(&[0x7f]), Ok(127));
        assert_eq!(read(&[0x80, 0x01]), Ok(128));
        assert_eq!(read(&[0xac, 0x02]), Ok(300));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read(&max), Ok(u64::MAX));
    }

    #[test]
    fn rejects_non_canonical_and_overflow() {
        // 0 written in two bytes.
        assert!(matches!(
            read(&[0x80, 0x00]),
            Err(DecodeError::Invalid { .. })
        ));
        // 1 padded with a zero group.
        assert!(matches!(
            read(&[0x81, 0x00]),
            Err(DecodeError::Invalid { .. })
        ));
        // Bit 64 set.
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(read(&over), Err(DecodeError::Invalid { .. })));
        // Eleven bytes.
        let long = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        assert!(matches!(read(&long), Err(DecodeError::Invalid { .. })));
        // Unterminated.
        assert!(matches!(
            read(&[0x80]),
            Err(DecodeError::UnexpectedEof { .. })
        ));
        // Above the caller's bound.
        let mut r = Reader::new(&[0x10]);
        assert!(matches!(
            read_varint(&mut r, 15, "v"),
            Err(DecodeError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(n in any::<u64>()) {
            let mut v = Vec::new();
            write_varint(&mut v, n);
            prop_assert_eq!(v.len(), varint_len(n));
            prop_assert_eq!(read(&v), Ok(n));
        }
    }
}
