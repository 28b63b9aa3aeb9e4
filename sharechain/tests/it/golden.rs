//! Golden vectors: a dependency bump or refactor that changes one byte of a share's
//! encoding, hash or coinbase fails here, before it can fork the network.

use crate::chain;
use otedama_sharechain::test_utils::{mine_on_tip, script};
use otedama_sharechain::{DecodeError, Share};
use proptest::prelude::*;

fn first_share() -> Share {
    let mut c = chain("btc-regtest");
    mine_on_tip(&mut c, script(1), &[0xab; 8])
}

#[test]
fn share_encoding_is_stable() {
    let s = first_share();
    assert_eq!(hex::encode(s.to_bytes()), GOLDEN_SHARE_HEX);
    assert_eq!(s.hash().to_string(), GOLDEN_SHARE_HASH);
    assert_eq!(Share::from_bytes(&s.to_bytes()).expect("decodes"), s);
}

#[test]
fn decoding_rejects_bad_input_without_panicking() {
    let bytes = first_share().to_bytes();
    assert_eq!(
        Share::from_bytes(&[]),
        Err(DecodeError::UnexpectedEof {
            what: "share.version"
        })
    );
    assert_eq!(Share::from_bytes(&[9]), Err(DecodeError::UnknownVersion(9)));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        Share::from_bytes(&trailing),
        Err(DecodeError::TrailingBytes(1))
    ));
    for cut in 0..bytes.len() {
        assert!(
            Share::from_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
}

proptest! {
    #[test]
    fn random_mutations_never_panic(pos in 0usize..400, byte in any::<u8>(), junk in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = first_share().to_bytes();
        let p = pos % bytes.len();
        bytes[p] = byte;
        let _ = Share::from_bytes(&bytes);
        let _ = Share::from_bytes(&junk);
    }
}

const GOLDEN_SHARE_HASH: &str = "012290334fe69678caf09916655c0e7b244aa81f37a02d34b13c7f228ddf4d50";
const GOLDEN_SHARE_HEX: &str = "01c50000002011111111111111111111111111111111111111111111111111111111111111110392e585ec638f02bd520622a078cafc6872cb270f3a07c7cc925b7424c3a77700f15365ffff7f209d0000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000ffff00201600140000000100000000000000000000000000000000006400000000f2052a0100000001777777777777777777777777777777777777777777777777777777777777777708ababababababababc501000000010000000000000000000000000000000000000000000000000000000000000000ffffffff15016408abababababababab092f6f746564616d612fffffffff0300f2052a0100000016001400000001000000000000000000000000000000000000000000000000266a244f54444dedf69e8cdde338e67d62931acc9c9fe0454db9d4775477b72ae6ae8e602688b20000000000000000266a24aa21a9ed777777777777777777777777777777777777777777777777777777777777777700000000025a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5564d366385324847121a6cb6060423063cdcd6896c65cf371261afef3b3b417";
