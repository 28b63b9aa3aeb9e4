//! Verification of one share against the chain it builds on (P2Pool's `SideChain::verify`).

use super::super::error::RuleViolation;
use super::super::params::UNCLE_DEPTH;
use super::super::pplns::{WindowTip, split_reward};
use super::{DifficultyFailure, PayeeFailure, ShareState, SideChain};

use ShareState::{Invalid, Unverified, Valid};

impl SideChain {
    /// Returns the verdict on share `b` given what the chain holds now.
    pub(super) fn verify(&mut self, b: usize) -> ShareState {
        let p = &self.params;
        let (w, min_diff) = (p.window, p.min_difficulty);
        let s = &self.entries[b].share;

        if s.sidechain_height == 0 {
            let ok = s.parent.is_zero()
                && s.uncles.is_empty()
                && s.difficulty == min_diff
                && s.cumulative_difficulty == min_diff
                && s.tx_key_seed == p.consensus_id;
            return if ok {
                Valid
            } else {
                Invalid(RuleViolation::Genesis)
            };
        }
        // Buried this deep, the share was verified by the network while it was in the window.
        if self.entries[b].depth > (w - 1) * 2 + UNCLE_DEPTH {
            return Valid;
        }
        if s.parent.is_zero() {
            return Invalid(RuleViolation::NoParent {
                height: s.sidechain_height,
            });
        }
        let Some(pi) = self.get(&s.parent) else {
            return Unverified;
        };
        match &self.entries[pi].state {
            Unverified => return Unverified,
            Invalid(_) => return Invalid(RuleViolation::InvalidParent { parent: s.parent }),
            Valid => {}
        }
        let parent = &self.entries[pi].share;
        let seed = if s.prev_id == parent.prev_id {
            parent.tx_key_seed
        } else {
            parent.child_tx_key_seed()
        };
        if s.tx_key_seed != seed {
            return Invalid(RuleViolation::TxKeySeed {
                got: s.tx_key_seed,
                expected: seed,
            });
        }
        if s.sidechain_height != parent.sidechain_height + 1 {
            return Invalid(RuleViolation::Height {
                got: s.sidechain_height,
                expected: parent.sidechain_height + 1,
            });
        }
        if s.uncles.len() > super::super::share::MAX_UNCLES {
            return Invalid(RuleViolation::TooManyUncles {
                count: s.uncles.len(),
            });
        }
        if s.uncles.windows(2).any(|u| u[0] >= u[1]) {
            return Invalid(RuleViolation::UncleOrder);
        }
        let mut expected_cum = parent.cumulative_difficulty.wrapping_add(s.difficulty);

        // Shares and uncles already in the parent chain within three generations.
        let mut mined = Vec::new();
        if !s.uncles.is_empty() {
            let mut t = Some(pi);
            for _ in 0..UNCLE_DEPTH.min(s.sidechain_height + 1) {
                let Some(x) = t else { break };
                mined.push(self.entries[x].id);
                mined.extend_from_slice(&self.entries[x].share.uncles);
                t = self.parent_of(x);
            }
        }
        for uncle_id in &s.uncles {
            if uncle_id.is_zero() {
                return Invalid(RuleViolation::ZeroUncle);
            }
            if mined.contains(uncle_id) {
                return Invalid(RuleViolation::UncleAlreadyMined { uncle: *uncle_id });
            }
            let Some(ui) = self.get(uncle_id) else {
                return Unverified;
            };
            match &self.entries[ui].state {
                Unverified => return Unverified,
                Invalid(_) => return Invalid(RuleViolation::InvalidUncle { uncle: *uncle_id }),
                Valid => {}
            }
            let uncle = &self.entries[ui].share;
            if uncle.sidechain_height >= s.sidechain_height
                || uncle.sidechain_height + UNCLE_DEPTH < s.sidechain_height
            {
                return Invalid(RuleViolation::UncleHeight {
                    uncle: *uncle_id,
                    uncle_height: uncle.sidechain_height,
                    height: s.sidechain_height,
                });
            }
            let chain_err = Invalid(RuleViolation::UncleChain { uncle: *uncle_id });
            // Walk the parent down to the uncle's height; within three steps both must
            // then have the same parent.
            let mut t = pi;
            while self.entries[t].share.sidechain_height > uncle.sidechain_height {
                match self.parent_of(t) {
                    Some(x) => t = x,
                    None => return chain_err,
                }
            }
            if self.entries[t].share.sidechain_height < uncle.sidechain_height {
                return chain_err;
            }
            let (mut t, mut t2) = (Some(t), Some(ui));
            let mut same = false;
            for _ in 0..UNCLE_DEPTH {
                let (Some(x), Some(y)) = (t, t2) else { break };
                if self.entries[x].share.sidechain_height + UNCLE_DEPTH < s.sidechain_height {
                    break;
                }
                if self.entries[x].share.parent == self.entries[y].share.parent {
                    same = true;
                    break;
                }
                (t, t2) = (self.parent_of(x), self.parent_of(y));
            }
            if !same {
                return chain_err;
            }
            expected_cum = expected_cum.wrapping_add(uncle.difficulty);
        }
        if s.cumulative_difficulty != expected_cum {
            return Invalid(RuleViolation::CumulativeDifficulty {
                got: s.cumulative_difficulty,
                expected: expected_cum,
            });
        }
        // Difficulty and payouts are checked only inside the PPLNS window.
        if self.entries[b].depth >= w {
            return Valid;
        }
        let diff = match self.difficulty_after(pi) {
            Ok(d) => d,
            Err(DifficultyFailure::Missing) => return Unverified,
            Err(DifficultyFailure::Range) => return Invalid(RuleViolation::TimestampRange),
        };
        let s = &self.entries[b].share;
        if diff != s.difficulty {
            return Invalid(RuleViolation::Difficulty {
                got: s.difficulty,
                expected: diff,
            });
        }
        self.check_outputs(b)
    }

    /// Checks that the coinbase pays the PPLNS window: count, amounts, keys, view tags.
    fn check_outputs(&mut self, b: usize) -> ShareState {
        let s = &self.entries[b].share;
        let shares = match self.payees(&WindowTip::of(s), s.height, &s.tx_key_seed) {
            Ok(v) => v,
            Err(PayeeFailure::Missing(id)) => {
                return Invalid(RuleViolation::PplnsWindow { missing: id });
            }
            // Node-local data, not the share's fault: retry when the daemon answers.
            Err(PayeeFailure::MoneroDifficulty(_)) => return Unverified,
        };
        if shares.len() != s.outputs.len() {
            return Invalid(RuleViolation::OutputCount {
                got: s.outputs.len(),
                expected: shares.len(),
            });
        }
        let reward = s.total_reward();
        let Some(amounts) = split_reward(reward, &shares) else {
            return Invalid(RuleViolation::SplitReward { reward });
        };
        let tx_sec = self.entries[b].tx_sec;
        for (index, (payee, amount)) in shares.iter().zip(amounts).enumerate() {
            let out = self.entries[b].share.outputs[index];
            if out.amount != amount {
                return Invalid(RuleViolation::Amount {
                    index,
                    got: out.amount,
                    expected: amount,
                });
            }
            let Some(k) = self.output_key_cached(&tx_sec, &payee.wallet, index as u64) else {
                return Invalid(RuleViolation::PayeeKeys { index });
            };
            if out.view_tag != k.view_tag {
                return Invalid(RuleViolation::ViewTag {
                    index,
                    got: out.view_tag,
                    expected: k.view_tag,
                });
            }
            if out.key != k.key {
                return Invalid(RuleViolation::OutputKey {
                    index,
                    got: out.key,
                    expected: k.key,
                });
            }
        }
        Valid
    }
}
