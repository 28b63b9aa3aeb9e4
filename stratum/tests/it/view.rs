//! A job as a miner sees it, and Stratum difficulty targets.

use otedama_sharechain::{Difficulty, PowAlgorithm, Target, sha256d, sha256d_pair};
use serde_json::Value;

/// A job as a miner sees it in `mining.notify`.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: String,
    pub prevhash: String,
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub branch: Vec<[u8; 32]>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean: bool,
}

fn hex_u32(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex u32")
}

impl JobView {
    /// Parses notify params.
    pub fn parse(p: &Value) -> Self {
        let bytes = |v: &Value| hex::decode(v.as_str().expect("hex string")).expect("hex");
        assert_eq!(
            p.as_array().map(Vec::len),
            Some(9),
            "notify has 9 params: {p}"
        );
        Self {
            id: p[0].as_str().expect("job id").to_owned(),
            prevhash: p[1].as_str().expect("prevhash").to_owned(),
            coinb1: bytes(&p[2]),
            coinb2: bytes(&p[3]),
            branch: p[4]
                .as_array()
                .expect("branch")
                .iter()
                .map(|b| bytes(b).try_into().expect("32-byte branch entry"))
                .collect(),
            version: hex_u32(&p[5]),
            nbits: hex_u32(&p[6]),
            ntime: hex_u32(&p[7]),
            clean: p[8].as_bool().expect("clean_jobs"),
        }
    }

    /// Builds the 80-byte header as a Stratum miner does.
    pub fn header(&self, en1: &[u8], en2: &[u8], ntime: u32, nonce: u32, version: u32) -> [u8; 80] {
        let coinbase = [&self.coinb1[..], en1, en2, &self.coinb2[..]].concat();
        let root = self
            .branch
            .iter()
            .fold(sha256d(&coinbase), |acc, b| sha256d_pair(&acc, b));
        let mut prev = hex::decode(&self.prevhash).expect("hex");
        for word in prev.chunks_exact_mut(4) {
            word.reverse();
        }
        let mut h = [0u8; 80];
        h[0..4].copy_from_slice(&version.to_le_bytes());
        h[4..36].copy_from_slice(&prev);
        h[36..68].copy_from_slice(&root);
        h[68..72].copy_from_slice(&ntime.to_le_bytes());
        h[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        h
    }
}

/// The target of a Stratum difficulty on the test chain.
pub fn target_of(difficulty: f64) -> Target {
    target_for(difficulty, PowAlgorithm::Sha256d)
}

/// The target of a Stratum difficulty for `algo`.
pub fn target_for(difficulty: f64, algo: PowAlgorithm) -> Target {
    Difficulty::new(difficulty)
        .expect("positive difficulty")
        .to_stratum_target(algo)
}
