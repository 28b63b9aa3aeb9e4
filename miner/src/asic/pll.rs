//! PLL0 (register 0x08): the dividers for a frequency, and the register value.
//!
//! f = 25 MHz * FBDIV / (REFDIV * PD1 * PD2). The search tries REFDIV 2..1, PD1 7..1 and
//! PD2 7..1 with PD1 > PD2 and FBDIV within the family's limits, and keeps the closest
//! frequency, then the lowest VCO, then the smallest post divider.

use super::chip::ChipFamily;

/// The chips' reference clock, MHz.
pub const REFERENCE_MHZ: f64 = 25.0;

/// A PLL setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pll {
    /// Feedback divider.
    pub fbdiv: u16,
    /// Reference divider.
    pub refdiv: u8,
    /// First post divider.
    pub postdiv1: u8,
    /// Second post divider.
    pub postdiv2: u8,
}

impl Pll {
    /// Returns the dividers that come closest to `mhz` on `family`, or `None` when no
    /// combination is within the family's limits (a non-positive or absurd request).
    pub fn for_frequency(family: ChipFamily, mhz: f64) -> Option<Pll> {
        if !(mhz.is_finite() && mhz > 0.0) {
            return None;
        }
        let (min_fb, max_fb) = family.fbdiv_range();
        // Ordered by closeness (in kHz), then VCO (in kHz), then post divider product.
        let mut best: Option<((u64, u64, u16), Pll)> = None;
        for refdiv in [2u8, 1] {
            for postdiv1 in (1u8..=7).rev() {
                for postdiv2 in (1u8..postdiv1).rev() {
                    let post = f64::from(refdiv) * f64::from(postdiv1) * f64::from(postdiv2);
                    let fbdiv = (mhz * post / REFERENCE_MHZ).round();
                    if fbdiv < f64::from(min_fb) || fbdiv > f64::from(max_fb) {
                        continue;
                    }
                    let pll = Pll {
                        fbdiv: fbdiv as u16,
                        refdiv,
                        postdiv1,
                        postdiv2,
                    };
                    let key = (
                        ((pll.frequency() - mhz).abs() * 1000.0).round() as u64,
                        (pll.vco() * 1000.0).round() as u64,
                        u16::from(postdiv1) * u16::from(postdiv2),
                    );
                    if best.as_ref().is_none_or(|(k, _)| key < *k) {
                        best = Some((key, pll));
                    }
                }
            }
        }
        best.map(|(_, pll)| pll)
    }

    /// The output frequency, MHz.
    pub fn frequency(&self) -> f64 {
        REFERENCE_MHZ * f64::from(self.fbdiv)
            / (f64::from(self.refdiv) * f64::from(self.postdiv1) * f64::from(self.postdiv2))
    }

    /// The VCO frequency, MHz.
    pub fn vco(&self) -> f64 {
        REFERENCE_MHZ * f64::from(self.fbdiv) / f64::from(self.refdiv)
    }

    /// The four value bytes of the PLL0 register write for `family`.
    pub fn register_value(&self, family: ChipFamily) -> [u8; 4] {
        let fb = self.fbdiv.min(255) as u8;
        match family {
            ChipFamily::Bm1397 => [0x40, fb, self.refdiv, (self.postdiv1 << 4) | self.postdiv2],
            _ => {
                let vdo = if self.vco() >= 2400.0 { 0x50 } else { 0x40 };
                [
                    vdo,
                    fb,
                    self.refdiv,
                    ((self.postdiv1 - 1) << 4) | (self.postdiv2 - 1),
                ]
            }
        }
    }

    /// Decodes a PLL0 register value written for `family`.
    pub fn from_register(family: ChipFamily, value: [u8; 4]) -> Option<Pll> {
        let (pd1, pd2) = match family {
            ChipFamily::Bm1397 => (value[3] >> 4, value[3] & 0x0f),
            _ => ((value[3] >> 4) + 1, (value[3] & 0x0f) + 1),
        };
        (value[2] != 0 && pd1 != 0 && pd2 != 0).then_some(Pll {
            fbdiv: u16::from(value[1]),
            refdiv: value[2],
            postdiv1: pd1,
            postdiv2: pd2,
        })
    }
}

/// The frequencies a ramp from `from` to `to` MHz passes through, in 6.25 MHz steps, the
/// target last. Chips lose sync when the clock jumps.
pub fn ramp(from: f64, to: f64) -> Vec<f64> {
    const STEP: f64 = 6.25;
    let mut out = Vec::new();
    if !(from.is_finite() && to.is_finite()) {
        return out;
    }
    let mut f = from;
    // Bounded: at most (|to - from| / STEP) + 1 entries.
    for _ in 0..=((to - from).abs() / STEP) as usize {
        if (to - f).abs() <= STEP {
            break;
        }
        f += STEP.copysign(to - f);
        out.push(f);
    }
    out.push(to);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_frequencies_are_hit_within_a_megahertz() {
        for family in ChipFamily::ALL {
            let f = family.default_frequency();
            let pll = Pll::for_frequency(family, f).expect("reachable");
            assert!((pll.frequency() - f).abs() < 1.0, "{family}: {pll:?}");
            let (lo, hi) = family.fbdiv_range();
            assert!((lo..=hi).contains(&pll.fbdiv));
            assert!(pll.postdiv1 > pll.postdiv2);
            let value = pll.register_value(family);
            assert_eq!(Pll::from_register(family, value), Some(pll));
        }
    }

    #[test]
    fn register_bytes() {
        // 25 * 140 / (1 * 7 * 1) = 500 MHz: VCO 3500 MHz takes VDO 0x50.
        let pll = Pll {
            fbdiv: 140,
            refdiv: 1,
            postdiv1: 7,
            postdiv2: 1,
        };
        assert_eq!(pll.register_value(ChipFamily::Bm1366), [0x50, 140, 1, 0x60]);
        assert_eq!(pll.register_value(ChipFamily::Bm1397), [0x40, 140, 1, 0x71]);
    }

    #[test]
    fn unreachable_frequencies_are_none() {
        assert_eq!(Pll::for_frequency(ChipFamily::Bm1370, 0.0), None);
        assert_eq!(Pll::for_frequency(ChipFamily::Bm1370, f64::NAN), None);
        assert_eq!(Pll::for_frequency(ChipFamily::Bm1370, 1e9), None);
    }

    #[test]
    fn ramps_step_by_6_25() {
        assert_eq!(ramp(50.0, 75.0), vec![56.25, 62.5, 68.75, 75.0]);
        assert_eq!(ramp(75.0, 62.0), vec![68.75, 62.5, 62.0]);
        assert_eq!(ramp(100.0, 100.0), vec![100.0]);
    }
}
