use crate::{check, grow};
use otedama_sharechain::test_utils::{mine_on_tip, script};
use otedama_sharechain::{ChainSpec, Store, StoreError};

fn spec() -> ChainSpec {
    let mut s = ChainSpec::by_name("btc-regtest").expect("spec").clone();
    s.window_max_shares = 10;
    s
}

#[test]
fn reopen_continues_where_it_left_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = spec();
    let tip = {
        let (store, mut c) = Store::open(dir.path(), &spec).expect("open");
        for i in 0..15u8 {
            let s = mine_on_tip(&mut c, script(u32::from(i % 3)), &[i; 8]);
            let meta = check(&mut c, &s).expect("valid");
            let change = c.insert(meta.clone());
            store.accept(&s, &meta, &change, &c).expect("stored");
        }
        store.flush().expect("flush");
        c.tip().expect("tip").clone()
    };
    let (store, mut c) = Store::open(dir.path(), &spec).expect("reopen");
    assert_eq!(c.tip().expect("tip"), &tip);
    assert_eq!(store.verify().expect("consistent").tip_height, Some(14));
    // Keeps validating on top of the reloaded chain.
    grow(&mut c, 2, &[script(4)]);
}

#[test]
fn prune_and_reload_a_pruned_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = spec();
    {
        let (store, mut c) = Store::open(dir.path(), &spec).expect("open");
        for i in 0..45u8 {
            let s = mine_on_tip(&mut c, script(1), &[i; 8]);
            let meta = check(&mut c, &s).expect("valid");
            let change = c.insert(meta.clone());
            store.accept(&s, &meta, &change, &c).expect("stored");
        }
        assert_eq!(store.prune(&mut c).expect("prune"), 45 - 1 - 20 + 1 - 1);
        store.flush().expect("flush");
    }
    let (store, mut c) = Store::open(dir.path(), &spec).expect("reopen");
    let report = store.verify().expect("consistent");
    assert_eq!(report.tip_height, Some(44));
    assert_eq!(report.shares, 21);
    grow(&mut c, 3, &[script(2)]);
}

#[test]
fn store_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path(), &spec()).expect("open"));
    let other = ChainSpec::by_name("ltc-regtest").expect("spec");
    assert!(matches!(
        Store::open(dir.path(), other),
        Err(StoreError::WrongChain { .. })
    ));
}
