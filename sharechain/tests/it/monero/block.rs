//! P2Pool's `block.dat`: one real main-sidechain share with every field P2Pool's own tests
//! assert.

use otedama_sharechain::monero::keys::deterministic_tx_keys;
use otedama_sharechain::monero::keys::output_key;
use otedama_sharechain::monero::{Hash, MoneroAddress, PoolShare, SidechainParams};

fn block() -> (Vec<u8>, PoolShare) {
    let blob = std::fs::read(super::data("block.dat")).expect("block.dat");
    let share = PoolShare::parse(&blob).expect("parses");
    (blob, share)
}

/// Returns what `share` pays `address`: the output whose one-time key derives from it.
fn payout(share: &PoolShare, address: &str) -> u64 {
    let a: MoneroAddress = address.parse().expect("address");
    let (sec, _) = deterministic_tx_keys(&share.tx_key_seed, &share.prev_id);
    share
        .outputs
        .iter()
        .enumerate()
        .find(|(i, o)| {
            output_key(&sec, a.keys.spend(), a.keys.view(), *i as u64)
                .is_some_and(|k| k.key == o.key && k.view_tag == o.view_tag)
        })
        .map_or(0, |(_, o)| o.amount)
}

#[test]
fn every_field_matches() {
    let (blob, b) = block();
    assert_eq!(blob.len(), 1995);
    let (main, layout) = {
        let mut out = Vec::new();
        let l = b.write_mainchain(&mut out);
        (out, l)
    };
    assert_eq!(main.len(), 1829);
    assert_eq!(layout.header_len, 43);
    assert_eq!(layout.miner_tx_end - layout.header_len, 1145);
    assert_eq!(layout.nonce, 39);
    assert_eq!((b.major_version, b.minor_version), (16, 16));
    assert_eq!(b.timestamp, 1_728_813_765);
    assert_eq!(b.nonce, 352_454_720);
    assert_eq!(b.height, 3_258_099);
    assert_eq!(b.outputs.len(), 27);
    let outputs_blob: usize = 1 + b
        .outputs
        .iter()
        .map(|o| {
            let mut v = Vec::new();
            otedama_sharechain::monero::varint::write_varint(&mut v, o.amount);
            v.len() + 34
        })
        .sum::<usize>();
    assert_eq!(outputs_blob, 1058);
    assert_eq!(b.extra_nonce_size, 4);
    assert_eq!(b.extra_nonce, 2_983_923_783);
    assert_eq!(b.tx_hashes.len(), 20);
    assert!(b.uncles.is_empty());
    assert_eq!(b.sidechain_height, 9_443_384);
    assert_eq!(b.difficulty, 1_828_732_004);
    assert_eq!(b.cumulative_difficulty, 15_051_095_864_465_561);
    assert_eq!(b.merkle_tree_data, 0);
    assert!(b.merkle_proof.is_empty());
    assert!(b.mm_extra.is_empty());
    assert_eq!(b.sidechain_extra[0], 0);
    assert_eq!(b.sidechain_extra[1], 0x0004_0101);
    assert_eq!(b.sidechain_extra[3], 2_983_923_783);
    assert_eq!(b.serialize(), blob, "byte-identical round trip");
}

#[test]
fn ids_keys_and_merge_mining_tag() {
    let (_, b) = block();
    let params = SidechainParams::main();
    let id = b.sidechain_id(&params.consensus_id);
    // One aux chain (P2Pool itself): the merge-mining root is the sidechain id.
    assert_eq!(b.merge_mining_params(), (1, 0));
    assert_eq!(b.merkle_root, id);
    let full = b.full_id(&id);
    assert_eq!(&full[..32], id.as_bytes());
    assert_eq!(&full[32..36], &b.nonce.to_le_bytes());
    assert_eq!(&full[36..], &b.extra_nonce.to_le_bytes());
    // The transaction key is the deterministic one.
    assert_eq!(
        deterministic_tx_keys(&b.tx_key_seed, &b.prev_id).1,
        b.tx_pub
    );
    // The PoW hashing blob: header, tree root over 21 transactions, count.
    let hb = b.hashing_blob();
    assert_eq!(hb.len(), 43 + 32 + 1);
    assert_eq!(*hb.last().expect("count"), 21);
}

#[test]
fn monero_block_matches_the_monero_crate() {
    let (_, b) = block();
    let main = b.mainchain_blob();
    let block: monero::Block = monero::consensus::deserialize(&main).expect("monero block");
    assert_eq!(block.serialize_hashable(), b.hashing_blob());
    assert_eq!(Hash::from_bytes(block.id().0), b.monero_block_id());
    assert_eq!(
        Hash::from_bytes(monero::cryptonote::hash::Hashable::hash(&block.miner_tx).0),
        b.coinbase_hash()
    );
    assert_eq!(monero::consensus::serialize(&block), main);
}

#[test]
fn payouts_match_p2pool() {
    let (_, b) = block();
    for (address, amount) in [
        (
            "4B4aCvEcZr6GcusVJfEds2LXixCeJ2dQBaDUCguWmzi5L7PW5tVXfAnE4cn1mQdiNzH6zWcEPMQTiYTsNcX44ryxCJWZKZH",
            17_411_468_548,
        ),
        (
            "43VbH7CQCJqhH1d327TBenCs9hFN3zvcgX5YZdGyJfEE5rabasAtKhyPsKmbYSU9AmMReACZrz9j5U2Ba6WXWoQpVi38AJn",
            1_404_738_424,
        ),
        (
            "46r3PD45TYH9jVf8sEejW9JdK1EgNe6BeYLdGyJTU1MRctoevAHXpzSjBMJhdkLirGXwiWdZejSRZ8MZP72artSD17LprKY",
            1_419_699_645,
        ),
        (
            "44MnN1f3Eto8DZYUWuE5XZNUtE3vcRzt2j6PzqWpPau34e6Cf4fAxt6X2MBmrm6F9YMEiMNjN6W4Shn4pLcfNAja621jwyg",
            0,
        ),
    ] {
        assert_eq!(payout(&b, address), amount, "{address}");
    }
}

#[test]
fn truncations_and_trailing_bytes_are_errors() {
    let (blob, _) = block();
    for n in 0..blob.len() {
        assert!(PoolShare::parse(&blob[..n]).is_err(), "prefix of {n} bytes");
    }
    let mut long = blob.clone();
    long.push(0);
    assert!(PoolShare::parse(&long).is_err());
}

#[test]
fn pow_hash_of_p2pool_test_meets_the_share_difficulty() {
    use otedama_sharechain::monero::check_pow;
    let (_, b) = block();
    // RandomX hash of block.dat under seed bf513dbe..., from P2Pool's test.
    let pow = Hash::from_hex("0906c001cc0900098fe1b62593f8ba52bd1ae2a0806096aa361a9f1702000000")
        .expect("hex");
    assert!(check_pow(&pow, b.difficulty));
    // The hash is about 2^225.1, so it meets difficulties up to about 2^30.9 only.
    assert!(check_pow(&pow, 1 << 30));
    assert!(!check_pow(&pow, 1 << 31));
    assert!(!check_pow(&pow, u128::MAX));
    assert!(check_pow(&Hash::ZERO, u128::MAX));
    let max = Hash::from_bytes([0xff; 32]);
    assert!(check_pow(&max, 1));
    assert!(!check_pow(&max, 2));
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

    /// Any changed byte either fails to parse or parses to a share that writes the same
    /// bytes back: the codec has one encoding per share and never panics.
    #[test]
    fn changed_bytes_never_panic_and_stay_canonical(pos in 0usize..1995, byte in proptest::prelude::any::<u8>()) {
        let (mut blob, _) = block();
        blob[pos] = byte;
        if let Ok(s) = PoolShare::parse(&blob) {
            proptest::prop_assert_eq!(s.serialize(), blob);
        }
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
        let _ = PoolShare::parse(&bytes);
    }
}
