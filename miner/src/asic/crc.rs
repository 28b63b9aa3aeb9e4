//! The two checksums of BM13xx frames: CRC5 on commands and replies, CRC16 on jobs.

/// CRC5 (polynomial x^5+x^2+1, initial value 0x1F, most significant bit first, no
/// reflection, no final xor) over the first `bits` bits of `data`. Commands carry it in
/// their last byte; a reply's last byte holds it in bits 0-4 over the bits before them.
pub fn crc5_bits(data: &[u8], bits: usize) -> u8 {
    let mut crc: u8 = 0x1f;
    for i in 0..bits.min(data.len() * 8) {
        let bit = (data[i / 8] >> (7 - i % 8)) & 1;
        let top = (crc >> 4) & 1;
        crc = (crc << 1) & 0x1f;
        if bit ^ top == 1 {
            crc ^= 0x05;
        }
    }
    crc
}

/// CRC5 over whole bytes (a command from its header to the end of its data).
pub fn crc5(data: &[u8]) -> u8 {
    crc5_bits(data, data.len() * 8)
}

/// CRC16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final
/// xor), the checksum of job frames, sent big-endian.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Command checksums of frames captured from BM1397/BM1366 hosts.
    #[test]
    fn crc5_matches_captured_commands() {
        let cases: [(&[u8], u8); 6] = [
            (&[0x52, 0x05, 0x00, 0x00], 0x0a),
            (&[0x53, 0x05, 0x00, 0x00], 0x03),
            (&[0x40, 0x05, 0x00, 0x00], 0x1c),
            (&[0x51, 0x09, 0x00, 0xa8, 0x00, 0x07, 0x00, 0x00], 0x03),
            (&[0x51, 0x09, 0x00, 0x3c, 0x80, 0x00, 0x85, 0x40], 0x0c),
            (&[0x51, 0x09, 0x00, 0xa4, 0x90, 0x00, 0xff, 0xff], 0x1c),
        ];
        for (data, crc) in cases {
            assert_eq!(crc5(data), crc, "{data:02x?}");
        }
    }

    /// Replies: the CRC5 over the bits before the last five equals those five bits, and
    /// over the whole reply (from byte 2) the residue is zero.
    #[test]
    fn crc5_checks_captured_replies() {
        let nonce = [0xaa, 0x55, 0x00, 0x03, 0xea, 0x0f, 0x02, 0x20, 0x9c];
        let chip_id = [0xaa, 0x55, 0x13, 0x97, 0x18, 0x00, 0x00, 0x00, 0x06];
        for reply in [nonce, chip_id] {
            let body = &reply[2..];
            assert_eq!(crc5_bits(body, body.len() * 8 - 5), reply[8] & 0x1f);
            assert_eq!(crc5(body), 0, "{reply:02x?}");
        }
    }

    #[test]
    fn crc16_is_ccitt_false() {
        assert_eq!(crc16(b"123456789"), 0x29b1);
        assert_eq!(crc16(&[]), 0xffff);
    }
}
