//! Ethash against the reference implementation's test vectors (the `hash_test_cases` of
//! chfast/ethash's unit tests: block number, header hash, nonce, mix hash, final hash).

use otedama_sharechain::ethash::{Epoch, LightCache, Schedule};

struct Case {
    block: u64,
    header: &'static str,
    nonce: &'static str,
    mix: &'static str,
    result: &'static str,
}

const CASES: &[Case] = &[
    Case {
        block: 0,
        header: "2a8de2adf89af77358250bf908bf04ba94a6e8c3ba87775564a41d269a05e4ce",
        nonce: "4242424242424242",
        mix: "58f759ede17a706c93f13030328bcea40c1d1341fb26f2facd21ceb0dae57017",
        result: "dd47fd2d98db51078356852d7c4014e6a5d6c387c35f40e2875b74a256ed7906",
    },
    Case {
        block: 2,
        header: "100cbec5e5ef82991290d0d93d758f19082e71f234cf479192a8b94df6da6bfe",
        nonce: "307692cf71b12f6d",
        mix: "e55d02c555a7969361cf74a9ec6211d8c14e4517930a00442f171bdb1698d175",
        result: "ab9b13423cface72cbec8424221651bc2e384ef0f7a560e038fc68c8d8684829",
    },
    Case {
        block: 2_683_077,
        header: "0313d03c5ed78694c90ecb3d04190b82d5b222c75ba4cab83383dde4d11ed512",
        nonce: "8c5eaec000788d41",
        mix: "93e85c97b34ccd8091e09ddb513fdc9e680fa8898d4a0737205e60af710a3dcb",
        result: "00000000000204882a6213f68fe89bc368df25c1ad999f82532a7433e99bc48e",
    },
    Case {
        block: 5_000_000,
        header: "bc544c2baba832600013bd5d1983f592e9557d04b0fb5ef7a100434a5fc8d52a",
        nonce: "4617a20003ba3f25",
        mix: "94cd4e844619ee20989578276a0a9046877d569d37ba076bf2e8e34f76189dea",
        result: "0000000000001a5b18ae31b7417b7c045bc6dd78cc3b694c4bebfaefef6b3c56",
    },
    Case {
        block: 5_000_001,
        header: "2cd14041cfc3bd13064cfd58e26c0bddf1e97a4202c4b8076444a7cd4515f8c3",
        nonce: "1af47f2007922384",
        mix: "46cb1268ac6b218eb01b9bd46f1533561d085620c9bfc23eadb8ab106f84b2d8",
        result: "0000000000000a4230cfc483a3f739a5101192c3d4f9c8314f4508be24c28257",
    },
    Case {
        block: 5_000_002,
        header: "9e79bced19062baf7c47e516ad3a1bd779222404d05b4205def30a13c7d87b5b",
        nonce: "c9a044201dd998f2",
        mix: "028a19d6dcf0975972285f71a23fe3a468886ad24cc63f969158d427556d6bb5",
        result: "0000000000000eec80fbc4c472507b6c212c4f216043318f3fb3e696a0e80b06",
    },
    Case {
        block: 5_306_861,
        header: "53a005f209a4dc013f022a5078c6b38ced76e767a30367ff64725f23ec652a9f",
        nonce: "d337f82001e992c5",
        mix: "26c64f063dac85ae3585526b446be6754faf044876aa3e20f770bea567e04d1d",
        result: "00000000000003f1554d8071ff0903268fcb70f30f4af3bf7ec7dc69cdf509f3",
    },
    Case {
        block: 193 * 30_000,
        header: "1086587679fecddc6387e162706bb9455a8210f36997e9dbf25e6801ad62373a",
        nonce: "051d57d844f20938",
        mix: "bbcbebce79a978c455b545a9ae4a2d584c606b1002868b9d756ac44288fce6ff",
        result: "5544fde836566d81c30f98d797581398b0df7a52365c63ceed60433ec72f867e",
    },
];

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

#[test]
fn ethash_matches_the_reference_vectors() {
    let mut cache: Option<(Epoch, LightCache)> = None;
    for c in CASES {
        let epoch = Schedule::Ethash.epoch(c.block).expect("epoch");
        if cache.as_ref().map(|(e, _)| *e) != Some(epoch) {
            cache = Some((epoch, LightCache::new(epoch)));
        }
        let (_, light) = cache.as_ref().expect("built");
        let nonce = u64::from_str_radix(c.nonce, 16).expect("nonce");
        let got = light.hash(&h32(c.header), nonce);
        assert_eq!(hex::encode(got.mix), c.mix, "mix of block {}", c.block);
        assert_eq!(
            hex::encode(got.result),
            c.result,
            "final of block {}",
            c.block
        );
    }
}
