//! Writing shares: the full form, the Monero block alone, and P2Pool's broadcast forms.

use super::super::hash::Hash;
use super::super::varint::{varint_len, write_varint};
use super::{
    EXTRA_MERGE_MINING, EXTRA_NONCE, EXTRA_PUBKEY, Layout, PoolShare, TX_VERSION, TXIN_GEN,
    TXOUT_TO_TAGGED_KEY, UNLOCK_BLOCKS, write_difficulty,
};

impl PoolShare {
    /// Writes the Monero block (header, coinbase, tx list) and returns its layout.
    pub fn write_mainchain(&self, out: &mut Vec<u8>) -> Layout {
        self.write_mainchain_form(out, None, None)
    }

    /// Returns the encoded size of the output list (count and outputs).
    pub fn outputs_size(&self) -> usize {
        varint_len(self.outputs.len() as u64)
            + self
                .outputs
                .iter()
                .map(|o| varint_len(o.amount) + 34)
                .sum::<usize>()
    }

    /// Returns one of P2Pool's broadcast forms: *pruned* (outputs replaced by their total,
    /// size and the sidechain `id`, rebuilt by the receiver from its chain) and/or
    /// *compact* (transactions the `parent` also has sent as their index there).
    pub fn serialize_broadcast(
        &self,
        id: &Hash,
        pruned: bool,
        parent: Option<&PoolShare>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(2048);
        self.write_mainchain_form(
            &mut out,
            pruned.then_some(id),
            parent.map(|p| p.tx_hashes.as_slice()),
        );
        self.write_sidechain(&mut out);
        out
    }

    fn write_mainchain_form(
        &self,
        out: &mut Vec<u8>,
        pruned: Option<&Hash>,
        parent_txs: Option<&[Hash]>,
    ) -> Layout {
        let base = out.len();
        out.push(self.major_version);
        out.push(self.minor_version);
        write_varint(out, self.timestamp);
        out.extend_from_slice(self.prev_id.as_bytes());
        let nonce = out.len() - base;
        out.extend_from_slice(&self.nonce.to_le_bytes());
        let header_len = out.len() - base;

        out.push(TX_VERSION);
        write_varint(out, self.height + UNLOCK_BLOCKS);
        out.push(1);
        out.push(TXIN_GEN);
        write_varint(out, self.height);
        if let Some(id) = pruned {
            write_varint(out, 0);
            write_varint(out, self.total_reward());
            write_varint(out, self.outputs_size() as u64);
            out.extend_from_slice(id.as_bytes());
        } else {
            write_varint(out, self.outputs.len() as u64);
            for o in &self.outputs {
                write_varint(out, o.amount);
                out.push(TXOUT_TO_TAGGED_KEY);
                out.extend_from_slice(o.key.as_bytes());
                out.push(o.view_tag);
            }
        }
        let tree_len = varint_len(self.merkle_tree_data);
        let mm_len = tree_len + 32;
        let extra_len = 1
            + 32
            + 2
            + usize::from(self.extra_nonce_size)
            + 1
            + varint_len(mm_len as u64)
            + mm_len;
        write_varint(out, extra_len as u64);
        out.push(EXTRA_PUBKEY);
        out.extend_from_slice(self.tx_pub.as_bytes());
        out.push(EXTRA_NONCE);
        write_varint(out, u64::from(self.extra_nonce_size));
        let extra_nonce = out.len() - base;
        out.extend_from_slice(&self.extra_nonce.to_le_bytes());
        let pad = usize::from(self.extra_nonce_size).saturating_sub(4);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.push(EXTRA_MERGE_MINING);
        write_varint(out, mm_len as u64);
        write_varint(out, self.merkle_tree_data);
        let merkle_root = out.len() - base;
        out.extend_from_slice(self.merkle_root.as_bytes());
        out.push(0);
        let miner_tx_end = out.len() - base;

        write_varint(out, self.tx_hashes.len() as u64);
        for h in &self.tx_hashes {
            match parent_txs {
                None => out.extend_from_slice(h.as_bytes()),
                Some(txs) => match txs.iter().position(|t| t == h) {
                    Some(j) => write_varint(out, j as u64 + 1),
                    None => {
                        write_varint(out, 0);
                        out.extend_from_slice(h.as_bytes());
                    }
                },
            }
        }
        Layout {
            header_len,
            nonce,
            extra_nonce,
            merkle_root,
            miner_tx_end,
            mainchain_len: out.len() - base,
        }
    }

    /// Writes the sidechain data.
    pub fn write_sidechain(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.wallet.spend().as_bytes());
        out.extend_from_slice(self.wallet.view().as_bytes());
        out.extend_from_slice(self.tx_key_seed.as_bytes());
        out.extend_from_slice(self.parent.as_bytes());
        write_varint(out, self.uncles.len() as u64);
        for u in &self.uncles {
            out.extend_from_slice(u.as_bytes());
        }
        write_varint(out, self.sidechain_height);
        write_difficulty(out, self.difficulty);
        write_difficulty(out, self.cumulative_difficulty);
        // Parsing bounds the proof to 8 hashes.
        out.push(self.merkle_proof.len() as u8);
        for h in &self.merkle_proof {
            out.extend_from_slice(h.as_bytes());
        }
        write_varint(out, self.mm_extra.len() as u64);
        for (id, data) in &self.mm_extra {
            out.extend_from_slice(id.as_bytes());
            write_varint(out, data.len() as u64);
            out.extend_from_slice(data);
        }
        for w in self.sidechain_extra {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Returns the full share blob and its layout.
    pub fn serialize_with_layout(&self) -> (Vec<u8>, Layout) {
        let mut out = Vec::with_capacity(2048);
        let layout = self.write_mainchain(&mut out);
        self.write_sidechain(&mut out);
        (out, layout)
    }

    /// Returns the full share blob.
    pub fn serialize(&self) -> Vec<u8> {
        self.serialize_with_layout().0
    }

    /// Returns the Monero block alone, as submitted to monerod when the share also meets
    /// Monero's difficulty.
    pub fn mainchain_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2048);
        self.write_mainchain(&mut out);
        out
    }
}
