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

const GOLDEN_SHARE_HASH: &str = "3963d43948041ad284256c4df8f0c80c519e3708c59f42add084eafec336c050";
const GOLDEN_SHARE_HEX: &str = "01c5000000201111111111111111111111111111111111111111111111111111111111111111c9ce51152a8c914221cfa467cb1e67c8e2cbbba74469bc1e94bbab4c07c10d5300f15365ffff7f20020000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000ffff7f201600140000000100000000000000000000000000000000006400000000f2052a0100000001777777777777777777777777777777777777777777777777777777777777777708ababababababababc501000000010000000000000000000000000000000000000000000000000000000000000000ffffffff15016408abababababababab092f6f746564616d612fffffffff0300f2052a0100000016001400000001000000000000000000000000000000000000000000000000266a244f54444dac1d2831214d8a42ad682ee3a2f5ef8e6e11ff94612f706158ded292b34b24d90000000000000000266a24aa21a9ed777777777777777777777777777777777777777777777777777777777777777700000000025a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5564d366385324847121a6cb6060423063cdcd6896c65cf371261afef3b3b417";
