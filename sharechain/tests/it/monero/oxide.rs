//! Cross-check against `monero-oxide`, an independent Monero implementation: the Monero
//! block of every real share parses there, writes the same bytes, and has the same id,
//! PoW hashing blob, coinbase hash, height and outputs as Otedama computes.

use otedama_sharechain::monero::{Hash, PoolShare};

#[test]
fn every_share_matches_monero_oxide() {
    let blobs = super::dump::blobs();
    let block_dat = std::fs::read(super::data("block.dat")).expect("block.dat");
    for blob in blobs.iter().chain(std::iter::once(&block_dat)) {
        let share = PoolShare::parse(blob).expect("parses");
        let main = share.mainchain_blob();
        let block =
            monero_oxide::block::Block::read(&mut &main[..]).expect("monero-oxide reads it");
        assert_eq!(block.serialize(), main);
        assert_eq!(Hash::from_bytes(block.hash()), share.monero_block_id());
        assert_eq!(block.serialize_pow_hash(), share.hashing_blob());
        assert_eq!(block.number(), share.height as usize);
        let miner_tx = block.miner_transaction();
        assert_eq!(Hash::from_bytes(miner_tx.hash()), share.coinbase_hash());
        let outputs = &miner_tx.prefix().outputs;
        assert_eq!(outputs.len(), share.outputs.len());
        for (o, ours) in outputs.iter().zip(&share.outputs) {
            assert_eq!(o.amount, Some(ours.amount));
            assert_eq!(Hash::from_bytes(o.key.to_bytes()), ours.key);
            assert_eq!(o.view_tag, Some(ours.view_tag));
        }
    }
}
