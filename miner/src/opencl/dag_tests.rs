//! Ethash and KawPow kernel tests against the CPU implementation
//! (`otedama_sharechain::ethash`). They run on a real OpenCL device (PoCL's CPU device
//! in CI) and fail when none is found, unless `OTEDAMA_SKIP_OPENCL_TESTS=1` is set.

use super::*;
use crate::error::DagError;
use crate::gpu::dag::{Report, recheck};
use otedama_sharechain::ethash::kawpow::KawpowContext;
use otedama_sharechain::ethash::{Dataset, Epoch, LightCache};
use std::sync::atomic::{AtomicBool, AtomicU64};

fn skip() -> bool {
    std::env::var_os("OTEDAMA_SKIP_OPENCL_TESTS").is_some_and(|v| v == "1")
}

fn no_device(e: MinerError) -> ! {
    panic!("no OpenCL device to test on ({e}); set OTEDAMA_SKIP_OPENCL_TESTS=1 to skip")
}

/// A tiny dataset: 101 cache items, 2 062 dataset items (over KawPow's 16 KiB L1).
fn tiny_cache(seed: u8) -> LightCache {
    LightCache::with_sizes(&[seed; 32], 64 * 101, 128 * 1031).expect("sizes")
}

fn ethash(cache: LightCache, intensity: u32) -> Option<OpenClEthash> {
    if skip() {
        return None;
    }
    Some(OpenClEthash::new(0, cache, intensity).unwrap_or_else(|e| no_device(e)))
}

/// One in 16 final hashes meets it.
fn easy_boundary() -> [u8; 32] {
    let mut b = [0xff; 32];
    b[0] = 0x0f;
    b
}

#[test]
fn ethash_dag_equals_the_cpu_dataset() {
    let cache = tiny_cache(7);
    let full = Dataset::generate(&cache);
    let Some(dev) = ethash(cache, 8) else {
        return;
    };
    let err = dev.read_dag(0, 1).expect_err("no DAG yet");
    assert!(
        matches!(err, MinerError::Dag(DagError::NotGenerated)),
        "{err}"
    );
    dev.generate_dag().expect("DAG");
    let n = full.items().len() as u32;
    assert_eq!(dev.read_dag(0, n).expect("items"), full.items());
    assert_eq!(dev.dataset_items(5, 3).expect("items"), full.items()[5..8]);
    let err = dev.read_dag(n - 1, 2).expect_err("past the end");
    assert!(
        matches!(err, MinerError::Dag(DagError::Range { .. })),
        "{err}"
    );
}

#[test]
fn ethash_search_finds_the_cpu_nonces() {
    let cache = tiny_cache(9);
    let full = Dataset::generate(&cache);
    // Intensity 8: 600 nonces are three launches, the last one partial.
    let Some(dev) = ethash(cache, 8) else {
        return;
    };
    let header = [0x5a; 32];
    let boundary = easy_boundary();
    let stop = AtomicBool::new(false);
    let err = dev
        .search(&header, 0..10, &boundary, &stop)
        .expect_err("no DAG yet");
    assert!(
        matches!(err, MinerError::Dag(DagError::NotGenerated)),
        "{err}"
    );
    dev.generate_dag().expect("DAG");
    let nonces = (1u64 << 32) - 300..(1u64 << 32) + 300;
    let expected: Vec<DagSolution> = nonces
        .clone()
        .filter_map(|nonce| {
            let h = full.hash(&header, nonce);
            (h.result <= boundary).then_some(DagSolution {
                nonce,
                mix: h.mix,
                result: h.result,
            })
        })
        .collect();
    assert!(expected.len() > 10, "{}", expected.len());
    let (found, hashed) = dev
        .search(&header, nonces, &boundary, &stop)
        .expect("search");
    assert_eq!(hashed, 600);
    assert_eq!(found, expected);
    assert_eq!(dev.hardware_errors(), 0);
}

/// Every nonce meets the boundary: more reports than the output holds, so launches are
/// re-run in slices and nothing is lost.
#[test]
fn ethash_reports_past_the_output_capacity_are_kept() {
    let Some(dev) = ethash(tiny_cache(11), 13) else {
        return;
    };
    dev.generate_dag().expect("DAG");
    let stop = AtomicBool::new(false);
    let (found, hashed) = dev
        .search(&[3; 32], 0..4_200, &[0xff; 32], &stop)
        .expect("search");
    assert_eq!(hashed, 4_200);
    assert_eq!(
        found.iter().map(|s| s.nonce).collect::<Vec<_>>(),
        (0..4_200).collect::<Vec<_>>()
    );
    assert_eq!(dev.hardware_errors(), 0);
}

#[test]
fn stop_ends_a_search_before_any_launch() {
    let Some(dev) = ethash(tiny_cache(12), 8) else {
        return;
    };
    dev.generate_dag().expect("DAG");
    let stop = AtomicBool::new(true);
    let (found, hashed) = dev
        .search(&[3; 32], 0..1_000_000, &[0xff; 32], &stop)
        .expect("search");
    assert!(found.is_empty());
    assert_eq!(hashed, 0);
}

#[test]
fn ethash_items_of_epoch_0_equal_the_light_cache() {
    if skip() {
        return;
    }
    let cache = LightCache::new(Epoch::ethash(0));
    let last = (cache.dataset_items() - 1) as u32;
    let expected: Vec<_> = [0, 1, 2, 1_000_003, last]
        .iter()
        .map(|i| (*i, cache.dataset_item(*i)))
        .collect();
    let dev = OpenClEthash::new(0, cache, 8).unwrap_or_else(|e| no_device(e));
    for (i, item) in expected {
        assert_eq!(dev.dataset_items(i, 1).expect("item"), [item], "item {i}");
    }
    let err = dev.dataset_items(last, 2).expect_err("past the end");
    assert!(
        matches!(err, MinerError::Dag(DagError::Range { .. })),
        "{err}"
    );
}

#[test]
fn kawpow_matches_the_cpu_over_two_periods() {
    if skip() {
        return;
    }
    let cache = tiny_cache(3);
    let items: Vec<_> = (0..4)
        .map(|i| cache.dataset_item_with_parents(i, 512))
        .collect();
    let ctx = KawpowContext::from_cache(cache);
    let cpu = ctx.clone();
    let dev = OpenClKawpow::new(0, ctx, 8).unwrap_or_else(|e| no_device(e));
    assert_eq!(dev.dataset_items(0, 4).expect("items"), items);
    dev.generate_dag().expect("DAG");
    let header = [0x42; 32];
    let stop = AtomicBool::new(false);
    // Blocks 10 and 13: periods 3 and 4, two different programs.
    for block in [10u64, 13] {
        let nonces = 7_000..7_006u64;
        let (found, hashed) = dev
            .search(block, &header, nonces.clone(), &[0xff; 32], &stop)
            .expect("search");
        assert_eq!(hashed, 6);
        let expected: Vec<DagSolution> = nonces
            .map(|nonce| {
                let h = cpu.hash(block, &header, nonce);
                DagSolution {
                    nonce,
                    mix: h.mix,
                    result: h.result,
                }
            })
            .collect();
        assert_eq!(found, expected, "block {block}");
    }
    assert_eq!(dev.cached_periods(), [3, 4]);
    assert_eq!(dev.hardware_errors(), 0);
    // A third period evicts the one furthest from it.
    dev.prepare(3 * 6).expect("period 6");
    assert_eq!(dev.cached_periods(), [4, 6]);
}

#[test]
fn kawpow_search_with_a_boundary_finds_the_cpu_nonces() {
    if skip() {
        return;
    }
    let ctx = KawpowContext::from_cache(tiny_cache(4));
    let cpu = ctx.clone();
    let dev = OpenClKawpow::new(0, ctx, 8).unwrap_or_else(|e| no_device(e));
    dev.generate_dag().expect("DAG");
    let header = [0x17; 32];
    let boundary = easy_boundary();
    let block = 7_501;
    let nonces = 0..300u64;
    let expected: Vec<u64> = nonces
        .clone()
        .filter(|n| cpu.hash(block, &header, *n).result <= boundary)
        .collect();
    assert!(expected.len() > 5, "{}", expected.len());
    let stop = AtomicBool::new(false);
    let (found, _) = dev
        .search(block, &header, nonces, &boundary, &stop)
        .expect("search");
    assert_eq!(found.iter().map(|s| s.nonce).collect::<Vec<_>>(), expected);
}

#[test]
fn kawpow_searches_a_full_batch_of_2_pow_16_nonces() {
    // A whole enqueue of intensity 16: on a CPU device the work-group size once left to
    // the device overflowed a thread's stack with KawPow's per-work-item registers.
    if skip() {
        return;
    }
    let dev = OpenClKawpow::new(0, KawpowContext::from_cache(tiny_cache(5)), 16)
        .unwrap_or_else(|e| no_device(e));
    dev.generate_dag().expect("DAG");
    let stop = AtomicBool::new(false);
    let (found, hashed) = dev
        .search(9, &[3; 32], 0..(1 << 16) + 5, &[0; 32], &stop)
        .expect("search");
    assert_eq!((found.len(), hashed), (0, (1 << 16) + 5));
}

#[test]
fn kawpow_refuses_a_dataset_under_16_kib() {
    let cache = LightCache::with_sizes(&[1; 32], 64 * 11, 128 * 17).expect("sizes");
    let err = OpenClKawpow::new(0, KawpowContext::from_cache(cache), 8).expect_err("too small");
    assert!(
        matches!(err, MinerError::Dag(DagError::DatasetTooSmall { .. })),
        "{err}"
    );
}

/// A report whose mix or final hash the CPU does not reproduce is counted, never
/// returned.
#[test]
fn wrong_reports_are_counted_not_returned() {
    let cache = tiny_cache(5);
    let header = [1; 32];
    let good = cache.hash(&header, 3);
    let reports = vec![
        Report {
            nonce: 3,
            mix: good.mix,
        },
        Report {
            nonce: 4,
            mix: good.mix,
        },
        Report {
            nonce: 3,
            mix: good.mix,
        },
    ];
    let errors = AtomicU64::new(0);
    let found = recheck("test", reports, &[0xff; 32], &errors, |n| {
        let h = cache.hash(&header, n);
        (h.mix, h.result)
    });
    assert_eq!(
        found,
        [DagSolution {
            nonce: 3,
            mix: good.mix,
            result: good.result
        }]
    );
    assert_eq!(errors.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Above the boundary: an error too, whatever the mix.
    let found = recheck(
        "test",
        vec![Report {
            nonce: 3,
            mix: good.mix,
        }],
        &[0; 32],
        &errors,
        |_| (good.mix, good.result),
    );
    assert!(found.is_empty());
    assert_eq!(errors.load(std::sync::atomic::Ordering::Relaxed), 2);
}
