//! Bounded newline framing. Miners send one JSON object per line, ended by `\n` with or
//! without a `\r`; several lines may arrive in one read and one line across several.

use crate::error::SessionError;

/// A buffer this large or larger is released once it is empty, so idle connections
/// hold no read buffer.
const KEEP_CAPACITY: usize = 1024;

/// Splits a byte stream into lines of at most `max` bytes (the `\n` and an optional
/// `\r` before it not counted).
#[derive(Debug)]
pub(crate) struct LineFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
}

impl LineFramer {
    /// Returns a framer for lines of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Appends received bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete line without its line ending, or `None` until more
    /// bytes arrive.
    ///
    /// # Errors
    /// [`SessionError::LineTooLong`] as soon as a line is known to exceed the limit,
    /// even before its newline arrives.
    pub(crate) fn next_line(&mut self) -> Result<Option<Vec<u8>>, SessionError> {
        let too_long = SessionError::LineTooLong { limit: self.max };
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = self.scanned + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                if self.buf.is_empty() && self.buf.capacity() >= KEEP_CAPACITY {
                    self.buf = Vec::new();
                }
                if line.len() > self.max {
                    return Err(too_long);
                }
                Ok(Some(line))
            }
            None => {
                self.scanned = self.buf.len();
                // One byte of slack for a `\r` whose `\n` has not arrived yet.
                if self.buf.len() > self.max + 1 {
                    return Err(too_long);
                }
                Ok(None)
            }
        }
    }

    /// Returns the bytes buffered (for memory accounting in tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(framer: &mut LineFramer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Ok(Some(l)) = framer.next_line() {
            out.push(l);
        }
        out
    }

    #[test]
    fn frames_split_and_joined_lines() {
        let mut f = LineFramer::new(16);
        f.push(b"ab\r\ncd\nef");
        assert_eq!(lines(&mut f), vec![b"ab".to_vec(), b"cd".to_vec()]);
        f.push(b"g\n\n");
        assert_eq!(lines(&mut f), vec![b"efg".to_vec(), Vec::new()]);
    }

    #[test]
    fn rejects_long_lines_before_their_newline() {
        let mut f = LineFramer::new(4);
        f.push(b"1234\r");
        assert!(matches!(f.next_line(), Ok(None)));
        f.push(b"\n12345");
        assert_eq!(f.next_line().ok().flatten(), Some(b"1234".to_vec()));
        assert!(matches!(f.next_line(), Ok(None)));
        f.push(b"6");
        assert!(matches!(
            f.next_line(),
            Err(SessionError::LineTooLong { limit: 4 })
        ));
        let mut g = LineFramer::new(4);
        g.push(b"12345\n");
        assert!(g.next_line().is_err());
    }

    #[test]
    fn releases_its_buffer_when_drained() {
        let mut f = LineFramer::new(8192);
        f.push(&[b'x'; 4000]);
        f.push(b"\n");
        assert_eq!(lines(&mut f).len(), 1);
        assert_eq!(f.capacity(), 0);
    }

    proptest! {
        #[test]
        fn framer_never_panics_and_returns_bounded_lines(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)
        ) {
            let mut f = LineFramer::new(32);
            for c in chunks {
                f.push(&c);
                while let Ok(Some(l)) = f.next_line() {
                    prop_assert!(l.len() <= 32 && !l.contains(&b'\n'));
                }
            }
        }

        #[test]
        fn joined_lines_round_trip(lines in proptest::collection::vec("[ -~]{0,40}", 0..8)) {
            let mut f = LineFramer::new(40);
            f.push(lines.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes());
            let got: Vec<Vec<u8>> = std::iter::from_fn(|| f.next_line().ok().flatten()).collect();
            let want: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn any_split_frames_like_one_push(
            lines in proptest::collection::vec("[ -~]{0,20}", 0..6),
            cut in 0usize..200,
        ) {
            let joined: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
            let cut = cut.min(joined.len());
            let mut f = LineFramer::new(40);
            let mut got = Vec::new();
            for part in [&joined.as_bytes()[..cut], &joined.as_bytes()[cut..]] {
                f.push(part);
                while let Ok(Some(l)) = f.next_line() {
                    got.push(l);
                }
            }
            let want: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
