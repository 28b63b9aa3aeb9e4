//! Share dumps: consecutive records of (u32 LE length, full share blob), as P2Pool's test
//! data and `otedama-node sidechain verify` use them, and their verification report.

use serde::Serialize;

use super::hash::Hash;
use super::params::SidechainParams;
use super::share::MAX_SHARE_SIZE;
use super::sidechain::{
    AddError, MoneroView, NoPowCheck, PowVerdict, ShareState, SideChain, payouts,
};
use super::wallet::Wallet;
use crate::error::DecodeError;

/// Splits a dump into share blobs.
///
/// # Errors
/// [`DecodeError`] for a truncated record or a length above the share size limit.
pub fn split_dump(mut data: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            return Err(DecodeError::UnexpectedEof {
                what: "dump record length",
            });
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_SHARE_SIZE {
            return Err(DecodeError::TooLong {
                what: "dump record",
                len: len as u64,
                max: MAX_SHARE_SIZE as u64,
            });
        }
        if rest.len() < len {
            return Err(DecodeError::UnexpectedEof {
                what: "dump record",
            });
        }
        let (blob, rest) = rest.split_at(len);
        out.push(blob);
        data = rest;
    }
    Ok(out)
}

/// Returns a permutation of `0..n` drawn from `seed` (xorshift64*, Fisher-Yates), to feed
/// shares in an order unrelated to the chain's.
pub fn permutation(n: usize, mut seed: u64) -> Vec<usize> {
    if seed == 0 {
        seed = 1;
    }
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
        v.swap(i, (r % (i as u64 + 1)) as usize);
    }
    v
}

/// The tip of a verified dump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TipReport {
    /// Sidechain height.
    pub sidechain_height: u64,
    /// Monero height.
    pub monero_height: u64,
    /// Sidechain id.
    pub id: Hash,
}

/// One invalid share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShareErrorReport {
    /// Position in the dump.
    pub index: usize,
    /// Sidechain id, when the share decodes.
    pub id: Option<Hash>,
    /// The rule's name.
    pub rule: &'static str,
    /// What is wrong.
    pub detail: String,
}

/// One payee of the next block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayeeReport {
    /// Standard address of the payee's keys.
    pub address: String,
    /// Atomic units.
    pub amount: u64,
}

/// The verification report of a dump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DumpReport {
    /// The chain tip, if any share is valid.
    pub tip: Option<TipReport>,
    /// Shares verified and valid.
    pub valid: usize,
    /// Shares rejected or verified invalid.
    pub invalid: usize,
    /// Shares still waiting for a parent, an uncle or Monero data.
    pub unverified: usize,
    /// Shares whose RandomX proof of work was not checked.
    pub pow_unchecked: usize,
    /// The first invalid shares (at most [`MAX_REPORTED_ERRORS`]), in dump order.
    pub errors: Vec<ShareErrorReport>,
    /// The next block's payees in output order, paid from the tip's reward.
    pub next_payees: Vec<PayeeReport>,
}

/// Most errors a report lists.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// Verifies `blobs` fed in `order` (indices into `blobs`) on a fresh sidechain.
///
/// The next block is mined by `miner` (the tip's miner when `None`) on the tip's Monero
/// height, and its payees are paid from the tip's reward, since a dump has no Monero
/// template. Proof of work is not checked.
pub fn verify_dump(
    params: SidechainParams,
    blobs: &[&[u8]],
    order: &[usize],
    monero: Box<dyn MoneroView>,
    miner: Option<Wallet>,
) -> DumpReport {
    let network = params.network;
    let mut chain = SideChain::new(params, monero, Box::new(NoPowCheck));
    let mut rejected: Vec<ShareErrorReport> = Vec::new();
    let mut position = std::collections::HashMap::new();
    for &i in order {
        let Some(blob) = blobs.get(i) else { continue };
        match chain.add_blob(blob) {
            Ok(id) => {
                position.insert(id, i);
            }
            Err(AddError::Rejected(rule)) => rejected.push(ShareErrorReport {
                index: i,
                id: None,
                rule: rule.rule(),
                detail: rule.to_string(),
            }),
            Err(AddError::Duplicate(id)) => rejected.push(ShareErrorReport {
                index: i,
                id: Some(id),
                rule: "duplicate",
                detail: format!("share {id} appears twice"),
            }),
        }
    }
    let (mut valid, mut unverified, mut pow_unchecked) = (0, 0, 0);
    let mut errors = rejected;
    for (id, state) in chain.states() {
        match state {
            ShareState::Valid => valid += 1,
            ShareState::Unverified => unverified += 1,
            ShareState::Invalid(rule) => errors.push(ShareErrorReport {
                index: position.get(id).copied().unwrap_or(usize::MAX),
                id: Some(*id),
                rule: rule.rule(),
                detail: rule.to_string(),
            }),
        }
        if chain.pow_verdict(id) == Some(PowVerdict::Unchecked) {
            pow_unchecked += 1;
        }
    }
    let invalid = errors.len();
    errors.sort_by_key(|e| e.index);
    errors.truncate(MAX_REPORTED_ERRORS);

    let tip = chain.tip().map(|(id, s)| TipReport {
        sidechain_height: s.sidechain_height,
        monero_height: s.height,
        id: *id,
    });
    let mut next_payees = Vec::new();
    if let Some((_, tip_share)) = chain.tip() {
        let (wallet, height, reward) = (
            miner.unwrap_or(tip_share.wallet),
            tip_share.height,
            tip_share.total_reward(),
        );
        if let Some(next) = chain.next_block(wallet, height)
            && let Some(paid) = payouts(&next.payees, reward)
        {
            next_payees = paid
                .into_iter()
                .map(|(w, amount)| PayeeReport {
                    address: w.address(network),
                    amount,
                })
                .collect();
        }
    }
    DumpReport {
        tip,
        valid,
        invalid,
        unverified,
        pow_unchecked,
        errors,
        next_payees,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_bounded() {
        assert_eq!(split_dump(&[]), Ok(vec![]));
        let mut d = vec![3, 0, 0, 0, 1, 2, 3, 1, 0, 0, 0, 9];
        assert_eq!(
            split_dump(&d).expect("ok"),
            vec![&[1u8, 2, 3][..], &[9u8][..]]
        );
        d.pop();
        assert!(split_dump(&d).is_err());
        assert!(split_dump(&[1, 0]).is_err());
        assert!(split_dump(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(100, 7);
        assert_ne!(p, (0..100).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
        assert_eq!(permutation(10, 3), permutation(10, 3));
    }
}
