//! ASERT share retargeting (the absolutely scheduled exponentially rising targets of
//! Bitcoin Cash's aserti3-2d, with its cubic 2^x approximation), anchored at the first
//! share of the chain, clamped to `[1, max_share_target]`. Integer-only.

use crate::{ChainSpec, CompactTarget, Target};
use ruint::aliases::{U256, U512};

/// The anchor of a chain: its first share's time (height 0, target = `max_share_target`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// Timestamp of the height-0 share.
    pub time: u32,
}

/// Returns the share target required at height `prev_height + 1`, given the previous
/// share's height and time. The first share of a chain (no previous) uses the spec's
/// easiest target.
pub fn next_share_target(
    spec: &ChainSpec,
    anchor: Anchor,
    prev: Option<(u64, u32)>,
) -> CompactTarget {
    let max = Target::from_compact(spec.max_share_target).unwrap_or(Target::MAX);
    let Some((prev_height, prev_time)) = prev else {
        return max.to_compact();
    };
    let time_delta = i128::from(prev_time) - i128::from(anchor.time);
    let ideal = i128::from(spec.share_period_secs) * i128::from(prev_height);
    let half_life = i128::from(spec.asert_half_life_secs.max(1));
    let exponent = ((time_delta - ideal) * 65536) / half_life;
    // Arithmetic shift floors; the fraction is the low 16 bits, as in aserti3-2d.
    let mut shifts = exponent >> 16;
    let frac = (exponent & 0xffff) as u128;
    let factor = 65536u128
        + ((195_766_423_245_049u128 * frac
            + 971_821_376u128 * frac * frac
            + 5127u128 * frac * frac * frac
            + (1u128 << 47))
            >> 48);
    // The anchor target may be close to 2^256 (regtest), so multiply in 512 bits.
    let limbs = max.to_u256().into_limbs();
    let mut wide =
        U512::from_limbs([limbs[0], limbs[1], limbs[2], limbs[3], 0, 0, 0, 0]) * U512::from(factor);
    shifts -= 16;
    if shifts <= 0 {
        let s = (-shifts).min(512) as usize;
        wide = if s >= 512 { U512::ZERO } else { wide >> s };
    } else {
        let s = shifts.min(512) as usize;
        wide = if s >= 256 || wide.bit_len() + s > 256 {
            U512::from(U256::MAX)
        } else {
            wide << s
        };
    }
    let next = if wide.bit_len() > 256 {
        U256::MAX
    } else {
        let l = wide.into_limbs();
        U256::from_limbs([l[0], l[1], l[2], l[3]])
    };
    let next = Target::from_u256(next.max(U256::from(1u8))).min(max);
    next.to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChainSpec {
        let mut s = ChainSpec::by_name("ltc-main").expect("built in").clone();
        s.max_share_target = CompactTarget::from_consensus(0x1e0f_fff0);
        s
    }

    fn target(c: CompactTarget) -> Target {
        Target::from_compact(c).expect("valid")
    }

    #[test]
    fn on_schedule_keeps_target() {
        let s = spec();
        let a = Anchor { time: 1_000_000 };
        let on_time = next_share_target(&s, a, Some((100, 1_000_000 + 100 * 15)));
        // On schedule, the target equals the anchor target (at the easiest clamp here).
        assert_eq!(on_time, s.max_share_target);
    }

    #[test]
    fn fast_shares_halve_target_per_half_life() {
        let s = spec();
        let a = Anchor { time: 1_000_000 };
        // One half-life ahead of schedule: target halves.
        let t = next_share_target(&s, a, Some((240 + 100, 1_000_000 + 100 * 15)));
        let half = target(s.max_share_target).to_u256() >> 1;
        let got = target(t).to_u256();
        let diff = if got > half { got - half } else { half - got };
        assert!(diff <= half >> 12, "got {got:x}, want about {half:x}");
        // Two half-lives: a quarter.
        let t2 = next_share_target(&s, a, Some((480 + 100, 1_000_000 + 100 * 15)));
        assert!(target(t2) < target(t));
    }

    #[test]
    fn slow_shares_clamp_at_easiest() {
        let s = spec();
        let t = next_share_target(&s, Anchor { time: 0 }, Some((1, 1_000_000)));
        assert_eq!(t, s.max_share_target);
    }

    #[test]
    fn regtest_anchor_near_two_to_the_256_does_not_wrap() {
        let mut s = ChainSpec::by_name("ltc-regtest").expect("built in").clone();
        s.max_share_target = CompactTarget::from_consensus(0x207f_ffff);
        let a = Anchor { time: 1000 };
        for h in 0..50u64 {
            let on_time = next_share_target(&s, a, Some((h, 1000 + 2 * h as u32)));
            assert_eq!(on_time, s.max_share_target, "height {h}");
        }
        // Ahead of schedule by one half-life: half the target.
        let fast = target(next_share_target(&s, a, Some((60 + 10, 1000 + 20))));
        let half = target(s.max_share_target).to_u256() >> 1;
        assert!(fast.to_u256() <= half + (half >> 10) && fast.to_u256() >= half - (half >> 10));
    }

    #[test]
    fn extreme_inputs_never_panic_and_stay_in_range() {
        let s = spec();
        for (h, t) in [
            (0u64, 0u32),
            (u64::MAX / 2, 0),
            (0, u32::MAX),
            (u64::MAX / 2, u32::MAX),
        ] {
            let c = next_share_target(&s, Anchor { time: 12345 }, Some((h, t)));
            let tt = target(c);
            assert!(tt <= target(s.max_share_target));
        }
    }

    #[test]
    fn matches_exponential_within_approximation() {
        // Half of a half-life ahead: factor 2^-0.5 = 0.70710678.
        let s = spec();
        let a = Anchor { time: 0 };
        let c = next_share_target(&s, a, Some((1000 + 120, 1000 * 15)));
        let got = target(c).to_u256();
        let max = target(s.max_share_target).to_u256();
        let want = max / U256::from(100_000_000u64) * U256::from(70_710_678u64);
        let diff = if got > want { got - want } else { want - got };
        assert!(
            diff * U256::from(1000u64) < want,
            "got {got:x} want {want:x}"
        );
    }
}
