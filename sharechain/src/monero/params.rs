//! Sidechain parameters and consensus ids of P2Pool's main, mini and nano sidechains, and
//! the Monero hard-fork tables that fix a share's block version.

use super::hash::Hash;
use super::wallet::MoneroNetwork;

/// Consensus parameters of one P2Pool sidechain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidechainParams {
    /// Otedama's chain name (`xmr-main`).
    pub name: String,
    /// P2Pool's pool name (`default`, `mini`, `nano`).
    pub pool_name: String,
    /// P2Pool's pool password (empty for the public sidechains).
    pub password: String,
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
    /// Whether the PPLNS window stops at twice the Monero difficulty of the seed block, as
    /// P2Pool's does. Off only on `xmr-regtest`, whose seed block is the genesis block of
    /// difficulty 1, which would pay one share per block.
    pub monero_difficulty_cap: bool,
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
            name: "xmr-main".into(),
            pool_name: "default".into(),
            password: String::new(),
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
            monero_difficulty_cap: true,
        }
    }

    /// P2Pool mini.
    pub fn mini() -> Self {
        Self {
            name: "xmr-mini".into(),
            pool_name: "mini".into(),
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
            name: "xmr-nano".into(),
            pool_name: "nano".into(),
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
    /// string)` instead of P2Pool's RandomX-based derivation. Shares come every 2 s at a
    /// minimum difficulty of 20, so one CPU thread hashing RandomX in light mode keeps the
    /// chain moving, and the window has no Monero-difficulty cap (see
    /// [`SidechainParams::monero_difficulty_cap`]).
    pub fn regtest() -> Self {
        let mut p = Self {
            name: "xmr-regtest".into(),
            pool_name: "otedama-regtest".into(),
            hard_forks: REGTEST_HARD_FORKS,
            consensus_id: Hash::ZERO,
            block_time: 2,
            min_difficulty: 20,
            monero_difficulty_cap: false,
            ..Self::main()
        };
        let mut preimage = b"otedama/xmr-regtest/2".to_vec();
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
            self.pool_name.clone(),
            self.password.clone(),
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

    /// Builds the parameters of a custom P2Pool sidechain and derives its consensus id as
    /// P2Pool does (the built-in configs keep their hard-coded ids). The derivation fills
    /// a 256 MiB RandomX cache, about a second of CPU.
    ///
    /// # Errors
    /// [`ConfigError`] for a value outside P2Pool's limits.
    pub fn custom(
        network: MoneroNetwork,
        pool_name: &str,
        password: &str,
        block_time: u64,
        min_difficulty: u64,
        window: u64,
        uncle_penalty: u64,
    ) -> Result<Self, ConfigError> {
        if pool_name.is_empty() || pool_name.len() > 128 {
            return Err(ConfigError::PoolName);
        }
        if password.len() > 128 {
            return Err(ConfigError::Password);
        }
        if !(1..=120).contains(&block_time) {
            return Err(ConfigError::BlockTime(block_time));
        }
        if network == MoneroNetwork::Mainnet && !(100_000..=1_000_000_000).contains(&min_difficulty)
        {
            return Err(ConfigError::MinDifficulty(min_difficulty));
        }
        if !(60..=2160).contains(&window) {
            return Err(ConfigError::Window(window));
        }
        if !(1..=99).contains(&uncle_penalty) {
            return Err(ConfigError::UnclePenalty(uncle_penalty));
        }
        if window * block_time > 30 * 3600 {
            return Err(ConfigError::WindowTooLong);
        }
        let mut p = Self {
            name: format!("xmr-custom-{pool_name}"),
            pool_name: pool_name.into(),
            password: password.into(),
            network,
            hard_forks: MAINNET_HARD_FORKS,
            consensus_id: Hash::ZERO,
            block_time,
            min_difficulty: u128::from(min_difficulty),
            window,
            uncle_penalty,
            monero_difficulty_cap: true,
        };
        let config = p.config_string();
        p.consensus_id = [Self::main(), Self::mini(), Self::nano()]
            .into_iter()
            .find(|b| b.network == network && b.config_string() == config)
            .map_or_else(|| derive_consensus_id(&config), |b| b.consensus_id);
        Ok(p)
    }

    /// Returns the Monero major version a block at `height` must carry.
    pub fn major_version_at(&self, height: u64) -> u8 {
        major_version_at(self.hard_forks, height)
    }
}

/// A custom sidechain setting outside P2Pool's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The pool name must have 1 to 128 bytes.
    #[error("pool name must have 1 to 128 bytes")]
    PoolName,
    /// The password may have at most 128 bytes.
    #[error("password may have at most 128 bytes")]
    Password,
    /// Share time outside 1..=120 s.
    #[error("block time {0} s outside 1..=120")]
    BlockTime(u64),
    /// Mainnet minimum difficulty outside 100 000..=10^9.
    #[error("minimum difficulty {0} outside 100000..=1000000000")]
    MinDifficulty(u64),
    /// Window outside 60..=2160 shares.
    #[error("PPLNS window {0} outside 60..=2160")]
    Window(u64),
    /// Uncle penalty outside 1..=99 %.
    #[error("uncle penalty {0} % outside 1..=99")]
    UnclePenalty(u64),
    /// Window times block time above 30 hours.
    #[error("PPLNS window spans more than 30 hours")]
    WindowTooLong,
}

/// RandomX cache size in 1 KiB Argon2 blocks (256 MiB).
const RANDOMX_CACHE_BLOCKS: u32 = 262_144;
/// Words of the fold that P2Pool hashes into a consensus id (deliberately not a power of two).
const FOLD_WORDS: usize = 1009;

/// Derives a consensus id from a P2Pool config string, as P2Pool does for custom
/// sidechains: build the RandomX cache keyed by the string (Argon2d, 256 MiB, 3 passes,
/// salt `RandomX\x03`), XOR its 16-byte words into 1009 slots by index mod 1009, and take
/// Keccak-256 of the slots.
pub fn derive_consensus_id(config: &[u8]) -> Hash {
    use argon2::{Algorithm, Argon2, Block, Params, Version};
    // RandomX's fixed Argon2 parameters; valid by construction, so the fallbacks are unreachable.
    let Ok(params) = Params::new(RANDOMX_CACHE_BLOCKS, 3, 1, None) else {
        return Hash::ZERO;
    };
    let argon = Argon2::new(Algorithm::Argon2d, Version::V0x13, params);
    let mut memory = vec![Block::new(); RANDOMX_CACHE_BLOCKS as usize];
    if argon
        .fill_memory(config, b"RandomX\x03", &mut memory[..])
        .is_err()
    {
        return Hash::ZERO;
    }
    let mut fold = vec![[0u64; 2]; FOLD_WORDS];
    let words = memory.iter().flat_map(|b| b.as_ref().iter().copied());
    for (i, v) in words.enumerate() {
        fold[(i / 2) % FOLD_WORDS][i % 2] ^= v;
    }
    let bytes: Vec<u8> = fold
        .iter()
        .flat_map(|w| w.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    Hash::keccak(&bytes)
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
    fn custom_ids_derive_as_p2pool_does() {
        // The launch name of the main sidechain reproduces its hard-coded id, and
        // P2Pool's own test config gives the id its test expects.
        let launch = SidechainParams::custom(
            MoneroNetwork::Mainnet,
            "mainnet test 2",
            "",
            10,
            100_000,
            2160,
            20,
        )
        .expect("valid");
        assert_eq!(launch.consensus_id, SidechainParams::main().consensus_id);
        let unit = SidechainParams::custom(
            MoneroNetwork::Mainnet,
            "unit_test",
            "",
            10,
            100_000,
            2160,
            20,
        )
        .expect("valid");
        assert_eq!(
            unit.consensus_id.to_string(),
            "81d45b62c10afa4fdda7cebb02dd5ad82c43b577eb3fb0857824427c55fd8a8d"
        );
        // The built-in configs keep their hard-coded ids without deriving.
        let mini =
            SidechainParams::custom(MoneroNetwork::Mainnet, "mini", "", 10, 100_000, 2160, 20)
                .expect("valid");
        assert_eq!(mini.consensus_id, SidechainParams::mini().consensus_id);
    }

    #[test]
    fn custom_limits() {
        let c = |name: &str, bt, diff, w, pen| {
            SidechainParams::custom(MoneroNetwork::Mainnet, name, "", bt, diff, w, pen)
        };
        assert_eq!(c("", 10, 100_000, 2160, 20), Err(ConfigError::PoolName));
        assert_eq!(c("x", 0, 100_000, 2160, 20), Err(ConfigError::BlockTime(0)));
        assert_eq!(
            c("x", 10, 99_999, 2160, 20),
            Err(ConfigError::MinDifficulty(99_999))
        );
        assert_eq!(c("x", 10, 100_000, 59, 20), Err(ConfigError::Window(59)));
        assert_eq!(
            c("x", 10, 100_000, 2160, 100),
            Err(ConfigError::UnclePenalty(100))
        );
        assert_eq!(
            c("x", 60, 100_000, 2160, 20),
            Err(ConfigError::WindowTooLong)
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
