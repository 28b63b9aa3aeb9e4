//! The BM13xx chip families as data: identity, reply size, job ids, PLL limits, cores.

use std::fmt;
use std::str::FromStr;

/// A BM13xx SHA256d ASIC family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChipFamily {
    /// BM1397 (Antminer S17/T17, CompacF): the host sends midstates; 9-byte replies.
    Bm1397,
    /// BM1366 (Antminer S19 XP, Bitaxe Ultra): full header fields, rolls the version.
    Bm1366,
    /// BM1368 (Antminer S21, Bitaxe Supra).
    Bm1368,
    /// BM1370 (Antminer S21 Pro, Bitaxe Gamma, Compac A2).
    Bm1370,
}

impl ChipFamily {
    /// Every family, in chip-id order.
    pub const ALL: [ChipFamily; 4] = [
        ChipFamily::Bm1366,
        ChipFamily::Bm1368,
        ChipFamily::Bm1370,
        ChipFamily::Bm1397,
    ];

    /// The chip id a chip reports in register 0 (`13 97`, `13 66`, ...).
    pub fn chip_id(self) -> u16 {
        match self {
            ChipFamily::Bm1397 => 0x1397,
            ChipFamily::Bm1366 => 0x1366,
            ChipFamily::Bm1368 => 0x1368,
            ChipFamily::Bm1370 => 0x1370,
        }
    }

    /// Returns the family of a chip id.
    pub fn from_chip_id(id: u16) -> Option<ChipFamily> {
        Self::ALL.into_iter().find(|f| f.chip_id() == id)
    }

    /// Bytes in a reply from the chip, preamble included.
    pub fn reply_len(self) -> usize {
        match self {
            ChipFamily::Bm1397 => 9,
            _ => 11,
        }
    }

    /// Whether the chip rolls the header version itself (within register 0xA4's mask)
    /// and reports the rolled bits in its nonce replies.
    pub fn rolls_version(self) -> bool {
        !matches!(self, ChipFamily::Bm1397)
    }

    /// How far the host advances the job id from one job to the next (ids wrap at 128).
    pub fn job_id_step(self) -> u8 {
        match self {
            ChipFamily::Bm1397 => 4,
            ChipFamily::Bm1366 => 8,
            ChipFamily::Bm1368 | ChipFamily::Bm1370 => 24,
        }
    }

    /// Splits the id byte of a nonce reply into (job id, sub id): the midstate index
    /// on BM1397, the small core on the others.
    pub fn split_reply_id(self, id: u8) -> (u8, u8) {
        match self {
            ChipFamily::Bm1397 => (id & 0xfc, id & 0x03),
            ChipFamily::Bm1366 => (id & 0xf8, id & 0x07),
            ChipFamily::Bm1368 | ChipFamily::Bm1370 => ((id & 0xf0) >> 1, id & 0x0f),
        }
    }

    /// The id byte a chip puts in a nonce reply for `job_id` and `sub` (the inverse of
    /// [`ChipFamily::split_reply_id`]).
    pub fn reply_id(self, job_id: u8, sub: u8) -> u8 {
        match self {
            ChipFamily::Bm1397 => (job_id & 0xfc) | (sub & 0x03),
            ChipFamily::Bm1366 => (job_id & 0xf8) | (sub & 0x07),
            ChipFamily::Bm1368 | ChipFamily::Bm1370 => ((job_id << 1) & 0xf0) | (sub & 0x0f),
        }
    }

    /// Feedback divider limits of the PLL.
    pub fn fbdiv_range(self) -> (u16, u16) {
        match self {
            ChipFamily::Bm1397 => (60, 200),
            ChipFamily::Bm1366 | ChipFamily::Bm1368 => (144, 235),
            ChipFamily::Bm1370 => (160, 239),
        }
    }

    /// Big cores and small cores per chip.
    pub fn cores(self) -> (u32, u32) {
        match self {
            ChipFamily::Bm1397 => (168, 672),
            ChipFamily::Bm1366 => (112, 894),
            ChipFamily::Bm1368 => (80, 1276),
            ChipFamily::Bm1370 => (128, 2040),
        }
    }

    /// The factory default frequency, MHz.
    pub fn default_frequency(self) -> f64 {
        match self {
            ChipFamily::Bm1397 => 425.0,
            ChipFamily::Bm1366 => 485.0,
            ChipFamily::Bm1368 => 490.0,
            ChipFamily::Bm1370 => 525.0,
        }
    }

    /// Hashes per second of one chip at `mhz`: every small core tries one nonce per clock.
    pub fn hashrate(self, mhz: f64) -> f64 {
        mhz * 1e6 * f64::from(self.cores().1)
    }

    /// The register write that raises the chip UART to its fast rate, and that rate.
    pub fn fast_baud(self) -> (u8, [u8; 4], u32) {
        match self {
            // 25 MHz / ((div + 1) * 8) with the divisor in the low bits of MISC_CONTROL.
            ChipFamily::Bm1397 => (0x18, [0x00, 0x00, 0x60, 0x31], 3_125_000),
            _ => (0x28, [0x11, 0x30, 0x02, 0x00], 1_000_000),
        }
    }

    /// The lower-case name ("bm1397").
    pub fn name(self) -> &'static str {
        match self {
            ChipFamily::Bm1397 => "bm1397",
            ChipFamily::Bm1366 => "bm1366",
            ChipFamily::Bm1368 => "bm1368",
            ChipFamily::Bm1370 => "bm1370",
        }
    }
}

impl fmt::Display for ChipFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A chip family name that is not one of `bm1397`, `bm1366`, `bm1368`, `bm1370`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chip family {0:?}: expected bm1397, bm1366, bm1368 or bm1370")]
pub struct UnknownFamily(pub String);

impl FromStr for ChipFamily {
    type Err = UnknownFamily;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFamily(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_ids_round_trip() {
        for family in ChipFamily::ALL {
            let step = family.job_id_step();
            let subs = match family {
                ChipFamily::Bm1397 => 4,
                ChipFamily::Bm1366 => 8,
                _ => 16,
            };
            // Job ids as a host hands them out: multiples of the step below 128.
            let mut job = 0u8;
            for _ in 0..40 {
                for sub in 0..subs {
                    let id = family.reply_id(job, sub);
                    assert_eq!(
                        family.split_reply_id(id),
                        (job, sub),
                        "{family} {job} {sub}"
                    );
                }
                job = (job + step) % 128;
                if family == ChipFamily::Bm1368 || family == ChipFamily::Bm1370 {
                    job -= job % 8;
                }
            }
        }
    }

    #[test]
    fn names_parse() {
        for f in ChipFamily::ALL {
            assert_eq!(f.name().parse::<ChipFamily>(), Ok(f));
            assert_eq!(ChipFamily::from_chip_id(f.chip_id()), Some(f));
        }
        assert!("bm1387".parse::<ChipFamily>().is_err());
    }
}
