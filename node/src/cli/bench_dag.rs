//! `bench --algo ethash|etchash|kawpow`: the DAG algorithms' light cache build, then
//! hashes per second on the CPU (light mode: every dataset item computed from the
//! cache, as verification and the built-in `DagClient` do) or on an OpenCL or CUDA
//! device (the DAG generated on the device first, its time reported).
//!
//! `--epoch N` picks the real epoch (default 0: a 16 MiB cache and a 1 GiB DAG);
//! `--dataset-mib M` replaces it with a 1 MiB cache and an M MiB dataset, so a CPU OpenCL
//! device such as PoCL gives a figure in seconds. A small dataset does not exercise the
//! memory bandwidth these algorithms are bound by, so it is not a miner's figure.

use super::BenchArgs;
use anyhow::{Context as _, bail};
use otedama_sharechain::ethash::kawpow::{self, KawpowContext};
use otedama_sharechain::ethash::{EPOCH_LENGTH, ETC_ECIP1099_BLOCK, ETCHASH_EPOCH_LENGTH};
use otedama_sharechain::ethash::{Epoch, LightCache, Schedule};
use otedama_stratum::dag::{DagAlgorithm, DagHasher};
use serde::Serialize;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Nonces per device search call.
const DEVICE_BATCH: u64 = 1 << 16;
/// Work-group intensity of the device searches (as the miner's DAG bench).
const INTENSITY: u32 = 16;

/// Parses a DAG algorithm name.
pub(super) fn parse_dag(s: &str) -> Option<DagAlgorithm> {
    [
        DagAlgorithm::Ethash,
        DagAlgorithm::Etchash,
        DagAlgorithm::Kawpow,
    ]
    .into_iter()
    .find(|a| a.name() == s)
}

/// One row of `bench --json` for a DAG algorithm.
#[derive(Serialize)]
struct DagRow {
    algorithm: &'static str,
    backend: String,
    epoch: u32,
    cache_bytes: u64,
    dataset_bytes: u64,
    cache_seconds: f64,
    dag_seconds: Option<f64>,
    threads: usize,
    seconds: f64,
    hashes: u64,
    hashes_per_second: f64,
}

/// Runs `bench` for a DAG algorithm.
///
/// # Errors
/// Bad options, or a device that is missing or fails.
pub(super) fn bench_dag(args: &BenchArgs, algorithm: DagAlgorithm) -> anyhow::Result<ExitCode> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number");
    }
    let (epoch, block) = epoch_and_block(algorithm, args.epoch)?;
    let started = Instant::now();
    let cache = match args.dataset_mib {
        None => LightCache::new(epoch),
        Some(mib) if (1..=4096).contains(&mib) => {
            LightCache::with_sizes(&epoch.seed(), 1 << 20, mib << 20).context("--dataset-mib")?
        }
        Some(_) => bail!("--dataset-mib must be 1 to 4096"),
    };
    let cache_seconds = started.elapsed().as_secs_f64();
    let mut row = DagRow {
        algorithm: algorithm.name(),
        backend: args.backend.clone(),
        epoch: epoch.number,
        cache_bytes: cache.items().len() as u64 * 64,
        dataset_bytes: cache.dataset_items() * 64,
        cache_seconds,
        dag_seconds: None,
        threads: 1,
        seconds: 0.0,
        hashes: 0,
        hashes_per_second: 0.0,
    };
    let duration = Duration::from_secs_f64(args.seconds);
    let backend = args.backend.as_str();
    let (hashes, elapsed) = if backend == "cpu" {
        let threads = otedama_miner::hashing_threads(args.threads);
        row.threads = threads;
        cpu(algorithm, cache, block, threads, duration)
    } else if let Some(device) = device_index(backend, "opencl")? {
        opencl(algorithm, cache, block, device, duration, &mut row)?
    } else if let Some(device) = device_index(backend, "cuda")? {
        cuda(algorithm, cache, block, device, duration, &mut row)?
    } else {
        bail!(
            "--backend for {}: cpu, opencl[:N] or cuda[:N]",
            algorithm.name()
        );
    };
    row.seconds = elapsed.as_secs_f64();
    row.hashes = hashes;
    row.hashes_per_second = hashes as f64 / row.seconds;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&row).context("encoding the result")?
        );
    } else {
        println!(
            "{:<9} {:<9} {:>5} {:>9} {:>9} {:>9} {:>7} {:>14}",
            "ALGORITHM", "BACKEND", "EPOCH", "CACHE", "DATASET", "BUILD", "THREADS", "HASHRATE"
        );
        println!(
            "{:<9} {:<9} {:>5} {:>6} MiB {:>6} MiB {:>7.2} s {:>7} {:>10.1} H/s",
            row.algorithm,
            row.backend,
            row.epoch,
            row.cache_bytes >> 20,
            row.dataset_bytes >> 20,
            row.cache_seconds + row.dag_seconds.unwrap_or(0.0),
            row.threads,
            row.hashes_per_second
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The epoch measured and a block in it (KawPow's program follows the block).
fn epoch_and_block(algorithm: DagAlgorithm, number: u32) -> anyhow::Result<(Epoch, u64)> {
    let n = u64::from(number);
    let block = match algorithm {
        DagAlgorithm::Ethash => n * EPOCH_LENGTH,
        DagAlgorithm::Etchash => ETC_ECIP1099_BLOCK.max(n * ETCHASH_EPOCH_LENGTH),
        DagAlgorithm::Kawpow => n * kawpow::EPOCH_LENGTH,
    };
    let epoch = match algorithm {
        DagAlgorithm::Ethash => Schedule::Ethash.epoch(block),
        DagAlgorithm::Etchash => Schedule::ETC.epoch(block),
        DagAlgorithm::Kawpow => kawpow::epoch(block),
    }
    .context("--epoch")?;
    Ok((epoch, block))
}

/// `name`, `name:N` or neither.
fn device_index(backend: &str, name: &str) -> anyhow::Result<Option<usize>> {
    match backend.strip_prefix(name) {
        Some("") => Ok(Some(0)),
        Some(rest) => match rest.strip_prefix(':') {
            Some(i) => {
                Ok(Some(i.parse().with_context(|| {
                    format!("--backend {name}:<device index>")
                })?))
            }
            None => Ok(None),
        },
        None => Ok(None),
    }
}

fn header(i: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_le_bytes());
    h
}

/// Light hashing on `threads` threads until `duration` is up.
fn cpu(
    algorithm: DagAlgorithm,
    cache: LightCache,
    block: u64,
    threads: usize,
    duration: Duration,
) -> (u64, Duration) {
    let hasher = match algorithm {
        DagAlgorithm::Kawpow => DagHasher::Kawpow(KawpowContext::from_cache(cache)),
        DagAlgorithm::Ethash | DagAlgorithm::Etchash => DagHasher::Ethash(cache),
    };
    let hashes = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (hasher, hashes) = (&hasher, &hashes);
            s.spawn(move || {
                let h = header(t as u64);
                let mut nonce = (t as u64) << 40;
                while Instant::now() < deadline {
                    std::hint::black_box(hasher.hash(block, &h, nonce));
                    nonce += 1;
                    hashes.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    (hashes.into_inner(), started.elapsed())
}

/// Generates a device's DAG with `generate` and records its time in `row`.
fn timed_dag<E: std::error::Error + Send + Sync + 'static>(
    row: &mut DagRow,
    generate: impl FnOnce() -> Result<(), E>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    generate().context("generating the DAG")?;
    row.dag_seconds = Some(started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `search` over batches of nonces with a boundary no hash meets, until the time
/// is up.
fn search_loop<E: std::fmt::Display>(
    duration: Duration,
    mut search: impl FnMut(std::ops::Range<u64>) -> Result<u64, E>,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let (mut hashes, mut nonce) = (0u64, 0u64);
    while started.elapsed() < duration {
        hashes += search(nonce..nonce + DEVICE_BATCH).map_err(|e| anyhow::anyhow!("{e}"))?;
        nonce += DEVICE_BATCH;
    }
    Ok((hashes, started.elapsed()))
}

fn opencl(
    algorithm: DagAlgorithm,
    cache: LightCache,
    block: u64,
    device: usize,
    duration: Duration,
    row: &mut DagRow,
) -> anyhow::Result<(u64, Duration)> {
    use otedama_miner::opencl::{OpenClEthash, OpenClKawpow};
    let (stop, zero, h) = (AtomicBool::new(false), [0u8; 32], header(0));
    if algorithm == DagAlgorithm::Kawpow {
        let k = OpenClKawpow::new(device, KawpowContext::from_cache(cache), INTENSITY)
            .context("--backend opencl")?;
        k.prepare(block).context("building the period's kernel")?;
        timed_dag(row, || k.generate_dag())?;
        search_loop(duration, |r| {
            k.search(block, &h, r, &zero, &stop).map(|(_, n)| n)
        })
    } else {
        let e = OpenClEthash::new(device, cache, INTENSITY).context("--backend opencl")?;
        timed_dag(row, || e.generate_dag())?;
        search_loop(duration, |r| e.search(&h, r, &zero, &stop).map(|(_, n)| n))
    }
}

fn cuda(
    algorithm: DagAlgorithm,
    cache: LightCache,
    block: u64,
    device: usize,
    duration: Duration,
    row: &mut DagRow,
) -> anyhow::Result<(u64, Duration)> {
    use otedama_miner::cuda::{CudaEthash, CudaKawpow};
    let (stop, zero, h) = (AtomicBool::new(false), [0u8; 32], header(0));
    if algorithm == DagAlgorithm::Kawpow {
        let k = CudaKawpow::new(device, KawpowContext::from_cache(cache), INTENSITY)
            .context("--backend cuda")?;
        timed_dag(row, || k.generate_dag())?;
        search_loop(duration, |r| {
            k.search(block, &h, r, &zero, &stop).map(|(_, n)| n)
        })
    } else {
        let e = CudaEthash::new(device, cache, INTENSITY).context("--backend cuda")?;
        timed_dag(row, || e.generate_dag())?;
        search_loop(duration, |r| e.search(&h, r, &zero, &stop).map(|(_, n)| n))
    }
}
