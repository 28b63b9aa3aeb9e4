//! From a `mining.notify` to the 80-byte header a hashing thread scans.

use crate::error::JobError;
use otedama_sharechain::{Target, sha256d, sha256d_pair};
use serde_json::Value;

/// The largest extranonce2 the miner fills (a `u64`).
pub(crate) const MAX_EXTRANONCE2_SIZE: usize = 8;

/// A decoded `mining.notify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// The pool's job id, echoed in `mining.submit`.
    pub job_id: String,
    /// Previous block hash in internal (header) byte order.
    pub prev_hash: [u8; 32],
    /// Coinbase bytes before the extranonces.
    pub coinb1: Vec<u8>,
    /// Coinbase bytes after the extranonces.
    pub coinb2: Vec<u8>,
    /// Merkle branch of the coinbase, internal byte order.
    pub merkle_branch: Vec<[u8; 32]>,
    /// Header version.
    pub version: u32,
    /// Header nBits.
    pub nbits: u32,
    /// Header time.
    pub ntime: u32,
    /// Whether earlier jobs are void.
    pub clean_jobs: bool,
}

impl Job {
    /// Decodes the params of `mining.notify`:
    /// `[job_id, prevhash, coinb1, coinb2, [branch...], version, nbits, ntime, clean_jobs]`.
    pub fn from_notify_params(params: &Value) -> Result<Job, JobError> {
        let p = params.as_array().ok_or(JobError::Type {
            field: "params",
            expected: "array",
        })?;
        // Some pools append fields; the first nine are the standard ones.
        if p.len() < 9 {
            return Err(JobError::Arity {
                expected: 9,
                got: p.len(),
            });
        }
        let job_id = match &p[0] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(JobError::Type {
                    field: "job_id",
                    expected: "string",
                });
            }
        };
        let prev_stratum: [u8; 32] = fixed(&p[1], "prevhash")?;
        let branch = p[4].as_array().ok_or(JobError::Type {
            field: "merkle_branch",
            expected: "array",
        })?;
        let merkle_branch = branch
            .iter()
            .map(|e| fixed::<32>(e, "merkle_branch"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Job {
            job_id,
            prev_hash: swap_words(prev_stratum),
            coinb1: hex_field(&p[2], "coinb1")?,
            coinb2: hex_field(&p[3], "coinb2")?,
            merkle_branch,
            version: u32_field(&p[5], "version")?,
            nbits: u32_field(&p[6], "nbits")?,
            ntime: u32_field(&p[7], "ntime")?,
            clean_jobs: p[8].as_bool().ok_or(JobError::Type {
                field: "clean_jobs",
                expected: "bool",
            })?,
        })
    }

    /// Returns coinb1 || extranonce1 || extranonce2 || coinb2.
    pub fn coinbase(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        let mut cb = Vec::with_capacity(
            self.coinb1.len() + extranonce1.len() + extranonce2.len() + self.coinb2.len(),
        );
        cb.extend_from_slice(&self.coinb1);
        cb.extend_from_slice(extranonce1);
        cb.extend_from_slice(extranonce2);
        cb.extend_from_slice(&self.coinb2);
        cb
    }

    /// Returns the merkle root: the coinbase txid folded with the branch.
    pub fn merkle_root(&self, extranonce1: &[u8], extranonce2: &[u8]) -> [u8; 32] {
        let txid = sha256d(&self.coinbase(extranonce1, extranonce2));
        self.merkle_branch
            .iter()
            .fold(txid, |acc, entry| sha256d_pair(&acc, entry))
    }

    /// Returns the 80-byte header for these extranonces and `nonce`.
    pub fn header(&self, extranonce1: &[u8], extranonce2: &[u8], nonce: u32) -> [u8; 80] {
        let mut h = [0u8; 80];
        h[0..4].copy_from_slice(&self.version.to_le_bytes());
        h[4..36].copy_from_slice(&self.prev_hash);
        h[36..68].copy_from_slice(&self.merkle_root(extranonce1, extranonce2));
        h[68..72].copy_from_slice(&self.ntime.to_le_bytes());
        h[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        h
    }
}

/// A job bound to one pool session: everything a hashing thread needs.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    /// The session the job came from; shares of older sessions are dropped.
    pub session: u64,
    /// The job.
    pub job: Job,
    /// The session's extranonce1.
    pub extranonce1: Vec<u8>,
    /// The session's extranonce2 size, 1..=8.
    pub extranonce2_size: usize,
    /// The share target in force when the job was notified.
    pub target: Target,
    /// The version bits the pool lets the miner roll (BIP310); 0 when it does not.
    pub version_mask: u32,
}

impl Work {
    /// Returns the header template (nonce 0) for `extranonce2`.
    pub fn header(&self, extranonce2: &[u8]) -> [u8; 80] {
        self.job.header(&self.extranonce1, extranonce2, 0)
    }
}

/// Converts between the Stratum prevhash and internal byte order by reversing the bytes
/// of each 4-byte word. The conversion is its own inverse.
pub(crate) fn swap_words(mut bytes: [u8; 32]) -> [u8; 32] {
    for word in bytes.chunks_exact_mut(4) {
        word.reverse();
    }
    bytes
}

/// Returns the extranonce2 of hashing thread `thread` at `counter`: the thread index in
/// the most significant byte and the counter below it, little-endian, `size` bytes. The
/// counter wraps within the bytes left to it, so with `size == 1` each thread has one value.
pub(crate) fn extranonce2(thread: u8, counter: u64, size: usize) -> Vec<u8> {
    let size = size.clamp(1, MAX_EXTRANONCE2_SIZE);
    let counter_bits = 8 * (size as u32 - 1);
    let counter = counter % (1u64 << counter_bits);
    let value = (u64::from(thread) << counter_bits) | counter;
    value.to_le_bytes()[..size].to_vec()
}

fn hex_field(v: &Value, field: &'static str) -> Result<Vec<u8>, JobError> {
    let s = v.as_str().ok_or(JobError::Type {
        field,
        expected: "hex string",
    })?;
    hex::decode(s).map_err(|_| JobError::Hex { field })
}

fn fixed<const N: usize>(v: &Value, field: &'static str) -> Result<[u8; N], JobError> {
    let bytes = hex_field(v, field)?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| JobError::Length {
        field,
        expected: N,
        got,
    })
}

fn u32_field(v: &Value, field: &'static str) -> Result<u32, JobError> {
    // `%08x` of the value: big-endian hex digits.
    Ok(u32::from_be_bytes(fixed::<4>(v, field)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_sharechain::{BlockHash, BlockHeader, CompactTarget, PowAlgorithm};
    use serde_json::json;

    /// The coinbase of Bitcoin mainnet block 1 (its only transaction).
    const BLOCK1_COINBASE: &str = concat!(
        "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff",
        "0704ffff001d0104ffffffff0100f2052a0100000043410496b538e853519c726a2c91e61ec11600ae1390",
        "813a627c66fb8be7947be63c52da7589379515d4e0a604f8141781e62294721166bf621e73a82cbf2342c8",
        "58eeac00000000"
    );

    /// Bitcoin mainnet block 1 as a Stratum job: the coinbase is split around an
    /// 4-byte extranonce1 and a 2-byte extranonce2, and the prevhash (the genesis hash)
    /// is in Stratum word order.
    #[test]
    fn notify_for_bitcoin_block_1_builds_its_header() {
        let cb = hex::decode(BLOCK1_COINBASE).expect("hex");
        let (coinb1, rest) = cb.split_at(42);
        let (en1, rest) = rest.split_at(4);
        let (en2, coinb2) = rest.split_at(2);
        let params = json!([
            "b1",
            "0a8ce26f72b3f1b646a2a6c14ff763ae65831e939c085ae10019d66800000000",
            hex::encode(coinb1),
            hex::encode(coinb2),
            [],
            "00000001",
            "1d00ffff",
            "4966bc61",
            true
        ]);
        let job = Job::from_notify_params(&params).expect("valid notify");
        assert_eq!(job.job_id, "b1");
        assert!(job.clean_jobs);

        // The expected header, built from the block explorer's fields.
        let expected = BlockHeader {
            version: 1,
            prev_block: BlockHash::from_display_hex(
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
            )
            .expect("hex"),
            merkle_root: BlockHash::from_display_hex(
                "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098",
            )
            .expect("hex")
            .to_bytes(),
            time: 1_231_469_665,
            bits: CompactTarget::from_consensus(0x1d00_ffff),
            nonce: 2_573_394_689,
        };
        let header = job.header(en1, en2, expected.nonce);
        assert_eq!(header, expected.to_bytes());
        assert_eq!(
            BlockHeader::from_bytes(&header).block_hash().to_string(),
            "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048"
        );
        let target = Target::from_compact(expected.bits).expect("valid bits");
        assert!(target.is_met_by(&PowAlgorithm::Sha256d.hash(&header)));
        // A different extranonce2 gives a different merkle root.
        assert_ne!(job.header(en1, &[0, 0], expected.nonce), header);
    }

    /// A synthetic job with a two-entry branch: the header matches one built by hand.
    #[test]
    fn notify_with_branch_matches_hand_built_header() {
        let prev: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
        let b0 = [0x11u8; 32];
        let b1: [u8; 32] = std::array::from_fn(|i| 255 - i as u8);
        let coinb1 = [0xaa, 0xbb, 0xcc];
        let coinb2 = [0xdd, 0xee];
        let en1 = [1, 2, 3, 4];
        let en2 = [9, 8, 7, 6];
        // Stratum prevhash: each 4-byte word of the internal bytes, reversed.
        let mut stratum_prev = String::new();
        for w in prev.chunks(4) {
            stratum_prev.push_str(&format!("{:02x}{:02x}{:02x}{:02x}", w[3], w[2], w[1], w[0]));
        }
        let params = json!([
            "7",
            stratum_prev,
            "aabbcc",
            "ddee",
            [hex::encode(b0), hex::encode(b1)],
            "20000004",
            "1a0377ae",
            "66554433",
            false
        ]);
        let job = Job::from_notify_params(&params).expect("valid notify");
        let coinbase = [&coinb1[..], &en1, &en2, &coinb2].concat();
        let l0 = sha256d(&coinbase);
        let l1 = sha256d(&[&l0[..], &b0].concat());
        let root = sha256d(&[&l1[..], &b1].concat());
        let expected = BlockHeader {
            version: 0x2000_0004,
            prev_block: BlockHash::from_bytes(prev),
            merkle_root: root,
            time: 0x6655_4433,
            bits: CompactTarget::from_consensus(0x1a03_77ae),
            nonce: 0xdead_beef,
        };
        assert_eq!(job.header(&en1, &en2, 0xdead_beef), expected.to_bytes());
        assert!(!job.clean_jobs);
    }

    #[test]
    fn prevhash_word_swap_round_trip() {
        // The Stratum prevhash is the display hash with its 4-byte words in reverse order
        // (slush's protocol example; the words themselves keep their byte order).
        let stratum = "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000";
        let bytes: [u8; 32] = hex::decode(stratum).expect("hex").try_into().expect("32");
        let internal = swap_words(bytes);
        assert_eq!(
            BlockHash::from_bytes(internal).to_string(),
            "00000000440b921e1b77c6c0487ae5616de67f788f44ae2a5af6e2194d16b6f8"
        );
        assert_eq!(swap_words(internal), bytes);
        assert_ne!(internal, bytes);
    }

    #[test]
    fn malformed_notify_is_an_error() {
        let good = json!([
            "1",
            "00".repeat(32),
            "",
            "",
            [],
            "00000001",
            "1d00ffff",
            "00000000",
            true
        ]);
        assert!(Job::from_notify_params(&good).is_ok());
        let cases = [
            json!("not an array"),
            json!(["1", "00".repeat(32)]),
            json!([
                "1",
                "00".repeat(31),
                "",
                "",
                [],
                "00000001",
                "1d00ffff",
                "00000000",
                true
            ]),
            json!([
                "1",
                "00".repeat(32),
                "zz",
                "",
                [],
                "00000001",
                "1d00ffff",
                "00000000",
                true
            ]),
            json!([
                "1",
                "00".repeat(32),
                "",
                "",
                ["00"],
                "00000001",
                "1d00ffff",
                "00000000",
                true
            ]),
            json!([
                "1",
                "00".repeat(32),
                "",
                "",
                [],
                "001",
                "1d00ffff",
                "00000000",
                true
            ]),
            json!([
                "1",
                "00".repeat(32),
                "",
                "",
                [],
                "00000001",
                "1d00ffff",
                "00000000",
                "yes"
            ]),
            json!([
                null,
                "00".repeat(32),
                "",
                "",
                [],
                "00000001",
                "1d00ffff",
                "00000000",
                true
            ]),
        ];
        for c in cases {
            assert!(Job::from_notify_params(&c).is_err(), "{c}");
        }
    }

    #[test]
    fn extranonce2_layout() {
        assert_eq!(extranonce2(3, 0x0102, 4), vec![0x02, 0x01, 0x00, 0x03]);
        assert_eq!(extranonce2(0, 0x0102, 4), vec![0x02, 0x01, 0x00, 0x00]);
        assert_eq!(extranonce2(5, 77, 1), vec![5]);
        assert_eq!(extranonce2(1, 0x1_0203, 2), vec![0x03, 0x01]);
        assert_eq!(
            extranonce2(0xfe, u64::MAX, 8),
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        // Threads never share an extranonce2, whatever their counters.
        for size in 1..=MAX_EXTRANONCE2_SIZE {
            let mut seen = std::collections::HashSet::new();
            for t in 0..4u8 {
                for c in 0..3 {
                    let e = extranonce2(t, c, size);
                    assert_eq!(e.len(), size);
                    if size > 1 || c == 0 {
                        assert!(seen.insert(e), "size {size} thread {t} counter {c}");
                    }
                }
            }
        }
    }
}
