//! Chain specs: every consensus parameter of one sharechain, and its consensus id.
//!
//! Node-local configuration never changes any of these; two nodes talk only when
//! their consensus ids are equal.

use crate::encode::{write_bytes, write_varint};
use crate::hash::sha256d;
use crate::{Amount, CompactTarget, ConsensusId, PowAlgorithm, Seal};

/// The parent coin a sharechain mines.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParentCoin {
    /// Bitcoin (SHA256d).
    Bitcoin,
    /// Litecoin (Scrypt, MWEB).
    Litecoin,
    /// Ravencoin (KawPow).
    Ravencoin,
}

/// Which network of the parent coin.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParentNetwork {
    /// The main network.
    Main,
    /// The public test network.
    Testnet,
    /// A local regression-test chain.
    Regtest,
}

/// Every consensus parameter of a sharechain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChainSpec {
    /// Short name (`ltc-main`).
    pub name: &'static str,
    /// Parent coin.
    pub parent: ParentCoin,
    /// Parent network.
    pub network: ParentNetwork,
    /// The hash of the 80-byte parent header: the proof of work itself, or with a
    /// [`Seal::Kawpow`], the header hash KawPow starts from (SHA256d).
    pub algorithm: PowAlgorithm,
    /// What proves the header's work: its nonce, or a KawPow seal after it.
    pub seal: Seal,
    /// Share format version every share must carry.
    pub share_version: u32,
    /// Target time between shares, seconds.
    pub share_period_secs: u64,
    /// ASERT half-life, seconds.
    pub asert_half_life_secs: u64,
    /// Easiest share target allowed (the minimum share difficulty).
    pub max_share_target: CompactTarget,
    /// The PPLNS window ends once its weight reaches this many times the parent block's work.
    pub window_work_multiplier: u64,
    /// ... or once it holds this many shares, whichever comes first.
    pub window_max_shares: u32,
    /// Most uncles one share may include.
    pub max_uncles: u8,
    /// Deepest an uncle may be, in shares below the including share.
    pub uncle_depth: u8,
    /// Percent of an uncle's weight credited to the uncle's miner; the includer gets the rest.
    pub uncle_credit_percent: u8,
    /// Basis points of every reward paid to `donation_script` (0 = none).
    pub donation_basis_points: u16,
    /// Where the donation goes, if any.
    pub donation_script: &'static [u8],
    /// Smallest output the coinbase may contain.
    pub dust_threshold: Amount,
    /// Most payout outputs in a coinbase.
    pub max_payouts: u16,
    /// Largest encoded share, bytes.
    pub max_share_size: u32,
    /// Extranonce bytes in the coinbase scriptSig (Stratum extranonce1 + extranonce2).
    pub extranonce_size: u8,
    /// Largest allowed clock drift of a share timestamp into the future, seconds.
    pub max_future_secs: u64,
}

const DOMAIN: &[u8] = b"otedama/chainspec/1";

impl ChainSpec {
    /// Returns every built-in spec.
    pub fn all() -> &'static [ChainSpec] {
        &ALL
    }

    /// Returns the built-in spec called `name`.
    pub fn by_name(name: &str) -> Option<&'static ChainSpec> {
        ALL.iter().find(|s| s.name == name)
    }

    /// Returns the hash of every consensus parameter, in a fixed explicit encoding.
    pub fn consensus_id(&self) -> ConsensusId {
        let mut b = Vec::with_capacity(128);
        write_bytes(&mut b, DOMAIN);
        write_bytes(&mut b, self.name.as_bytes());
        b.push(self.parent as u8);
        b.push(self.network as u8);
        b.push(self.algorithm.code());
        b.extend_from_slice(&self.share_version.to_le_bytes());
        b.extend_from_slice(&self.share_period_secs.to_le_bytes());
        b.extend_from_slice(&self.asert_half_life_secs.to_le_bytes());
        b.extend_from_slice(&self.max_share_target.to_consensus().to_le_bytes());
        b.extend_from_slice(&self.window_work_multiplier.to_le_bytes());
        b.extend_from_slice(&self.window_max_shares.to_le_bytes());
        b.push(self.max_uncles);
        b.push(self.uncle_depth);
        b.push(self.uncle_credit_percent);
        b.extend_from_slice(&self.donation_basis_points.to_le_bytes());
        write_bytes(&mut b, self.donation_script);
        b.extend_from_slice(&self.dust_threshold.to_sat().to_le_bytes());
        b.extend_from_slice(&self.max_payouts.to_le_bytes());
        b.extend_from_slice(&self.max_share_size.to_le_bytes());
        b.push(self.extranonce_size);
        write_varint(&mut b, self.max_future_secs);
        // Appended only where there is one, so the ids of unsealed chains never change.
        if self.seal != Seal::Nonce {
            b.push(self.seal.code());
        }
        ConsensusId::from_bytes(sha256d(&b))
    }

    /// Returns the proof of work's name as miners and configs know it (`sha256d`,
    /// `scrypt`, `kawpow`).
    pub fn pow_name(&self) -> &'static str {
        match (self.seal, self.algorithm) {
            (Seal::Kawpow, _) => "kawpow",
            (Seal::Nonce, PowAlgorithm::Sha256d) => "sha256d",
            (Seal::Nonce, PowAlgorithm::Scrypt) => "scrypt",
        }
    }

    /// Returns how many shares the store keeps before pruning (twice the window cap).
    pub fn retention_shares(&self) -> u64 {
        2 * u64::from(self.window_max_shares)
    }
}

const MAIN_DEFAULTS: ChainSpec = ChainSpec {
    name: "",
    parent: ParentCoin::Litecoin,
    network: ParentNetwork::Main,
    algorithm: PowAlgorithm::Scrypt,
    seal: Seal::Nonce,
    share_version: 1,
    share_period_secs: 15,
    asert_half_life_secs: 3600,
    max_share_target: CompactTarget::from_consensus(0x1e0f_fff0),
    // As the original p2pool: up to three blocks' worth of work, capped in shares.
    window_work_multiplier: 3,
    window_max_shares: 8640,
    max_uncles: 4,
    uncle_depth: 3,
    uncle_credit_percent: 90,
    donation_basis_points: 0,
    donation_script: &[],
    dust_threshold: Amount::from_sat(10_000),
    max_payouts: 500,
    max_share_size: 64 * 1024,
    extranonce_size: 8,
    max_future_secs: 120,
};

/// Regtest chains are tuned for a laptop: every share is a parent block (the parent
/// target is trivial), so the window is sized by the share cap alone. The easiest share
/// target asks for about 256 hashes, so a fresh chain is not flooded with shares while
/// ASERT raises the difficulty to one share per period.
const REGTEST_DEFAULTS: ChainSpec = ChainSpec {
    network: ParentNetwork::Regtest,
    share_period_secs: 2,
    asert_half_life_secs: 120,
    max_share_target: CompactTarget::from_consensus(0x2000_ffff),
    window_work_multiplier: 1 << 40,
    window_max_shares: 120,
    dust_threshold: Amount::from_sat(1_000),
    ..MAIN_DEFAULTS
};

/// Mini chains: the main networks' parents with a 2-hour window (480 shares of 15 s), so a
/// rig that mines for an afternoon, or hashrate rented for a few hours, is paid for its own
/// hours instead of being diluted across a day and a half. Separate networks, with their own
/// consensus ids and their own (smaller) pools of hashrate, as P2Pool's mini sidechain is
/// to its main one.
const MINI_DEFAULTS: ChainSpec = ChainSpec {
    share_period_secs: 15,
    window_max_shares: 480,
    ..MAIN_DEFAULTS
};

/// Ravencoin: KawPow headers, the SHA256d header hash under the seal, a one-minute
/// parent block. Share difficulty 1 is Bitcoin's (about 2^32 hashes, as KawPow pools
/// count); the easiest share asks for about 2^24, a second of one GPU.
const RAVENCOIN_MAIN: ChainSpec = ChainSpec {
    parent: ParentCoin::Ravencoin,
    algorithm: PowAlgorithm::Sha256d,
    seal: Seal::Kawpow,
    max_share_target: CompactTarget::from_consensus(0x1e00_ffff),
    ..MAIN_DEFAULTS
};

static ALL: [ChainSpec; 9] = [
    ChainSpec {
        name: "ltc-main",
        ..MAIN_DEFAULTS
    },
    ChainSpec {
        name: "ltc-mini",
        ..MINI_DEFAULTS
    },
    ChainSpec {
        name: "ltc-regtest",
        ..REGTEST_DEFAULTS
    },
    ChainSpec {
        name: "btc-main",
        parent: ParentCoin::Bitcoin,
        algorithm: PowAlgorithm::Sha256d,
        share_period_secs: 30,
        max_share_target: CompactTarget::from_consensus(0x1d00_ffff),
        ..MAIN_DEFAULTS
    },
    ChainSpec {
        name: "btc-mini",
        parent: ParentCoin::Bitcoin,
        algorithm: PowAlgorithm::Sha256d,
        max_share_target: CompactTarget::from_consensus(0x1d00_ffff),
        ..MINI_DEFAULTS
    },
    ChainSpec {
        name: "btc-regtest",
        parent: ParentCoin::Bitcoin,
        algorithm: PowAlgorithm::Sha256d,
        ..REGTEST_DEFAULTS
    },
    // Bitcoin regtest with the main networks' 8 640-share window: for benchmarks and
    // load tests of sync and payouts at full window size on a laptop.
    ChainSpec {
        name: "btc-bench",
        parent: ParentCoin::Bitcoin,
        algorithm: PowAlgorithm::Sha256d,
        window_max_shares: 8640,
        ..REGTEST_DEFAULTS
    },
    ChainSpec {
        name: "rvn-main",
        ..RAVENCOIN_MAIN
    },
    // Light KawPow hashes (the whole dataset is not built for a regtest) are slow, so
    // the easiest share asks for about 16 of them.
    ChainSpec {
        name: "rvn-regtest",
        parent: ParentCoin::Ravencoin,
        algorithm: PowAlgorithm::Sha256d,
        seal: Seal::Kawpow,
        max_share_target: CompactTarget::from_consensus(0x200f_ffff),
        ..REGTEST_DEFAULTS
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_ids_distinct() {
        let ids: std::collections::BTreeSet<_> =
            ChainSpec::all().iter().map(|s| s.consensus_id()).collect();
        assert_eq!(ids.len(), ChainSpec::all().len());
        assert!(ChainSpec::by_name("ltc-regtest").is_some());
        assert!(ChainSpec::by_name("doge-main").is_none());
    }

    #[test]
    fn every_parameter_changes_the_id() {
        let base = ChainSpec::by_name("ltc-main").expect("built in").clone();
        let id = base.consensus_id();
        let variants = [
            ChainSpec {
                share_period_secs: 16,
                ..base.clone()
            },
            ChainSpec {
                window_max_shares: 8641,
                ..base.clone()
            },
            ChainSpec {
                uncle_credit_percent: 80,
                ..base.clone()
            },
            ChainSpec {
                dust_threshold: Amount::from_sat(1),
                ..base.clone()
            },
            ChainSpec {
                donation_script: &[0x51],
                ..base.clone()
            },
            ChainSpec {
                max_future_secs: 7200,
                ..base.clone()
            },
            ChainSpec {
                algorithm: PowAlgorithm::Sha256d,
                ..base.clone()
            },
            ChainSpec {
                seal: Seal::Kawpow,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.consensus_id(), id, "{v:?}");
        }
    }

    /// Golden values: a change here forks the network and must be deliberate.
    #[test]
    fn consensus_ids_are_stable() {
        let got: Vec<String> = ChainSpec::all()
            .iter()
            .map(|s| format!("{} {}", s.name, s.consensus_id()))
            .collect();
        let want = GOLDEN_IDS;
        assert_eq!(got, want);
    }

    const GOLDEN_IDS: [&str; 9] = [
        "ltc-main ab3aa2008a92563d47c653a981240f8a9b731d01ad6198434f4347d653bff08e",
        "ltc-mini bebd3811328c4ec92e0e536f5e014595401fb11863d1d19b0efccd69972394f8",
        "ltc-regtest 041cc3c7fbb984dd1044ce42e11957088750c0bfcdc920a6ea9bf3396bb2409a",
        "btc-main 15e36626986a57bec0137d083cb2b47a289bad562e2ca1f7e5bc53aa030bf565",
        "btc-mini 187f16e156f5e3bd353edd3f0157c0947b8a04f9c2e79fbab473be72e44c7955",
        "btc-regtest a3a5fb105d2197b32fb7c01bc8f1c5882f34ee47c4548c8d493428a456ea8e79",
        "btc-bench f0e937e52c1e4945720e9c84b31eaa89027cc4f403cede5cce6960085b626277",
        "rvn-main 317f5e2d97bbb6a6914191ddb4575842d3f7cd6728483d1dc0d899f94fb8dad1",
        "rvn-regtest 3b5c1a929a9ff267043a7ab10b5d4dae63f0d97f60fbd9d3efdae961de03fdac",
    ];
}
