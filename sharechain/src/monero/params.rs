//! Sidechain parameters and consensus ids of P2Pool's main, mini and nano sidechains, and
//! the Monero hard-fork tables that fix a share's block version.

use super::hash::Hash;
use super::wallet::MoneroNetwork;

/// Consensus parameters of one P2Pool sidechain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidechainParams {
    /// Otedama's chain name (`xmr-main`).
    pub name: &'static str,
    /// P2Pool's pool name (`default`, `mini`, `nano`).
    pub pool_name: &'static str,
    /// Monero network of the parent chain.
    pub network: MoneroNetwork,
    /// Which hard-fork table fixes the block major version.
    pub hard_forks: &'static [(u8, u64)],
    /// The consensus id: part of every sidechain id, the genesis seed and the aux slot.
    pub consensus_id: Hash,
    /// Target share time, seconds.
    pub block_time: u64,
    /// Smallest share difficulty.
    pub min_difficulty: u128,
    /// PPLNS window, shares.
    pub window: u64,
    /// Percent of an uncle's difficulty credited to the share that includes it.
    pub uncle_penalty: u64,
}

/// Deepest an uncle may be below the share that includes it.
pub const UNCLE_DEPTH: u64 = 3;

/// Monero mainnet hard forks `(major version, first height)`.
pub const MAINNET_HARD_FORKS: &[(u8, u64)] = &[
    (1, 0),
    (2, 1_009_827),
    (3, 1_141_317),
    (4, 1_220_516),
    (5, 1_288_616),
    (6, 1_400_000),
    (7, 1_546_000),
    (8, 1_685_555),
    (9, 1_686_275),
    (10, 1_788_000),
    (11, 1_788_720),
    (12, 1_978_433),
    (13, 2_210_000),
    (14, 2_210_720),
    (15, 2_688_888),
    (16, 2_689_608),
];

/// monerod `--regtest` hard forks: v1 at genesis, v16 from height 1.
pub const REGTEST_HARD_FORKS: &[(u8, u64)] = &[(1, 0), (16, 1)];

/// Highest Monero major version P2Pool's share format supports (v16: tagged keys, view tags).
pub const MAX_MAJOR_VERSION: u8 = 16;

/// Returns the block major version at `height` in `table`.
pub fn major_version_at(table: &[(u8, u64)], height: u64) -> u8 {
    table
        .iter()
        .take_while(|(_, h)| *h <= height)
        .last()
        .map_or(1, |(v, _)| *v)
}

const fn id(bytes: [u8; 32]) -> Hash {
    Hash::from_bytes(bytes)
}

impl SidechainParams {
    /// P2Pool's main sidechain (pool name "default"; its id was derived from the launch
    /// name "mainnet test 2", so P2Pool hard-codes it, and so does Otedama).
    pub fn main() -> Self {
        Self {
            name: "xmr-main",
            pool_name: "default",
            network: MoneroNetwork::Mainnet,
            hard_forks: MAINNET_HARD_FORKS,
            consensus_id: id([
                0x22, 0xaf, 0x7e, 0xe7, 0xb5, 0x0b, 0x68, 0x92, 0xe3, 0x99, 0xda, 0x6b, 0x2c, 0x6c,
                0x44, 0x27, 0xb2, 0x51, 0x04, 0xd4, 0xa9, 0x04, 0x8e, 0x00, 0xb1, 0x6e, 0x9d, 0xf0,
                0x44, 0x07, 0xf9, 0x18,
            ]),
            block_time: 10,
            min_difficulty: 100_000,
            window: 2160,
            uncle_penalty: 20,
        }
    }

    /// P2Pool mini.
    pub fn mini() -> Self {
        Self {
            name: "xmr-mini",
            pool_name: "mini",
            consensus_id: id([
                0x39, 0x82, 0xc9, 0x1a, 0x95, 0xae, 0xc7, 0xfa, 0x42, 0x50, 0xbd, 0x12, 0x6c, 0xd8,
                0xc2, 0xdc, 0x88, 0x17, 0x3f, 0x18, 0x40, 0x71, 0xdd, 0x2c, 0xdb, 0x56, 0x27, 0xa3,
                0x35, 0x18, 0x7e, 0xc4,
            ]),
            ..Self::main()
        }
    }

    /// P2Pool nano: 30 s shares, 10 % uncle penalty.
    pub fn nano() -> Self {
        Self {
            name: "xmr-nano",
            pool_name: "nano",
            consensus_id: id([
                0xab, 0xf8, 0xce, 0x94, 0xd2, 0xe2, 0x72, 0x63, 0xfa, 0x91, 0xdd, 0x60, 0x0d, 0xd8,
                0x17, 0x3f, 0x68, 0x35, 0x81, 0xa8, 0xf4, 0x50, 0x8d, 0x8a, 0x9d, 0xfa, 0x32, 0x36,
                0x25, 0xbd, 0x05, 0x59,
            ]),
            block_time: 30,
            uncle_penalty: 10,
            ..Self::main()
        }
    }

    /// Otedama's own sidechain on a monerod `--regtest` parent (mainnet address prefixes,
    /// v16 from height 1). P2Pool cannot run on regtest, so there is nothing to stay
    /// compatible with: the consensus id is `keccak("otedama/xmr-regtest/1" || config
    /// string)` instead of P2Pool's RandomX-based derivation, and the minimum difficulty is
    /// low enough for CPU miners on a development network.
    pub fn regtest() -> Self {
        let mut p = Self {
            name: "xmr-regtest",
            pool_name: "otedama-regtest",
            hard_forks: REGTEST_HARD_FORKS,
            consensus_id: Hash::ZERO,
            min_difficulty: 1_000,
            ..Self::main()
        };
        let mut preimage = b"otedama/xmr-regtest/1".to_vec();
        preimage.extend_from_slice(&p.config_string());
        p.consensus_id = Hash::keccak(&preimage);
        p
    }

    /// Returns every built-in sidechain.
    pub fn all() -> [Self; 4] {
        [Self::main(), Self::mini(), Self::nano(), Self::regtest()]
    }

    /// Returns the built-in sidechain called `name` (`xmr-main`, `xmr-mini`, `xmr-nano`,
    /// `xmr-regtest`).
    pub fn by_name(name: &str) -> Option<Self> {
        Self::all().into_iter().find(|p| p.name == name)
    }

    /// Returns P2Pool's config string for these parameters (network, pool name, empty
    /// password, block time, min difficulty, window, uncle penalty, each NUL-terminated).
    /// Custom sidechains derive their consensus id from it through a RandomX cache; the
    /// built-in ones are hard-coded.
    pub fn config_string(&self) -> Vec<u8> {
        let network = match self.network {
            MoneroNetwork::Mainnet => "mainnet",
            MoneroNetwork::Testnet => "testnet",
            MoneroNetwork::Stagenet => "stagenet",
        };
        let mut s = Vec::new();
        for part in [
            network.to_string(),
            self.pool_name.to_string(),
            String::new(),
            self.block_time.to_string(),
            self.min_difficulty.to_string(),
            self.window.to_string(),
            self.uncle_penalty.to_string(),
        ] {
            s.extend_from_slice(part.as_bytes());
            s.push(0);
        }
        s
    }

    /// Returns the Monero major version a block at `height` must carry.
    pub fn major_version_at(&self, height: u64) -> u8 {
        major_version_at(self.hard_forks, height)
    }
}

/// Returns the RandomX seed height for a block at Monero `height`: `(height - 65) & !2047`,
/// or 0 for the first 64 blocks. The PPLNS cap reads Monero's difficulty at this height.
pub fn seed_height(height: u64) -> u64 {
    if height <= 64 {
        0
    } else {
        (height - 65) & !2047
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consensus_ids_match_p2pool() {
        assert_eq!(
            SidechainParams::main().consensus_id.to_string(),
            "22af7ee7b50b6892e399da6b2c6c4427b25104d4a9048e00b16e9df04407f918"
        );
        assert_eq!(
            SidechainParams::mini().consensus_id.to_string(),
            "3982c91a95aec7fa4250bd126cd8c2dc88173f184071dd2cdb5627a335187ec4"
        );
        assert_eq!(
            SidechainParams::nano().consensus_id.to_string(),
            "abf8ce94d2e27263fa91dd600dd8173f683581a8f4508d8a9dfa323625bd0559"
        );
        assert_eq!(
            SidechainParams::nano().config_string(),
            "mainnet|nano||30|100000|2160|10|"
                .replace('|', "\0")
                .into_bytes()
        );
    }

    #[test]
    fn regtest_has_its_own_id_and_forks() {
        let r = SidechainParams::by_name("xmr-regtest").expect("built in");
        let ids: std::collections::BTreeSet<Hash> = SidechainParams::all()
            .iter()
            .map(|p| p.consensus_id)
            .collect();
        assert_eq!(ids.len(), 4);
        assert_eq!(r.major_version_at(0), 1);
        assert_eq!(r.major_version_at(1), 16);
        assert_eq!(r.network, MoneroNetwork::Mainnet);
    }

    #[test]
    fn hard_forks_and_seed_height() {
        let p = SidechainParams::main();
        assert_eq!(p.major_version_at(0), 1);
        assert_eq!(p.major_version_at(2_689_607), 15);
        assert_eq!(p.major_version_at(3_456_189), 16);
        assert_eq!(seed_height(3_456_189), 3_454_976);
        assert_eq!(seed_height(64), 0);
        assert_eq!(seed_height(65 + 2048), 2048);
    }
}
