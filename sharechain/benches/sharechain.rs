//! Sharechain benchmarks: share validation, PPLNS window maintenance and storage.
//!
//! Run: `cargo bench -p otedama-sharechain --bench sharechain`
//! The chain under test holds a full 8 640-share window paying 500 distinct scripts; the
//! miner page's group, a 10 000-share window of 10 000 miners.

#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use otedama_sharechain::pplns::{WindowTracker, miner_window, split_reward, window_weights};
use otedama_sharechain::test_utils::{mine_on_tip, script};
use otedama_sharechain::{
    Amount, ChainSpec, PowAlgorithm, Share, ShareChain, Store, ValidationContext, parent_work,
    validate_share,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const WINDOW: u32 = 8640;
const PAYEES: u32 = 500;

fn spec(window: u32) -> ChainSpec {
    let mut s = ChainSpec::by_name("btc-regtest").expect("spec").clone();
    s.window_max_shares = window;
    s.dust_threshold = Amount::from_sat(1);
    s
}

/// A chain of `n` shares paying `payees` scripts round-robin, plus the next share.
fn build(n: u32, payees: u32, window: u32) -> (ShareChain, Share) {
    let mut chain = ShareChain::new(spec(window));
    for i in 0..n {
        let share = mine_on_tip(&mut chain, script(i % payees), &i.to_le_bytes().repeat(2));
        let meta = chain.derive_meta(&share).expect("parent known");
        chain.insert(meta);
    }
    let next = mine_on_tip(&mut chain, script(payees + 1), &[0xee; 8]);
    (chain, next)
}

fn ctx(share: &Share) -> ValidationContext<'static> {
    ValidationContext {
        now: u64::from(share.header.block.time) + 1,
        parent_block_known: &|_| true,
    }
}

fn validation(c: &mut Criterion) {
    let (mut big, next) = build(WINDOW, PAYEES, WINDOW);
    let len = next.to_bytes().len();
    let mut g = c.benchmark_group("validate");
    g.bench_function("full_500_payees_8640_window", |b| {
        b.iter(|| validate_share(&mut big, black_box(&next), len, &ctx(&next)).expect("valid"))
    });
    let (mut small, next_small) = build(200, 10, 200);
    let len_small = next_small.to_bytes().len();
    g.bench_function("full_10_payees", |b| {
        b.iter(|| {
            validate_share(
                &mut small,
                black_box(&next_small),
                len_small,
                &ctx(&next_small),
            )
            .expect("valid")
        })
    });
    let bytes = next.to_bytes();
    g.bench_function("decode_500_payees", |b| {
        b.iter(|| Share::from_bytes(black_box(&bytes)).expect("decodes"))
    });
    let header = next.header.block.to_bytes();
    g.bench_function("pow_scrypt", |b| {
        b.iter(|| PowAlgorithm::Scrypt.hash(black_box(&header)))
    });
    g.bench_function("pow_sha256d", |b| {
        b.iter(|| PowAlgorithm::Sha256d.hash(black_box(&header)))
    });
    g.finish();
}

fn pplns(c: &mut Criterion) {
    let (chain, _) = build(WINDOW + 1, PAYEES, WINDOW);
    let s = chain.spec().clone();
    let pw = parent_work(otedama_sharechain::CompactTarget::from_consensus(
        0x207f_ffff,
    ))
    .expect("bits");
    let tip = chain.tip().expect("tip").clone();
    let parent = chain.tip_or(tip.prev).expect("parent");
    let mut g = c.benchmark_group("pplns");
    g.bench_function("full_recompute_8640_shares_500_payees", |b| {
        b.iter(|| {
            let w = window_weights(&chain, black_box(tip.hash), pw, &s).expect("window");
            split_reward(&w, Amount::from_sat(5_000_000_000), &tip.payout_script, &s)
        })
    });
    // Steady state: a tracker advanced along consecutive real shares (its buffers are
    // warm, as in a running node), each advance followed by the 500-payee split.
    const STEPS: u64 = 400;
    let first = u64::from(WINDOW) + 1 - STEPS;
    let start_hash = chain.main_at(first - 1).expect("main chain");
    let steps: Vec<_> = (first..=u64::from(WINDOW))
        .map(|h| {
            chain
                .tip_or(chain.main_at(h).expect("main chain"))
                .expect("meta")
        })
        .collect();
    let base = WindowTracker::build(&chain, start_hash, pw, &s).expect("window");
    g.bench_function("incremental_update_and_split_500_payees", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let mut t = base.clone();
                // Warm the buffers the way a running tracker has them.
                assert!(t.advance(&steps[0], &s));
                let n = (iters - done).min(STEPS - 1) as usize;
                let started = Instant::now();
                for m in &steps[1..=n] {
                    assert!(t.advance(m, &s));
                    black_box(split_reward(
                        t.weights(),
                        Amount::from_sat(5_000_000_000),
                        &m.payout_script,
                        &s,
                    ));
                }
                elapsed += started.elapsed();
                done += n as u64;
            }
            elapsed
        })
    });
    let _ = (&tip, &parent);
    g.finish();
}

/// The miner page's query at its worst: a window of 10 000 shares from 10 000 miners.
/// `GET /api/miner/{address}` walks the window once for the address and reads the
/// template's split (500 outputs at most), so its cost is the walk plus the split.
fn miner_page(c: &mut Criterion) {
    const MINERS: u32 = 10_000;
    let (chain, _) = build(MINERS, MINERS, MINERS);
    let s = chain.spec().clone();
    let pw = parent_work(otedama_sharechain::CompactTarget::from_consensus(
        0x207f_ffff,
    ))
    .expect("bits");
    let tip = chain.tip().expect("tip").clone();
    let probe = script(MINERS / 2);
    let w = miner_window(&chain, tip.hash, pw, &probe, &s).expect("window");
    assert_eq!((w.window_miners, w.shares), (MINERS, 1));
    let mut g = c.benchmark_group("miner_page");
    g.bench_function("miner_window_10000_miners", |b| {
        b.iter(|| miner_window(&chain, black_box(tip.hash), pw, &probe, &s).expect("window"))
    });
    g.bench_function("window_and_split_10000_miners", |b| {
        b.iter(|| {
            let w = window_weights(&chain, black_box(tip.hash), pw, &s).expect("window");
            split_reward(&w, Amount::from_sat(5_000_000_000), &tip.payout_script, &s)
        })
    });
    g.finish();
}

fn storage(c: &mut Criterion) {
    let (mut chain, _) = build(0, 1, 100);
    let mut shares = Vec::new();
    for i in 0..2000u32 {
        let share = mine_on_tip(&mut chain, script(i % 50), &i.to_le_bytes().repeat(2));
        let meta = chain.derive_meta(&share).expect("parent known");
        let change = chain.insert(meta.clone());
        shares.push((share, meta, change));
    }
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.bench_function("accept_2000_shares", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| {
                let (store, _) = Store::open(dir.path(), chain.spec()).expect("open");
                for (share, meta, change) in &shares {
                    store.accept(share, meta, change, &chain).expect("stored");
                }
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, validation, pplns, miner_page, storage);
criterion_main!(benches);
