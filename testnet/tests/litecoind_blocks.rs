//! The sharechain's coinbase, PPLNS payouts and block assembly against a real
//! litecoind on regtest: blocks built by Otedama (before and after MWEB activation, and
//! past BIP34 enforcement at height 500) are accepted, and each coinbase pays exactly
//! the PPLNS amounts, read back through litecoind's own `getblock`.

use otedama_sharechain::coinbase::{BlockTemplate, RpcBlockTemplate};
use otedama_sharechain::test_utils::{script, solve};
use otedama_sharechain::{
    ChainSpec, PayoutScript, ShareChain, ShareTemplate, ValidationContext, validate_share,
};
use otedama_testnet::{LitecoinRegtest, RpcError};
use serde_json::{Value, json};

fn template(net: &LitecoinRegtest) -> BlockTemplate {
    let raw = net.block_template().expect("getblocktemplate");
    let rpc: RpcBlockTemplate = serde_json::from_value(raw).expect("template shape");
    BlockTemplate::try_from(rpc).expect("template converts")
}

fn propose(net: &LitecoinRegtest, block: &[u8]) -> Result<Value, RpcError> {
    net.rpc.call(
        "getblocktemplate",
        json!([{"mode": "proposal", "data": hex::encode(block), "rules": ["mweb", "segwit"]}]),
    )
}

/// Mines one share on `chain` that is also a parent block, submits it, and checks the
/// daemon's view of its coinbase. Returns the parent height.
fn mine_block(net: &LitecoinRegtest, chain: &mut ShareChain, payout: PayoutScript, tag: u8) -> u64 {
    let block = template(net);
    let has_mweb = block.mweb.is_some();
    let st = ShareTemplate::new(chain, block, payout).expect("share template");
    let extranonce = [tag; 8];
    let time = st.block.cur_time.max(chain.tip().map_or(0, |t| t.time + 1));
    let share = solve(&st, chain.spec().algorithm, time, &extranonce);
    let prev_block = st.block.prev_block;
    let ctx = ValidationContext {
        now: u64::from(time),
        parent_block_known: &|h| *h == prev_block,
    };
    let meta = validate_share(chain, &share, share.to_bytes().len(), &ctx)
        .expect("our own share validates");
    chain.insert(meta);

    let cb = st.coinbase(&extranonce).expect("coinbase");
    let bytes = st.block_bytes(&share.header, &cb);
    assert_eq!(
        propose(net, &bytes).expect("proposal"),
        Value::Null,
        "proposal accepted"
    );
    let submitted = net
        .rpc
        .call("submitblock", json!([hex::encode(&bytes)]))
        .expect("submitblock");
    assert_eq!(submitted, Value::Null, "submitblock accepted");

    let hash = share.header.block.block_hash().to_string();
    assert_eq!(
        net.rpc.call("getbestblockhash", json!([])).expect("best"),
        json!(hash)
    );
    let got = net
        .rpc
        .call("getblock", json!([hash, 2]))
        .expect("getblock");
    let vout = got["tx"][0]["vout"]
        .as_array()
        .expect("coinbase outputs")
        .clone();
    let paid: Vec<(String, u64)> = vout
        .iter()
        .map(|o| {
            let sat = (o["value"].as_f64().expect("value") * 1e8).round() as u64;
            (
                o["scriptPubKey"]["hex"]
                    .as_str()
                    .expect("script")
                    .to_string(),
                sat,
            )
        })
        .collect();
    let want: Vec<(String, u64)> = st
        .payouts
        .iter()
        .map(|(s, a)| (hex::encode(s.as_bytes()), a.to_sat()))
        .collect();
    assert_eq!(
        &paid[..want.len()],
        &want[..],
        "coinbase pays exactly the PPLNS split"
    );
    let total: u64 = want.iter().map(|w| w.1).sum();
    assert_eq!(
        total,
        st.block.coinbase_value.to_sat(),
        "the whole reward is paid"
    );
    // The share commitment and the witness commitment follow the payouts.
    assert!(
        paid[want.len()].0.starts_with("6a244f54444d"),
        "OTDM commitment"
    );
    assert!(
        paid[want.len() + 1].0.starts_with("6a24aa21a9ed"),
        "witness commitment"
    );
    assert_eq!(got.get("mweb").is_some() || has_mweb, has_mweb);
    got["height"].as_u64().expect("height")
}

#[test]
fn otedama_blocks_are_accepted_by_litecoind_and_pay_pplns() {
    let Some(net) = otedama_testnet::skip::litecoind_or_skip(
        "otedama_blocks_are_accepted_by_litecoind_and_pay_pplns",
        &[],
    ) else {
        return;
    };
    let spec = ChainSpec::by_name("ltc-regtest").expect("spec").clone();
    let mut chain = ShareChain::new(spec);
    let (a, b) = (script(1), PayoutScript::p2pkh([0x42; 20]));

    // Pre-MWEB blocks: the first pays its finder, later ones split by PPLNS.
    for i in 0..4u8 {
        let payout = if i % 2 == 0 { a.clone() } else { b.clone() };
        mine_block(&net, &mut chain, payout, i);
    }

    // A coinbase paying one litoshi too much is refused for the reason the recipe names.
    let mut st = ShareTemplate::new(&mut chain, template(&net), a.clone()).expect("template");
    st.payouts[0].1 = otedama_sharechain::Amount::from_sat(st.payouts[0].1.to_sat() + 1);
    let share = solve(&st, chain.spec().algorithm, st.block.cur_time, &[9; 8]);
    let bad = st.block_bytes(&share.header, &st.coinbase(&[9; 8]).expect("coinbase"));
    assert_eq!(
        propose(&net, &bad).expect("proposal"),
        json!("bad-cb-amount")
    );

    // MWEB activates at height 432 and needs a peg-in first: fund a wallet, peg in.
    net.rpc
        .call("createwallet", json!(["w"]))
        .expect("createwallet");
    let addr = net.rpc.call("getnewaddress", json!([])).expect("address");
    let height = net
        .rpc
        .call("getblockcount", json!([]))
        .expect("count")
        .as_u64()
        .expect("u64");
    net.rpc
        .call("generatetoaddress", json!([431 - height, addr]))
        .expect("generate to 431");
    let mweb_addr = net
        .rpc
        .call("getnewaddress", json!(["", "mweb"]))
        .expect("mweb address");
    net.rpc
        .call("sendtoaddress", json!([mweb_addr, 1]))
        .expect("peg-in");
    assert!(
        template(&net).mweb.is_some(),
        "template carries the MWEB block"
    );
    for i in 10..12u8 {
        let payout = if i % 2 == 0 { a.clone() } else { b.clone() };
        assert!(mine_block(&net, &mut chain, payout, i) >= 432);
    }

    // Without its extension block an MWEB block does not even decode.
    let st = ShareTemplate::new(&mut chain, template(&net), a.clone()).expect("template");
    let share = solve(&st, chain.spec().algorithm, st.block.cur_time, &[7; 8]);
    let mut no_mweb = st.block.clone();
    no_mweb.mweb = None;
    let bytes = otedama_sharechain::coinbase::assemble_block(
        &share.header.block.to_bytes(),
        &st.coinbase(&[7; 8]).expect("cb"),
        &no_mweb,
    );
    assert!(matches!(
        propose(&net, &bytes),
        Err(RpcError::Daemon { code: -22, .. })
    ));

    // Past height 500 BIP34 is enforced; our height push passes.
    let height = net
        .rpc
        .call("getblockcount", json!([]))
        .expect("count")
        .as_u64()
        .expect("u64");
    net.rpc
        .call("generatetoaddress", json!([505 - height, addr]))
        .expect("generate to 505");
    assert_eq!(mine_block(&net, &mut chain, b.clone(), 20), 506);
}
