//! Targets, compact targets, work and difficulty. All consensus arithmetic is integer.

use crate::PowHash;
use crate::error::TargetError;
use ruint::aliases::U256;
use std::fmt;

/// The 32-bit "nBits" form of a target, as in block headers.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct CompactTarget(u32);

impl CompactTarget {
    /// Wraps a raw nBits value.
    pub const fn from_consensus(bits: u32) -> Self {
        Self(bits)
    }

    /// Returns the raw nBits value.
    pub const fn to_consensus(self) -> u32 {
        self.0
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactTarget({:08x})", self.0)
    }
}

/// A 256-bit target: a PoW hash read as a little-endian integer must be `<=` it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(U256);

impl Target {
    /// The largest possible target (every hash meets it).
    pub const MAX: Target = Target(U256::MAX);

    /// The difficulty-1 target of Bitcoin (`0x1d00ffff`), the unit of pool difficulty.
    pub fn difficulty_one() -> Target {
        Target(U256::from(0xffffu64) << 208)
    }

    /// Wraps a 256-bit integer.
    pub const fn from_u256(v: U256) -> Self {
        Self(v)
    }

    /// Returns the 256-bit integer.
    pub const fn to_u256(self) -> U256 {
        self.0
    }

    /// Decodes nBits exactly as Bitcoin Core's `arith_uint256::SetCompact`.
    ///
    /// # Errors
    /// Negative or overflowing encodings, and zero.
    pub fn from_compact(c: CompactTarget) -> Result<Target, TargetError> {
        let bits = c.0;
        let exponent = bits >> 24;
        let mantissa = bits & 0x007f_ffff;
        if bits & 0x0080_0000 != 0 && mantissa != 0 {
            return Err(TargetError::Negative(c));
        }
        if mantissa != 0
            && (exponent > 34
                || (mantissa > 0xff && exponent > 33)
                || (mantissa > 0xffff && exponent > 32))
        {
            return Err(TargetError::Overflow(c));
        }
        let m = U256::from(mantissa);
        let v = if exponent <= 3 {
            m >> (8 * (3 - exponent) as usize)
        } else {
            m << (8 * (exponent - 3) as usize)
        };
        if v.is_zero() {
            return Err(TargetError::Zero);
        }
        Ok(Target(v))
    }

    /// Encodes to nBits as Bitcoin Core's `GetCompact` (rounds down, so the
    /// result may be slightly harder than `self`).
    pub fn to_compact(self) -> CompactTarget {
        let mut size = self.0.bit_len().div_ceil(8) as u32;
        let mut compact: u32 = if size <= 3 {
            let low = self.0.as_limbs()[0] as u32;
            low << (8 * (3 - size))
        } else {
            let shifted = self.0 >> (8 * (size - 3) as usize);
            shifted.as_limbs()[0] as u32
        };
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        CompactTarget(compact | (size << 24))
    }

    /// Returns whether `pow`, read as a little-endian 256-bit integer, meets this target.
    pub fn is_met_by(&self, pow: &PowHash) -> bool {
        U256::from_le_bytes(pow.to_bytes()) <= self.0
    }

    /// Returns the expected number of hashes to meet this target: `2^256 / (target + 1)`,
    /// saturating at `u128::MAX` for absurdly small targets.
    pub fn to_work(self) -> Work {
        if self.0 == U256::MAX {
            return Work(1);
        }
        // 2^256 / (t+1) == (!t / (t+1)) + 1, as in Bitcoin Core's GetBlockProof.
        let w = (!self.0) / (self.0 + U256::from(1u8)) + U256::from(1u8);
        Work(u128::try_from(w).unwrap_or(u128::MAX))
    }

    /// Returns the target whose work is `work` (inverse of [`Target::to_work`], rounded).
    pub fn from_work(work: Work) -> Target {
        let w = work.0.max(1);
        if w == 1 {
            return Target::MAX;
        }
        // t = 2^256 / w - 1, computed as (2^256 - 1) / w to stay in 256 bits.
        Target(U256::MAX / U256::from(w))
    }

    /// Returns the larger (easier) of two targets.
    pub fn max(self, other: Target) -> Target {
        if self.0 >= other.0 { self } else { other }
    }

    /// Returns the smaller (harder) of two targets.
    pub fn min(self, other: Target) -> Target {
        if self.0 <= other.0 { self } else { other }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:064x}", self.0)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({:064x})", self.0)
    }
}

/// Expected hashes: the weight of a share in PPLNS and of a chain in fork choice.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Work(u128);

impl Work {
    /// No work.
    pub const ZERO: Work = Work(0);

    /// Wraps a raw value.
    pub const fn from_u128(w: u128) -> Self {
        Self(w)
    }

    /// Returns the raw value.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// Adds, saturating (a chain cannot realistically approach 2^128 hashes).
    #[must_use]
    pub const fn saturating_add(self, other: Work) -> Work {
        Work(self.0.saturating_add(other.0))
    }

    /// Multiplies by an integer, saturating.
    #[must_use]
    pub const fn saturating_mul(self, k: u64) -> Work {
        Work(self.0.saturating_mul(k as u128))
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Pool difficulty (multiples of the difficulty-1 target). For display and for Stratum,
/// which speaks in difficulties; never used in consensus arithmetic.
#[derive(Clone, Copy, PartialEq, PartialOrd, Debug, serde::Serialize, serde::Deserialize)]
pub struct Difficulty(f64);

impl Difficulty {
    /// Wraps a positive finite value; anything else becomes `None`.
    pub fn new(d: f64) -> Option<Self> {
        (d.is_finite() && d > 0.0).then_some(Self(d))
    }

    /// Returns the value.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Returns the difficulty of `target` relative to difficulty one.
    pub fn from_target(target: Target) -> Self {
        let one = u256_to_f64(Target::difficulty_one().0);
        Self(one / u256_to_f64(target.0).max(1.0))
    }

    /// Returns the target of this difficulty, `difficulty_one / d`, exact to the 53-bit
    /// mantissa of `d` (also for the tiny difficulties of regtest), clamped to
    /// `[1, Target::MAX]`.
    pub fn to_target(self) -> Target {
        use ruint::aliases::U512;
        // d = m * 2^-k with m a 53-bit integer.
        let k = 52 - self.0.log2().floor() as i64;
        if k > 300 {
            return Target::MAX;
        }
        if k < -300 {
            return Target(U256::from(1u8));
        }
        let m = (self.0 * 2f64.powi(k as i32)).round().max(1.0) as u64;
        let limbs = Target::difficulty_one().0.into_limbs();
        let one = U512::from_limbs([limbs[0], limbs[1], limbs[2], limbs[3], 0, 0, 0, 0]);
        let t = if k >= 0 {
            (one << k as usize) / U512::from(m)
        } else {
            (one >> (-k) as usize) / U512::from(m)
        };
        if t.bit_len() > 256 {
            return Target::MAX;
        }
        let l = t.into_limbs();
        Target(U256::from_limbs([l[0], l[1], l[2], l[3]]).max(U256::from(1u8)))
    }
}

impl Difficulty {
    /// The Stratum difficulty scale of `algo`: Scrypt pools count difficulty in units
    /// 65 536 times smaller than SHA256d's (the cpuminer / cgminer convention).
    pub fn stratum_scale(algo: crate::PowAlgorithm) -> f64 {
        match algo {
            crate::PowAlgorithm::Sha256d => 1.0,
            crate::PowAlgorithm::Scrypt => 65536.0,
        }
    }

    /// Returns the target of Stratum difficulty `self` for `algo`.
    pub fn to_stratum_target(self, algo: crate::PowAlgorithm) -> Target {
        Difficulty(self.0 / Self::stratum_scale(algo)).to_target()
    }

    /// Returns the Stratum difficulty of `target` for `algo`.
    pub fn from_stratum_target(target: Target, algo: crate::PowAlgorithm) -> Self {
        Difficulty(Self::from_target(target).0 * Self::stratum_scale(algo))
    }
}

fn u256_to_f64(v: U256) -> f64 {
    v.as_limbs().iter().rev().fold(0.0, |acc, &limb| {
        acc * 18_446_744_073_709_551_616.0 + limb as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compact_known_values() {
        let t = Target::from_compact(CompactTarget(0x1d00ffff)).expect("valid");
        assert_eq!(t, Target::difficulty_one());
        assert_eq!(t.to_compact(), CompactTarget(0x1d00ffff));
        // Regtest target 0x207fffff = 7fffff00...00.
        let r = Target::from_compact(CompactTarget(0x207fffff)).expect("valid");
        assert_eq!(r.to_string(), format!("7fffff{}", "0".repeat(58)));
        assert_eq!(r.to_work(), Work(2));
        assert!(Target::from_compact(CompactTarget(0x04923456)).is_err());
        assert!(Target::from_compact(CompactTarget(0xff123456)).is_err());
        assert_eq!(
            Target::from_compact(CompactTarget(0)),
            Err(TargetError::Zero)
        );
    }

    #[test]
    fn work_of_difficulty_one() {
        // Bitcoin Core: GetBlockProof(0x1d00ffff) = 0x100010001.
        assert_eq!(Target::difficulty_one().to_work(), Work(0x1_0001_0001));
        assert_eq!(Target::MAX.to_work(), Work(1));
    }

    #[test]
    fn difficulty_conversions() {
        let d = Difficulty::from_target(Target::difficulty_one());
        assert!((d.get() - 1.0).abs() < 1e-12);
        let t = Difficulty::new(1024.0).expect("positive").to_target();
        assert!((Difficulty::from_target(t).get() - 1024.0).abs() < 1e-6);
        let small = Difficulty::new(0.001).expect("positive").to_target();
        assert!((Difficulty::from_target(small).get() - 0.001).abs() < 1e-12);
        // Regtest's share target survives the round trip through a Stratum difficulty.
        let regtest = Target::from_compact(CompactTarget(0x207f_ffff)).expect("valid");
        let back = Difficulty::from_target(regtest).to_target();
        let diff = if back.0 > regtest.0 {
            back.0 - regtest.0
        } else {
            regtest.0 - back.0
        };
        assert!(diff < regtest.0 >> 50, "{back} vs {regtest}");
        assert!(Difficulty::new(0.0).is_none());
        assert!(Difficulty::new(f64::NAN).is_none());
    }

    #[test]
    fn scrypt_stratum_scale() {
        use crate::PowAlgorithm;
        // Scrypt difficulty 1 = target 0x0000ffff << 224 (the pooler/cpuminer convention).
        let t = Difficulty::new(1.0)
            .expect("positive")
            .to_stratum_target(PowAlgorithm::Scrypt);
        assert_eq!(t, Target(U256::from(0xffffu64) << 224));
        let d = Difficulty::from_stratum_target(t, PowAlgorithm::Scrypt);
        assert!((d.get() - 1.0).abs() < 1e-9);
        let s = Difficulty::new(1.0)
            .expect("positive")
            .to_stratum_target(PowAlgorithm::Sha256d);
        assert_eq!(s, Target::difficulty_one());
    }

    proptest! {
        #[test]
        fn compact_round_trip_is_lossless_for_canonical(exp in 4u32..=32, mant in 0x8000u32..0x7f_ffff) {
            let c = CompactTarget((exp << 24) | mant);
            let t = Target::from_compact(c).expect("valid");
            prop_assert_eq!(t.to_compact(), c);
        }

        #[test]
        fn to_compact_never_easier(limbs in any::<[u64; 4]>()) {
            let v = U256::from_limbs(limbs);
            prop_assume!(!v.is_zero());
            let t = Target(v);
            if let Ok(back) = Target::from_compact(t.to_compact()) {
                prop_assert!(back <= t);
            }
        }

        #[test]
        fn work_target_inverse(w in 2u128..u128::MAX) {
            let t = Target::from_work(Work(w));
            let back = t.to_work().0;
            prop_assert!(back.abs_diff(w) <= 1, "{} vs {}", back, w);
        }
    }
}
