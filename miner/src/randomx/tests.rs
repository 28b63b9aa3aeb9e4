//! Tests of the RandomX engine against RandomX's reference vector and against
//! `randomx-rs` used directly (an independent path through the library's light mode).
//!
//! Light mode (256 MiB, under a second to build) runs in every `cargo test`. Fast mode
//! allocates and computes the 2080 MiB dataset (tens of seconds on two cores), so its
//! tests are ignored by default; run them with
//! `cargo test --release -p otedama-miner randomx -- --ignored`.

use super::*;
use randomx_rs::{RandomXCache, RandomXFlag, RandomXVM};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// A reproducible xorshift64 step: advances `state` and returns it.
pub(super) fn xorshift64(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// RandomX's own test vector (`src/tests/tests.cpp`, test "a"): key "test key 000",
/// input "This is a test".
const VECTOR_KEY: &[u8] = b"test key 000";
const VECTOR_INPUT: &[u8] = b"This is a test";
const VECTOR_HASH: &str = "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f";

/// Light-mode options that never touch reserved huge pages.
fn light() -> RandomxOptions {
    RandomxOptions {
        mode: RandomxMode::Light,
        huge_pages: HugePages::Off,
        ..RandomxOptions::default()
    }
}

/// A `randomx-rs` light VM: the independent computation every result is checked with.
struct Reference(RandomXVM);

impl Reference {
    fn new(key: &[u8]) -> Self {
        let flags = RandomXFlag::get_recommended_flags();
        let cache = RandomXCache::new(flags, key).expect("randomx-rs cache");
        Self(RandomXVM::new(flags, Some(cache), None).expect("randomx-rs vm"))
    }

    fn hash(&self, input: &[u8]) -> [u8; 32] {
        let out = self.0.calculate_hash(input).expect("randomx-rs hash");
        out.try_into().expect("32 bytes")
    }
}

/// A 76-byte Monero-like hashing blob.
fn blob(tag: u8) -> Vec<u8> {
    (0..76u8).map(|i| i.wrapping_mul(31) ^ tag).collect()
}

#[test]
fn light_mode_reference_vector() {
    let context = RandomxContext::build(VECTOR_KEY, &light()).expect("light context");
    assert_eq!(context.mode(), RandomxMode::Light);
    assert!(context.dataset_init_time().is_none());
    let mut vm = context.vm().expect("vm");
    assert_eq!(hex::encode(vm.hash(VECTOR_INPUT)), VECTOR_HASH);
    // The pipeline gives the same hash.
    vm.hash_first(VECTOR_INPUT);
    assert_eq!(
        vm.hash_last().map(hex::encode).as_deref(),
        Some(VECTOR_HASH)
    );
    assert_eq!(vm.hash_last(), None, "the pipeline has ended");
    assert_eq!(vm.hash_next(b"x"), None);
}

/// Every nonce of a pipelined scan at the easiest target is reported with the hash
/// `randomx-rs` computes for it, and a plain hash after a scan still agrees.
#[test]
fn pipelined_scan_agrees_with_randomx_rs() {
    let key = b"otedama scan key";
    let context = RandomxContext::build(key, &light()).expect("light context");
    let mut vm = context.vm().expect("vm");
    let reference = Reference::new(key);
    let job = RandomxJob::new(
        7,
        blob(1),
        MONERO_NONCE_OFFSET,
        RandomxTarget::from_u64(u64::MAX),
        key.to_vec(),
        3_000_000,
    )
    .expect("job");
    let stop = AtomicBool::new(false);
    let scan = vm.scan(&job, 1000..1012, &stop);
    assert_eq!(scan.hashes, 12);
    assert_eq!(scan.found.len(), 12);
    for (found, nonce) in scan.found.iter().zip(1000u32..) {
        assert_eq!((found.job_id, found.nonce), (7, nonce));
        assert_eq!(
            found.hash,
            reference.hash(&job.blob_with_nonce(nonce)),
            "nonce {nonce}"
        );
    }
    let input = job.blob_with_nonce(5);
    assert_eq!(vm.hash(&input), reference.hash(&input));
}

/// Only hashes that meet the target are reported, and all of them are.
#[test]
fn scan_reports_exactly_the_hashes_meeting_the_target() {
    let key = b"otedama target key";
    let context = RandomxContext::build(key, &light()).expect("light context");
    let mut vm = context.vm().expect("vm");
    let reference = Reference::new(key);
    let target = RandomxTarget::from_difficulty(4);
    let job =
        RandomxJob::new(1, blob(2), MONERO_NONCE_OFFSET, target, key.to_vec(), 1).expect("job");
    let scan = vm.scan(&job, 0..48, &AtomicBool::new(false));
    let expected: Vec<u32> = (0..48u32)
        .filter(|&n| target.is_met_by(&reference.hash(&job.blob_with_nonce(n))))
        .collect();
    assert!(!expected.is_empty() && expected.len() < 48, "{expected:?}");
    assert_eq!(
        scan.found.iter().map(|f| f.nonce).collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn stop_flag_and_bad_jobs() {
    let key = b"k";
    let context = RandomxContext::build(key, &light()).expect("light context");
    let mut vm = context.vm().expect("vm");
    let job = RandomxJob::new(
        1,
        blob(3),
        39,
        RandomxTarget::from_u64(u64::MAX),
        key.to_vec(),
        1,
    )
    .expect("job");
    let scan = vm.scan(&job, 0..1_000_000, &AtomicBool::new(true));
    assert_eq!(scan, RandomxScan::default());
    assert_eq!(vm.scan(&job, 5..5, &AtomicBool::new(false)).hashes, 0);
    for (len, offset) in [(42, 39), (0, 0), (10, usize::MAX)] {
        assert!(matches!(
            RandomxJob::new(
                1,
                vec![0; len],
                offset,
                RandomxTarget::from_u64(1),
                vec![],
                1
            ),
            Err(crate::RandomxError::NonceOffset { .. })
        ));
    }
    assert!(RandomxJob::new(1, vec![0; 43], 39, RandomxTarget::from_u64(1), vec![], 1).is_ok());
}

#[test]
fn targets_and_seed_heights() {
    assert_eq!(RandomxTarget::from_difficulty(1).value(), u64::MAX);
    assert_eq!(RandomxTarget::from_difficulty(0).value(), u64::MAX);
    assert_eq!(RandomxTarget::from_difficulty(1000).difficulty(), 1000);
    let mut hash = [0xffu8; 32];
    hash[24..].copy_from_slice(&100u64.to_le_bytes());
    assert!(RandomxTarget::from_u64(100).is_met_by(&hash));
    assert!(!RandomxTarget::from_u64(99).is_met_by(&hash));
    assert_eq!(seed_height(64), 0);
    assert_eq!(seed_height(2112), 0);
    assert_eq!(seed_height(2113), 2048);
    assert_eq!(next_seed_switch(0), 2113);
    assert_eq!(next_seed_switch(2112), 2113);
    assert_eq!(next_seed_switch(2113), 4161);
    assert_eq!(
        seed_height(next_seed_switch(3_000_000)),
        seed_height(3_000_000) + 2048
    );
    assert_eq!("light".parse::<RandomxMode>(), Ok(RandomxMode::Light));
    assert!("turbo".parse::<RandomxMode>().is_err());
}

/// Waits for `n` results of job `job_id`, skipping those of other jobs.
fn collect(
    rx: &std::sync::mpsc::Receiver<RandomxFound>,
    job_id: u64,
    n: usize,
) -> Vec<RandomxFound> {
    let mut out = Vec::new();
    while out.len() < n {
        let found = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a result within a minute");
        if found.job_id == job_id {
            out.push(found);
        }
    }
    out
}

/// The hashing threads find shares that meet the target and hash as `randomx-rs` says,
/// follow a new job at once, and move to a new seed.
#[test]
fn miner_threads_follow_jobs_and_seeds() {
    let options = RandomxOptions {
        hashing_threads: 2,
        ..light()
    };
    let (miner, rx) = RandomxMiner::start(
        2,
        crate::ThreadPriority::Low,
        &crate::CpuAffinity::default(),
        VmEngine::Auto,
    )
    .expect("start");
    assert_eq!(miner.threads(), 2);
    let first_key = b"seed one".to_vec();
    miner.switch_seed(&first_key, &options).expect("first seed");
    assert_eq!(miner.context_key(), Some(first_key.clone()));
    let target = RandomxTarget::from_difficulty(2);
    let job = |id, key: &[u8]| {
        RandomxJob::new(
            id,
            blob(id as u8),
            MONERO_NONCE_OFFSET,
            target,
            key.to_vec(),
            10,
        )
        .expect("job")
    };
    miner.set_job(job(1, &first_key));
    let reference = Reference::new(&first_key);
    let first_job = job(1, &first_key);
    let mut nonces = Vec::new();
    for found in collect(&rx, 1, 4) {
        let expected = reference.hash(&first_job.blob_with_nonce(found.nonce));
        assert_eq!(found.hash, expected, "nonce {}", found.nonce);
        assert!(target.is_met_by(&found.hash));
        nonces.push(found.nonce);
    }
    nonces.sort_unstable();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "no nonce reported twice");

    // A new seed, prepared in the background, then switched to.
    let second_key = b"seed two".to_vec();
    assert!(miner.prepare_seed(&second_key, &options).expect("prepare"));
    miner.set_job(job(2, &second_key));
    miner
        .switch_seed(&second_key, &options)
        .expect("second seed");
    assert_eq!(miner.context_key(), Some(second_key.clone()));
    let reference = Reference::new(&second_key);
    let second_job = job(2, &second_key);
    for found in collect(&rx, 2, 3) {
        assert_eq!(
            found.hash,
            reference.hash(&second_job.blob_with_nonce(found.nonce))
        );
    }
    // A seed that was not prepared: the old context is freed, then the new one built.
    let third_key = b"seed three".to_vec();
    miner.switch_seed(&third_key, &options).expect("third seed");
    miner.set_job(job(3, &third_key));
    let reference = Reference::new(&third_key);
    let third_job = job(3, &third_key);
    for found in collect(&rx, 3, 2) {
        assert_eq!(
            found.hash,
            reference.hash(&third_job.blob_with_nonce(found.nonce))
        );
    }
    assert!(miner.hashes() >= 9);
    miner.stop();
}

#[test]
fn a_dataset_slot_answers_only_for_a_live_fast_dataset() {
    let slot = DatasetSlot::default();
    assert_eq!(
        slot.hash(VECTOR_KEY, VECTOR_INPUT),
        None,
        "nothing published"
    );
    let context = RandomxContext::build(VECTOR_KEY, &light()).expect("light context");
    slot.publish(Some(&context));
    assert_eq!(
        slot.hash(VECTOR_KEY, VECTOR_INPUT),
        None,
        "a cache is no dataset"
    );
}

#[test]
fn light_bench_reports_its_setup() {
    let mut reports = Vec::new();
    let mut report = |p| reports.push(p);
    let r = measure_randomx(
        &light(),
        1,
        Duration::from_millis(300),
        Some((Duration::from_millis(100), &mut report)),
    )
    .expect("bench");
    assert_eq!(
        (r.mode, r.threads, r.init_threads),
        (RandomxMode::Light, 1, 0)
    );
    assert_eq!(r.pages, PageMode::Normal);
    assert!(r.hashes > 0 && r.hashrate() > 0.0);
    assert!(r.dataset_init.is_none());
    // One report per period, in order, none beyond the hashes of the run (give or take
    // the one the thread had started).
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].elapsed < w[1].elapsed && w[0].hashes <= w[1].hashes)
    );
    assert!(reports[0].elapsed >= Duration::from_millis(100));
    assert!(reports[2].hashes > 0 && reports[2].hashes <= r.hashes + 1);
}

/// Fast mode hashes RandomX's reference vector, and the dataset computed on several
/// threads gives the same hashes as `randomx-rs` in light mode (which computes each
/// dataset item when it reads it) for many inputs: every item range of every thread is
/// read by some of the 64 hashes (each reads 2048 random items).
/// On x86-64 the items are computed several at a time with the cache's programs
/// compiled here (`items`), so this also checks that computation over the whole dataset.
#[test]
fn fast_mode_parallel_dataset_agrees() {
    let options = RandomxOptions {
        mode: RandomxMode::Fast,
        init_threads: 4,
        ..RandomxOptions::default()
    };
    let context = RandomxContext::build(VECTOR_KEY, &options).expect("fast context");
    assert_eq!(context.mode(), RandomxMode::Fast);
    if cfg!(all(target_arch = "x86_64", unix)) {
        assert!(
            matches!(&context, RandomxContext::Fast(d) if d.interleaved()),
            "the library computed the items"
        );
    }
    println!(
        "dataset: {:?} on {} pages, flags {}",
        context.dataset_init_time(),
        context.pages(),
        context.flags()
    );
    let mut vm = context.vm().expect("fast vm");
    assert!(vm.is_fast());
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        assert!(
            vm.is_compiled(),
            "the compiled VM disagreed with the library"
        );
    }
    assert_eq!(hex::encode(vm.hash(VECTOR_INPUT)), VECTOR_HASH);
    // Both ways of compiling CFROUND (loading MXCSR every time, or only when the mode
    // changes, as on AMD's cores) give the hashes of the VM checked above, one input at
    // a time and two at once, pipelined.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    for slow_ldmxcsr in [false, true] {
        let features = super::jit::Features {
            slow_ldmxcsr,
            ..super::jit::Features::detect()
        };
        let mut compiled = vm.compiled_with(true, features).expect("a compiled VM");
        let inputs: Vec<Vec<u8>> = (0..8u8).map(blob).collect();
        let expected: Vec<[u8; 32]> = inputs.iter().map(|input| vm.hash(input)).collect();
        for (input, hash) in inputs.iter().zip(&expected) {
            assert_eq!(compiled.hash(input), *hash, "slow_ldmxcsr {slow_ldmxcsr}");
        }
        let mut got = Vec::new();
        compiled.pair_first([&inputs[0], &inputs[1]]);
        for next in inputs[2..].chunks(2) {
            got.extend(compiled.pair_next([&next[0], &next[1]]));
        }
        got.extend(compiled.pair_last());
        assert_eq!(got, expected, "pairs, slow_ldmxcsr {slow_ldmxcsr}");
    }
    // Published for a verifier: the same hash for its key, nothing for another key.
    let slot = DatasetSlot::default();
    slot.publish(Some(&context));
    let shared = slot
        .hash(VECTOR_KEY, VECTOR_INPUT)
        .expect("the dataset's key");
    assert_eq!(hex::encode(shared), VECTOR_HASH);
    assert_eq!(slot.hash(b"another key", VECTOR_INPUT), None);
    let reference = Reference::new(VECTOR_KEY);
    let job = RandomxJob::new(
        9,
        blob(9),
        MONERO_NONCE_OFFSET,
        RandomxTarget::from_u64(u64::MAX),
        VECTOR_KEY.to_vec(),
        1,
    )
    .expect("job");
    let scan = vm.scan(&job, 0..64, &AtomicBool::new(false));
    assert_eq!(scan.found.len(), 64);
    for found in &scan.found {
        assert_eq!(
            found.hash,
            reference.hash(&job.blob_with_nonce(found.nonce))
        );
    }
    // Each engine scans alike, two at a time included (an odd count leaves one alone).
    for engine in [VmEngine::Single, VmEngine::Pair] {
        let mut vm = context.vm_with(engine).expect("fast vm");
        if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            let at_once = usize::from(engine == VmEngine::Pair) + 1;
            assert_eq!(vm.hashes_at_once(), at_once, "{engine:?}");
        }
        let again = vm.scan(&job, 7..20, &AtomicBool::new(false));
        assert_eq!(again.hashes, 13);
        assert_eq!(again.found[..], scan.found[7..20], "{engine:?}");
        // Stopped after five nonces, between the two of a pair: the first five hashed.
        let asked = std::cell::Cell::new(0);
        let mut found = Vec::new();
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 5
        };
        let hashed = vm.scan_with(&job, 0..10, stop, |f| found.push(f));
        assert_eq!(hashed, 5, "{engine:?}");
        assert_eq!(found[..], scan.found[..5], "{engine:?}");
    }
}

/// Nanoseconds per dependent read in a chase through the 64-byte lines of `memory`,
/// `stride` bytes apart, in one random cycle. Lines 4 KiB or more apart are also moved
/// along their page, so that they spread over the cache's sets rather than share a few.
fn chase_nanoseconds(memory: &mut [u64], stride: usize, steps: u32) -> f64 {
    const LINE_WORDS: usize = 64 / 8;
    let words = stride / 8;
    let lines = memory.len() / words;
    let at_line = |line: usize| {
        let shift = if stride >= 4096 {
            line / 32 % 64 * LINE_WORDS
        } else {
            0
        };
        line * words + shift
    };
    // Sattolo's shuffle: one cycle through every line.
    let mut order: Vec<u32> = (0..lines as u32).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..lines).rev() {
        order.swap(i, (xorshift64(&mut x) % i as u64) as usize);
    }
    for (i, &line) in order.iter().enumerate() {
        memory[at_line(line as usize)] = at_line(order[(i + 1) % lines] as usize) as u64;
    }
    drop(order);
    let mut at = at_line(0);
    let start = std::time::Instant::now();
    for _ in 0..steps {
        at = memory[at] as usize;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(at);
    elapsed.as_nanos() as f64 / f64::from(steps)
}

/// [`chase_nanoseconds`] over `bytes` on transparent huge pages, as the dataset would be
/// without reserved ones: the memory starts on a 2 MiB boundary, so whole huge pages
/// hold it.
fn chase_on_transparent_pages(bytes: usize, stride: usize, steps: u32) -> f64 {
    const HUGE_PAGE_WORDS: usize = memory::HUGE_PAGE as usize / 8;
    let mut memory = vec![0u64; bytes / 8 + HUGE_PAGE_WORDS];
    let base = memory.as_ptr().align_offset(memory::HUGE_PAGE as usize);
    memory::advise_huge_pages(memory.as_mut_ptr().cast(), memory.len() * 8);
    let words = &mut memory[base..base + bytes / 8];
    chase_nanoseconds(words, stride, steps)
}

/// The latency of a dataset read on this machine: a chase of dependent loads over 2 GiB
/// of 64-byte lines, on transparent huge pages, then on reserved 1 GiB pages where two
/// are free (`echo 2 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages`;
/// `cargo test --release -p otedama-miner dataset_read_latency -- --ignored
/// --nocapture`). The compiled loop prefetches each item one iteration ahead (its
/// address is known only at the end of the iteration before), so an iteration shorter
/// than this waits for the rest.
#[test]
#[ignore = "a timing, not a check"]
#[allow(unsafe_code)]
fn dataset_read_latency() {
    const BYTES: usize = 2 << 30;
    const STEPS: u32 = 20_000_000;
    let ns = chase_on_transparent_pages(BYTES, 64, STEPS);
    println!("{ns:.1} ns per dependent read over 2 GiB, transparent huge pages");
    let Some(giant) = memory::GiganticMapping::new(BYTES) else {
        println!("1 GiB pages: fewer than two free, not measured");
        return;
    };
    // SAFETY: the mapping holds BYTES of zeroed, 8-byte aligned memory, borrowed here
    // alone while `giant` lives.
    let words = unsafe { std::slice::from_raw_parts_mut(giant.base().cast::<u64>(), BYTES / 8) };
    let ns = chase_nanoseconds(words, 64, STEPS);
    println!("{ns:.1} ns per dependent read over 2 GiB, reserved 1 GiB pages");
}

/// What a read costs when its lines are few but their pages many: the same number of
/// lines packed together, then one line in each 4 KiB page (`cargo test --release -p
/// otedama-miner address_translation_cost -- --ignored --nocapture`). Where the memory
/// is mapped in 2 MiB pages end to end, spreading 2 048 lines over 8 MiB (four such
/// pages) costs next to nothing; where the reads slow down, the translations are made
/// in 4 KiB pieces somewhere (a virtual machine's host), and no page size the miner asks
/// for widens their reach.
#[test]
#[ignore = "a timing, not a check"]
fn address_translation_cost() {
    for lines in [2048, 8192] {
        let packed = chase_on_transparent_pages(lines * 64, 64, 20_000_000);
        let spread = chase_on_transparent_pages(lines * 4096, 4096, 20_000_000);
        println!(
            "{lines} lines: {packed:.2} ns a read packed in {} KiB, {spread:.2} ns one per 4 KiB page ({} MiB)",
            lines * 64 / 1024,
            lines * 4096 / (1 << 20)
        );
    }
}
