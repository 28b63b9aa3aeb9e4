//! Monero's crypto vectors (`crypto_tests.txt`).

use otedama_sharechain::monero::Hash;
use otedama_sharechain::monero::keys::{
    check_key, check_torsion, derive_public_key, derive_view_tag, deterministic_tx_keys,
    key_derivation,
};

fn h(s: &str) -> Hash {
    Hash::from_hex(s).expect("32-byte hex")
}

fn vectors() -> Vec<Vec<String>> {
    std::fs::read_to_string(super::data("crypto_tests.txt"))
        .expect("vector file")
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn every_crypto_vector_holds() {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for v in vectors() {
        let Some(kind) = v.first() else { continue };
        match kind.as_str() {
            "generate_key_derivation" => {
                let got = key_derivation(&h(&v[1]), &h(&v[2]));
                if v[3] == "true" {
                    assert_eq!(got, Some(h(&v[4])), "{v:?}");
                } else {
                    assert_eq!(got, None, "{v:?}");
                }
            }
            "derive_public_key" => {
                let index: u64 = v[2].parse().expect("index");
                let got = derive_public_key(&h(&v[1]), index, &h(&v[3]));
                if v[4] == "true" {
                    assert_eq!(got, Some(h(&v[5])), "{v:?}");
                } else {
                    assert_eq!(got, None, "{v:?}");
                }
            }
            "derive_view_tag" => {
                let index: u64 = v[2].parse().expect("index");
                let tag = u8::from_str_radix(&v[3], 16).expect("tag");
                assert_eq!(derive_view_tag(&h(&v[1]), index), tag, "{v:?}");
            }
            "get_tx_keys" => {
                let (sec, public) = deterministic_tx_keys(&h(&v[1]), &h(&v[2]));
                assert_eq!((public, sec), (h(&v[3]), h(&v[4])), "{v:?}");
            }
            "check_key" => assert_eq!(check_key(&h(&v[1])), v[2] == "true", "{v:?}"),
            "check_torsion" => assert_eq!(check_torsion(&h(&v[1])), v[2] == "true", "{v:?}"),
            other => panic!("unknown vector kind {other}"),
        }
        *counts.entry(kind.clone()).or_default() += 1;
    }
    let expected = [
        ("check_key", 372),
        ("check_torsion", 29),
        ("derive_public_key", 272),
        ("derive_view_tag", 70),
        ("generate_key_derivation", 272),
        ("get_tx_keys", 100),
    ];
    let got: Vec<(&str, usize)> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(got, expected);
}
