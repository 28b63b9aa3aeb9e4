//! Merge mining: the tree data in the coinbase tag, aux-chain slots and merkle proofs
//! (P2Pool's `docs/MERGE_MINING.MD`).

use sha2::{Digest, Sha256};

use super::hash::{Hash, hash_pair};

/// Decodes merkle tree data into `(aux chain count, aux nonce)`.
///
/// Bits 0-2 hold `N - 1`, the next `N` bits `count - 1`, the 32 bits after them the nonce.
pub fn decode_tree_data(data: u64) -> (u32, u32) {
    let n = 1 + (data & 7) as u32;
    let count = 1 + ((data >> 3) as u32 & ((1u32 << n) - 1));
    let nonce = (data >> (3 + n)) as u32;
    (count, nonce)
}

/// Encodes an aux chain count (at least 1) and nonce as merkle tree data.
pub fn encode_tree_data(count: u32, nonce: u32) -> u64 {
    let k = count.saturating_sub(1);
    let n = (32 - k.leading_zeros()).max(1);
    u64::from(n - 1) | (u64::from(k) << 3) | (u64::from(nonce) << (3 + n))
}

/// Returns the slot of chain `id` in a tree of `count` chains with `nonce`:
/// the first 4 bytes (LE) of `SHA-256(id || nonce LE || 'm')` mod `count`; 0 for one chain.
pub fn aux_slot(id: &Hash, nonce: u32, count: u32) -> u32 {
    if count <= 1 {
        return 0;
    }
    let h = Sha256::new()
        .chain_update(id.as_bytes())
        .chain_update(nonce.to_le_bytes())
        .chain_update([b'm'])
        .finalize();
    u32::from_le_bytes([h[0], h[1], h[2], h[3]]) % count
}

/// Returns the root of a tree of `count` leaves (in Monero tree-hash shape) given `leaf` at
/// `index` and its sibling hashes from the bottom up, or `None` if the proof does not fit
/// the shape exactly.
pub fn root_from_proof(leaf: Hash, proof: &[Hash], index: u32, count: u32) -> Option<Hash> {
    if index >= count {
        return None;
    }
    let join = |h: &Hash, sibling: &Hash, right: bool| {
        if right {
            hash_pair(sibling, h)
        } else {
            hash_pair(h, sibling)
        }
    };
    match count {
        1 => proof.is_empty().then_some(leaf),
        2 => match proof {
            [s] => Some(join(&leaf, s, index & 1 == 1)),
            _ => None,
        },
        _ => {
            // `width`: the largest power of two not above `count`. The first
            // `2 * width - count` leaves pass the bottom level unchanged.
            let mut width = 1u32 << (31 - count.leading_zeros());
            let pass = 2 * width - count;
            let mut h = leaf;
            let mut pos = index;
            let mut rest = proof;
            if pos >= pass {
                let (s, tail) = rest.split_first()?;
                let j = pos - pass;
                h = join(&h, s, j & 1 == 1);
                pos = pass + j / 2;
                rest = tail;
            }
            while width >= 2 {
                let (s, tail) = rest.split_first()?;
                h = join(&h, s, pos & 1 == 1);
                pos >>= 1;
                width >>= 1;
                rest = tail;
            }
            rest.is_empty().then_some(h)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monero::hash::tree_hash;

    #[test]
    fn tree_data_round_trip() {
        for count in [1u32, 2, 3, 4, 5, 8, 9, 255, 256] {
            for nonce in [0u32, 1, 0xdead_beef, u32::MAX] {
                assert_eq!(
                    decode_tree_data(encode_tree_data(count, nonce)),
                    (count, nonce)
                );
            }
        }
        assert_eq!(decode_tree_data(0), (1, 0));
    }

    #[test]
    fn proofs_rebuild_the_tree_hash() {
        for count in 1u32..=9 {
            let leaves: Vec<Hash> = (0..count).map(|i| Hash::keccak(&i.to_le_bytes())).collect();
            let root = tree_hash(&leaves).expect("non-empty");
            for index in 0..count {
                let proof = proof_by_search(&leaves, index as usize);
                assert_eq!(
                    root_from_proof(leaves[index as usize], &proof, index, count),
                    Some(root),
                    "count {count} index {index}"
                );
                let mut short = proof.clone();
                if short.pop().is_some() {
                    assert_ne!(
                        root_from_proof(leaves[index as usize], &short, index, count),
                        Some(root)
                    );
                }
            }
        }
    }

    /// Builds the sibling path by laying the tree out level by level.
    fn proof_by_search(leaves: &[Hash], index: usize) -> Vec<Hash> {
        let n = leaves.len();
        if n == 1 {
            return vec![];
        }
        if n == 2 {
            return vec![leaves[1 - index]];
        }
        let width = 1usize << (usize::BITS - 1 - n.leading_zeros());
        let pass = 2 * width - n;
        let mut level: Vec<Hash> = leaves[..pass].to_vec();
        let mut proof = vec![];
        let mut pos = index;
        for (k, pair) in leaves[pass..].chunks(2).enumerate() {
            level.push(hash_pair(&pair[0], &pair[1]));
            if index >= pass && (index - pass) / 2 == k {
                proof.push(pair[1 - (index - pass) % 2]);
                pos = pass + k;
            }
        }
        while level.len() > 1 {
            proof.push(level[pos ^ 1]);
            level = level.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
            pos >>= 1;
        }
        proof
    }
}
