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

/// KawPow against Ravencoin's reference implementation's vectors (the
/// `progpow_hash_test_cases` of RavenCommunity/cpp-kawpow's unit tests), which cross
/// epoch (7 500 blocks) and period (3 blocks) boundaries.
const KAWPOW_CASES: &[Case] = &[
    Case {
        block: 0,
        header: "0000000000000000000000000000000000000000000000000000000000000000",
        nonce: "0000000000000000",
        mix: "6e97b47b134fda0c7888802988e1a373affeb28bcd813b6e9a0fc669c935d03a",
        result: "e601a7257a70dc48fccc97a7330d704d776047623b92883d77111fb36870f3d1",
    },
    Case {
        block: 49,
        header: "63155f732f2bf556967f906155b510c917e48e99685ead76ea83f4eca03ab12b",
        nonce: "0000000007073c07",
        mix: "d36f7e815ee09e74eceb9c96993a3d681edf2bf0921fc7bb710364042db99777",
        result: "e7ced124598fd2500a55ad9f9f48e3569327fe50493c77a4ac9799b96efb9463",
    },
    Case {
        block: 50,
        header: "9e7248f20914913a73d80a70174c331b1d34f260535ac3631d770e656b5dd922",
        nonce: "00000000076e482e",
        mix: "d6dc634ae837e2785b347648ea515e25e5d8821ae0b95e1c2a9c2d497e0dcfbd",
        result: "ab0ad7ef8d8ee317dd12d10310aceed7321d34fb263791c2de5776a6658d177e",
    },
    Case {
        block: 99,
        header: "de37e1824c86d35d154cf65a88de6d9286aec4f7f10c3fc9f0fa1bcc2687188d",
        nonce: "000000003917afab",
        mix: "fa706860e5e0e830d5d1d7157e5bea7f5f8a350c7c8612ac1d1fcf2974d64244",
        result: "aa85340690f2e907054324a5021937910e15edfd1ef1577231843e7d32ec3a61",
    },
    Case {
        block: 29_950,
        header: "ac7b55e801511b77e11d52e9599206101550144525b5679f2dab19386f23dcce",
        nonce: "005d409dbc23a62a",
        mix: "5359807b77a74878269c3a3044df8618a576ce8dc52e1c48d927d4a60e7c6b79",
        result: "022019e5408683f7f8326b4e46b42864a3a069f17b6151e434fcaedecaadd918",
    },
    Case {
        block: 29_999,
        header: "e43d7e0bdc8a4a3f6e291a5ed790b9fa1a0948a2b9e33c844888690847de19f5",
        nonce: "005db5fa4c2a3d03",
        mix: "d15de3f9bfedd9b6d0f498273eb3b437115bdc8326c96c6457ac06deb5c9f389",
        result: "4e93630b81198752f876b24380999189b7b9366c08222ac05e4237b87114f305",
    },
    Case {
        block: 30_000,
        header: "d34519f72c97cae8892c277776259db3320820cb5279a299d0ef1e155e5c6454",
        nonce: "005db8607994ff30",
        mix: "de0348b69bf91dfe2c3d3dba6f0132e9048a5284e57b8d9d20adc5f3dc0d3236",
        result: "c7953d848cda6e304f77b4c6d735645c8e8508a5e74c9e9814ef37b19087cd6c",
    },
    Case {
        block: 30_049,
        header: "8b6ce5da0b06d18db7bd8492d9e5717f8b53e7e098d9fef7886d58a6e913ef64",
        nonce: "005e2e215a8ca2e7",
        mix: "975c6a9decc89cba7ace69338d4de8510d9619aef42b1d35d0bef7e0ce0614a9",
        result: "c262d8055e288d04b951a844bfca8ba529f5b4d652b408e3942727d7dd90957a",
    },
    Case {
        block: 30_050,
        header: "c2c46173481b9ced61123d2e293b42ede5a1b323210eb2a684df0874ffe09047",
        nonce: "005e30899481055e",
        mix: "362f2fabdb9699d3634b6499703f939f378ee4eac803396c2b0ed0fe1d154972",
        result: "4cd7e6e79e0b63d42b2b06716a919ccc7834077ec727a9ea94edcdaff2fefab8",
    },
    Case {
        block: 30_099,
        header: "ea42197eb2ba79c63cb5e655b8b1f612c5f08aae1a49ff236795a3516d87bc71",
        nonce: "005ea6aef136f88b",
        mix: "b1196457261bd05ccb387a8ff3fd02687bf496bd7943d89419465289669e27aa",
        result: "39d1ebfa783b61a6fa8e9747d0f9f134efae5cfba284a2c80e8deabae6b98676",
    },
    Case {
        block: 59_950,
        header: "49e15ba4bf501ce8fe8876101c808e24c69a859be15de554bf85dbc095491bd6",
        nonce: "02ebe0503bd7b1da",
        mix: "df3dbb1669fd35dbb0ae96bbea2d498f0c6992cbddd092aeace42dd933505f95",
        result: "b8984cf4021c4433f753654848d721f33a0792b4417241f0cf7c7c2db011a54a",
    },
    Case {
        block: 59_999,
        header: "f5c50ba5c0d6210ddb16250ec3efda178de857b2b1703d8d5403bd0f848e19cf",
        nonce: "02edb6275bd221e3",
        mix: "5017df70e97ca35638cf439cdbe54f30383d335e18eb4a74d6e166736f1038fa",
        result: "4cf1fa62f25b577ac822a6a28d55f8b7e3ae7fe983abd868ae00927e68c41016",
    },
    Case {
        block: 170_915,
        header: "5b3e8dfa1aafd3924a51f33e2d672d8dae32fa528d8b1d378d6e4db0ec5d665d",
        nonce: "0000000044975727",
        mix: "efb29147484c434f1cc59629da90fd0343e3b047407ecd36e9ad973bd51bbac5",
        result: "e7e6bb3b2f9acd3864bc86f72f87237eaf475633ef650c726ac80eb0adf116b6",
    },
];

#[test]
fn kawpow_matches_the_reference_vectors() {
    use otedama_sharechain::ethash::kawpow::{KawpowContext, epoch};
    let mut ctx: Option<(Epoch, KawpowContext)> = None;
    for c in KAWPOW_CASES {
        let e = epoch(c.block).expect("epoch");
        if ctx.as_ref().map(|(k, _)| *k) != Some(e) {
            ctx = Some((e, KawpowContext::new(e)));
        }
        let (_, kawpow) = ctx.as_ref().expect("built");
        let header = h32(c.header);
        let nonce = u64::from_str_radix(c.nonce, 16).expect("nonce");
        let got = kawpow.hash(c.block, &header, nonce);
        assert_eq!(hex::encode(got.mix), c.mix, "mix of block {}", c.block);
        assert_eq!(
            hex::encode(got.result),
            c.result,
            "final of block {}",
            c.block
        );
        let (mix, result) = (h32(c.mix), h32(c.result));
        assert!(kawpow.verify(c.block, &header, &mix, nonce, &result));
    }
}

/// The independent implementations on PyPI (`ethash` 1.1.0: Ethash's hash; `kawpow`
/// 0.9.4.4: `light_verify` computes KawPow's final hash from a mix hash), run by
/// `python3` from the folder `OTEDAMA_ORACLES_DIR` (where `.ci/run` installs them) or the
/// Python path. Without them the test fails, saying how to install them, unless
/// `OTEDAMA_SKIP_ORACLE_TESTS=1`.
const ORACLE: &str = r#"
import sys, ethash, kawpow
for line in sys.stdin:
    kind, a, b, c = line.split()
    if kind == "E":
        final, mix = ethash.hash(int(a), bytes.fromhex(b), int(c))
        print(final.hex(), mix.hex())
    else:
        print(kawpow.light_verify(bytes.fromhex(a), bytes.fromhex(b), int(c)).hex())
"#;

/// Runs the oracle over `lines`, one answer a line, or `None` when it is not installed
/// and the test is opted out.
fn oracle(lines: &str) -> Option<Vec<String>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("python3");
    cmd.args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = std::env::var_os("OTEDAMA_ORACLES_DIR") {
        cmd.env("PYTHONPATH", dir);
    }
    let missing = |why: String| {
        if std::env::var_os("OTEDAMA_SKIP_ORACLE_TESTS").is_some_and(|v| v == "1") {
            eprintln!("skipped (OTEDAMA_SKIP_ORACLE_TESTS=1): {why}");
            return None;
        }
        panic!(
            "{why}\ninstall the oracles: python3 -m pip install ethash==1.1.0 kawpow==0.9.4.4 \
             (or set OTEDAMA_ORACLES_DIR to where they are; OTEDAMA_SKIP_ORACLE_TESTS=1 skips)"
        );
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return missing(format!("no python3: {e}")),
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let input = lines.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python3 runs");
    writer.join().expect("writer").expect("oracle input");
    if !out.status.success() {
        return missing(format!(
            "the oracle failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Some(
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// A fixed pseudo-random stream (xorshift64*), so every run checks the same inputs.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn hash(&mut self) -> [u8; 32] {
        let mut h = [0u8; 32];
        for chunk in h.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        h
    }
}

/// Random headers per case.
const ORACLE_HEADERS: usize = 200;

#[test]
fn ethash_and_kawpow_match_the_python_oracles() {
    use otedama_sharechain::ethash::kawpow::{KawpowContext, epoch as kawpow_epoch};
    let mut rng = Stream(0x0123_4567_89ab_cdef);
    let mut lines = String::new();
    let mut want = Vec::new();
    // Ethash: both sides of the first epoch boundary.
    for block in [29_999u64, 30_000] {
        let epoch = Schedule::Ethash.epoch(block).expect("epoch");
        let cache = LightCache::new(epoch);
        for _ in 0..ORACLE_HEADERS {
            let (header, nonce) = (rng.hash(), rng.next());
            let h = cache.hash(&header, nonce);
            lines.push_str(&format!(
                "E {} {} {nonce}\n",
                epoch.number,
                hex::encode(header)
            ));
            want.push(format!("{} {}", hex::encode(h.result), hex::encode(h.mix)));
        }
    }
    // KawPow: both sides of an epoch boundary (7 500), each a period boundary too.
    for block in [7_499u64, 7_500] {
        let ctx = KawpowContext::new(kawpow_epoch(block).expect("epoch"));
        for _ in 0..ORACLE_HEADERS {
            let (header, nonce) = (rng.hash(), rng.next());
            let h = ctx.hash(block, &header, nonce);
            lines.push_str(&format!(
                "K {} {} {nonce}\n",
                hex::encode(header),
                hex::encode(h.mix)
            ));
            want.push(hex::encode(h.result));
        }
    }
    let Some(got) = oracle(&lines) else {
        return;
    };
    assert_eq!(got.len(), want.len(), "one answer a line");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g,
            w,
            "case {i}: {}",
            lines.lines().nth(i).unwrap_or_default()
        );
    }
}

/// Etchash against the ECIP-1099 reference data (iquidus/ecip-1099-data, MAINNET.md):
/// with 60 000-block epochs from block 11 460 000, that block's cache is Etchash epoch
/// 191 with the seed of Ethash epoch 382, 40 MiB instead of 64. The data gives geth's
/// cache files: named by the seed's first 8 bytes, and their SHA-256 (a file is geth's
/// 8-byte dump magic, then the cache).
#[test]
fn etchash_matches_the_ecip_1099_reference_caches() {
    use sha2::{Digest, Sha256};
    let schedule = Schedule::Etchash {
        activation: 11_460_000,
    };
    let before = schedule.epoch(11_459_999).expect("epoch");
    let after = schedule.epoch(11_460_000).expect("epoch");
    assert_eq!(before, Epoch::ethash(381));
    assert_eq!(
        after,
        Epoch {
            number: 191,
            seed_rounds: 382
        }
    );
    assert_eq!(hex::encode(&before.seed()[..8]), "b66c92ab2a9866c1");
    assert_eq!(hex::encode(&after.seed()[..8]), "d3d0aa11197dcdcf");
    let cache = LightCache::new(after);
    let mut file = Sha256::new();
    file.update(0xbadd_cafe_u32.to_le_bytes());
    file.update(0xfee1_dead_u32.to_le_bytes());
    for item in cache.items() {
        for word in item {
            file.update(word.to_le_bytes());
        }
    }
    assert_eq!(
        hex::encode(file.finalize()),
        "9b26943b372f61f6b16674f55b1ad2d072f9058bf7c1b6a3065d4d8f8f8143e9"
    );
}
