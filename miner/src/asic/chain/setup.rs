//! Bringing a chain up: enumeration, addressing, initialisation, and the frequency,
//! ticket and version mask settings.

use super::*;
use crate::asic::chip::ChipFamily;
use crate::asic::pll::{Pll, ramp};
use crate::asic::protocol::{Command, Reply, reg, ticket_mask_value, version_mask_value};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

impl Chain {
    /// Counts the chips that answer a chip-id read, then addresses them evenly over
    /// the 256 addresses.
    pub(super) fn enumerate(&mut self) -> Result<(), ChainError> {
        let family = self.config.family;
        if family.rolls_version() {
            for _ in 0..3 {
                self.send(Command::WriteAll {
                    reg: reg::VERSION_MASK,
                    value: version_mask_value(DEFAULT_VERSION_MASK),
                })?;
            }
        }
        self.send(Command::ReadAll {
            reg: reg::CHIP_ADDRESS,
        })?;
        let deadline = Instant::now() + self.config.enumerate_timeout;
        let mut count = 0usize;
        let want = self.config.expected_chips.unwrap_or(MAX_CHIPS);
        while count < want {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            for r in self.read_replies(left.min(Duration::from_millis(50)))? {
                if let Reply::Register {
                    value,
                    reg: reg::CHIP_ADDRESS,
                    ..
                } = r
                    && u16::from_be_bytes([value[0], value[1]]) == family.chip_id()
                {
                    count += 1;
                }
            }
        }
        if count == 0 {
            return Err(ChainError::NoChips(self.transport.name(), family));
        }
        let count = count.min(MAX_CHIPS);
        if let Some(expected) = self.config.expected_chips
            && count < expected
        {
            warn!(target: LOG, device = %self.transport.name(), found = count, expected, "fewer chips answered than expected");
        }
        let repeats = if family == ChipFamily::Bm1397 { 3 } else { 1 };
        for _ in 0..repeats {
            self.send(Command::ChainInactive)?;
        }
        self.interval = (256 / count).clamp(1, 255) as u8;
        for i in 0..count {
            let address = (i * usize::from(self.interval)) as u8;
            self.send(Command::SetAddress { address })?;
        }
        self.chips = count;
        self.counters.per_chip = vec![0; count];
        info!(target: LOG, device = %self.transport.name(), %family, chips = count, "chain enumerated");
        Ok(())
    }

    pub(super) fn initialise(&mut self) -> Result<(), ChainError> {
        let family = self.config.family;
        for value in [[0x80, 0x00, 0x85, 0x40], [0x80, 0x00, 0x80, 0x20]] {
            self.send(Command::WriteAll {
                reg: reg::CORE_REGISTER,
                value,
            })?;
        }
        self.send(Command::WriteAll {
            reg: reg::IO_DRIVER,
            value: [0x02, 0x11, 0x11, 0x11],
        })?;
        self.set_ticket_difficulty(256)?;
        if self.config.fast_baud {
            let (register, value, baud) = family.fast_baud();
            self.send(Command::WriteAll {
                reg: register,
                value,
            })?;
            self.transport.set_baud(baud).map_err(|e| self.io(e))?;
        }
        let target = self.config.frequency.unwrap_or(family.default_frequency());
        // Chips boot slow; the ramp starts low and climbs in small steps.
        self.frequency = 56.25;
        self.set_frequency(target)
    }

    /// Ramps every chip's clock to `mhz` in 6.25 MHz steps.
    ///
    /// # Errors
    /// [`ChainError::Frequency`] when no PLL setting reaches `mhz`; I/O errors.
    pub fn set_frequency(&mut self, mhz: f64) -> Result<(), ChainError> {
        let family = self.config.family;
        if Pll::for_frequency(family, mhz).is_none() {
            return Err(ChainError::Frequency(mhz, family));
        }
        for step in ramp(self.frequency, mhz) {
            // Steps below the PLL's range are skipped; the target itself is reachable.
            if let Some(pll) = Pll::for_frequency(family, step) {
                self.send(Command::WriteAll {
                    reg: reg::PLL0,
                    value: pll.register_value(family),
                })?;
                self.frequency = pll.frequency();
                if !self.config.ramp_delay.is_zero() {
                    std::thread::sleep(self.config.ramp_delay);
                }
            }
        }
        debug!(target: LOG, device = %self.transport.name(), mhz = self.frequency, "frequency set");
        Ok(())
    }

    /// Sets the ticket mask: chips report nonces meeting `difficulty` (rounded down to a
    /// power of two, at least 1).
    ///
    /// # Errors
    /// I/O errors.
    pub fn set_ticket_difficulty(&mut self, difficulty: u64) -> Result<(), ChainError> {
        let value = ticket_mask_value(difficulty as f64);
        self.ticket = crate::asic::protocol::ticket_difficulty(value);
        self.send(Command::WriteAll {
            reg: reg::TICKET_MASK,
            value,
        })
    }

    /// Sets the bits the chips may roll (BM1366 and later; BM1397 uses midstates).
    ///
    /// # Errors
    /// I/O errors.
    pub fn set_version_mask(&mut self, mask: u32) -> Result<(), ChainError> {
        if self.version_mask == mask {
            return Ok(());
        }
        self.version_mask = mask;
        if self.config.family.rolls_version() {
            self.send(Command::WriteAll {
                reg: reg::VERSION_MASK,
                value: version_mask_value(mask),
            })?;
        }
        Ok(())
    }
}
