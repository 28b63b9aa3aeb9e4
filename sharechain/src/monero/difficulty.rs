//! P2Pool's share difficulty retarget.

/// Errors of the retarget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetargetError {
    /// A timestamp lies 2^32 s or more after the oldest one in the window.
    TimestampRange,
}

/// Returns the next difficulty from the window's `(timestamp, cumulative difficulty)` pairs.
///
/// The 10 % oldest and 10 % newest timestamps are cut: with `cut = ceil(n / 10)`, `t1` and
/// `t2` are the sorted timestamps at `cut - 1` and `n - cut`, and `dt` = max(`t2 - t1`, the
/// index distance, 1). Over the entries stamped within `[t1, t2]` the difficulty is
/// `(max cumulative - min cumulative) * block_time / dt`, at least `min_difficulty`.
///
/// # Errors
/// [`RetargetError::TimestampRange`] when the timestamps span 2^32 s or more.
pub fn next_difficulty(
    data: &[(u64, u128)],
    block_time: u64,
    min_difficulty: u128,
) -> Result<u128, RetargetError> {
    let Some(oldest) = data.iter().map(|(t, _)| *t).min() else {
        return Ok(min_difficulty);
    };
    let mut deltas = Vec::with_capacity(data.len());
    for (t, _) in data {
        let dt = t - oldest;
        deltas.push(u32::try_from(dt).map_err(|_| RetargetError::TimestampRange)?);
    }
    deltas.sort_unstable();
    let n = deltas.len();
    let cut = n.div_ceil(10);
    let (i1, i2) = (cut - 1, n - cut);
    let t1 = oldest + u64::from(deltas[i1]);
    let t2 = oldest + u64::from(deltas[i2]);
    let delta_index = if i2 > i1 { (i2 - i1) as u64 } else { 1 };
    let delta_t = t2.saturating_sub(t1).max(delta_index);
    let mut lo = u128::MAX;
    let mut hi = 0u128;
    for (t, cum) in data {
        if (t1..=t2).contains(t) {
            lo = lo.min(*cum);
            hi = hi.max(*cum);
        }
    }
    let diff = hi.wrapping_sub(lo).wrapping_mul(u128::from(block_time)) / u128::from(delta_t);
    Ok(diff.max(min_difficulty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_chain_keeps_its_difficulty() {
        // 100 shares 10 s apart at difficulty 1000.
        let data: Vec<(u64, u128)> = (0..100)
            .map(|i| (1000 + 10 * i, 1000 * (u128::from(i) + 1)))
            .collect();
        assert_eq!(next_difficulty(&data, 10, 1), Ok(1000));
        // Twice as fast: twice the difficulty.
        let fast: Vec<(u64, u128)> = (0..100)
            .map(|i| (1000 + 5 * i, 1000 * (u128::from(i) + 1)))
            .collect();
        assert_eq!(next_difficulty(&fast, 10, 1), Ok(2000));
        assert_eq!(next_difficulty(&data, 10, 5000), Ok(5000));
    }

    #[test]
    fn timestamp_range_is_bounded() {
        let data = [(0u64, 1u128), (1 << 32, 2)];
        assert_eq!(
            next_difficulty(&data, 10, 1),
            Err(RetargetError::TimestampRange)
        );
    }
}
