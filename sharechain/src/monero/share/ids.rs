//! Ids and hashes of a share: sidechain id, full id, child seed, coinbase hash, PoW
//! hashing blob and Monero block id.

use super::super::hash::{Hash, keccak256, keccak256_parts, tree_hash};
use super::super::merkle::{aux_slot, root_from_proof};
use super::super::varint::write_varint;
use super::PoolShare;

impl PoolShare {
    /// Returns the sidechain id: Keccak-256 of the blob with the header nonce, the extra
    /// nonce and the merge-mining root blanked, followed by the consensus id.
    pub fn sidechain_id(&self, consensus_id: &Hash) -> Hash {
        let (mut blob, l) = self.serialize_with_layout();
        blob[l.nonce..l.nonce + 4].fill(0);
        blob[l.extra_nonce..l.extra_nonce + 4].fill(0);
        blob[l.merkle_root..l.merkle_root + 32].fill(0);
        Hash::from_bytes(keccak256_parts(&[&blob, consensus_id.as_bytes()]))
    }

    /// Returns the seed that children of this share use when they build on a different
    /// Monero block: `keccak("tx_key_seed\0" || mainchain with nonce and extra nonce
    /// blanked || sidechain data)`. The merge-mining root is kept.
    pub fn child_tx_key_seed(&self) -> Hash {
        let (mut blob, l) = self.serialize_with_layout();
        blob[l.nonce..l.nonce + 4].fill(0);
        blob[l.extra_nonce..l.extra_nonce + 4].fill(0);
        Hash::from_bytes(keccak256_parts(&[b"tx_key_seed\0", &blob]))
    }

    /// Returns this share with extra nonce `n`, written where P2Pool writes it (the
    /// coinbase's extra nonce and the last word of the sidechain extra), and its
    /// merge-mining root recomputed: what a Stratum server hands each connection so that
    /// no two miners hash the same blob.
    pub fn with_extra_nonce(&self, n: u32, consensus_id: &Hash) -> PoolShare {
        let mut share = self.clone();
        share.extra_nonce = n;
        share.sidechain_extra[3] = n;
        share.merkle_root = share.merge_mining_root(consensus_id);
        share
    }

    /// Returns the merge-mining root this share's sidechain id and proof give.
    pub fn merge_mining_root(&self, consensus_id: &Hash) -> Hash {
        let id = self.sidechain_id(consensus_id);
        let (count, nonce) = self.merge_mining_params();
        let slot = aux_slot(consensus_id, nonce, count);
        root_from_proof(id, &self.merkle_proof, slot, count).unwrap_or(id)
    }

    /// Returns the 40-byte full id: sidechain id, nonce and extra nonce. Two shares with
    /// the same sidechain id differ only in these.
    pub fn full_id(&self, sidechain_id: &Hash) -> [u8; 40] {
        let mut id = [0u8; 40];
        id[..32].copy_from_slice(sidechain_id.as_bytes());
        id[32..36].copy_from_slice(&self.nonce.to_le_bytes());
        id[36..].copy_from_slice(&self.extra_nonce.to_le_bytes());
        id
    }

    /// Returns the coinbase transaction hash: `keccak(prefix hash || keccak(0x00) || 0^32)`,
    /// the hash of a version-2 transaction whose rct part is the single byte "null".
    pub fn coinbase_hash(&self) -> Hash {
        let mut main = Vec::with_capacity(2048);
        let l = self.write_mainchain(&mut main);
        let prefix = keccak256(&main[l.header_len..l.miner_tx_end - 1]);
        let base = keccak256(&[0]);
        Hash::from_bytes(keccak256_parts(&[&prefix, &base, &[0u8; 32]]))
    }

    /// Returns the PoW hashing blob: header, tree root of the coinbase and tx hashes, and
    /// the transaction count including the coinbase.
    pub fn hashing_blob(&self) -> Vec<u8> {
        let mut leaves = Vec::with_capacity(self.tx_hashes.len() + 1);
        leaves.push(self.coinbase_hash());
        leaves.extend_from_slice(&self.tx_hashes);
        let mut main = Vec::with_capacity(2048);
        let l = self.write_mainchain(&mut main);
        let mut out = main[..l.header_len].to_vec();
        // Parsing bounds the list to 4 095 hashes, well inside the tree hash's limit.
        let root = tree_hash(&leaves).unwrap_or_default();
        out.extend_from_slice(root.as_bytes());
        write_varint(&mut out, leaves.len() as u64);
        out
    }

    /// Returns the Monero block id: `keccak(varint len || hashing blob)`.
    pub fn monero_block_id(&self) -> Hash {
        let blob = self.hashing_blob();
        let mut buf = Vec::with_capacity(blob.len() + 2);
        write_varint(&mut buf, blob.len() as u64);
        buf.extend_from_slice(&blob);
        Hash::keccak(&buf)
    }

    /// Returns the sum of the output amounts (parsing guarantees it does not overflow).
    pub fn total_reward(&self) -> u64 {
        self.outputs
            .iter()
            .fold(0u64, |acc, o| acc.saturating_add(o.amount))
    }

    /// Returns the merge-mining tree parameters `(aux chain count, aux nonce)`.
    pub fn merge_mining_params(&self) -> (u32, u32) {
        super::super::merkle::decode_tree_data(self.merkle_tree_data)
    }
}
