//! Ethash, Etchash and KawPow throughput: the light cache's build time, then hashes per
//! second on the CPU (light mode: every hash computes its dataset items from the cache,
//! as verification does) or on an OpenCL or CUDA device (the DAG generated on the
//! device first, its time reported).
//!
//! Run: `cargo bench -p otedama-miner --bench dag -- --algo ethash|etchash|kawpow
//! --backend cpu|opencl|cuda [--epoch N] [--dataset-mib M] [--threads N] [--seconds S]`.
//! `--epoch` picks the real epoch (default 0: a 16 MiB cache and a 1 GiB DAG);
//! `--dataset-mib` replaces it with a small dataset of that size (1 MiB cache), so a CPU
//! OpenCL device such as PoCL gives a figure in seconds instead of generating a full DAG.
//! It is not a miner's figure: these algorithms are bound by memory bandwidth, which a
//! small dataset does not exercise.

#![allow(missing_docs)]

use otedama_sharechain::ethash::kawpow::{KawpowContext, epoch as kawpow_epoch};
use otedama_sharechain::ethash::{Epoch, LightCache, Schedule};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Algo {
    Ethash,
    Etchash,
    Kawpow,
}

struct Args {
    algo: Algo,
    backend: String,
    epoch: u32,
    dataset_mib: Option<u64>,
    threads: usize,
    seconds: f64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        algo: Algo::Ethash,
        backend: "cpu".into(),
        epoch: 0,
        dataset_mib: None,
        threads: 1,
        seconds: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue;
        }
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--algo" => {
                a.algo = match value()?.as_str() {
                    "ethash" => Algo::Ethash,
                    "etchash" => Algo::Etchash,
                    "kawpow" => Algo::Kawpow,
                    other => return Err(format!("unknown algorithm {other:?}")),
                }
            }
            "--backend" => a.backend = value()?,
            "--epoch" => a.epoch = value()?.parse().map_err(|e| format!("--epoch: {e}"))?,
            "--dataset-mib" => {
                let mib: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--dataset-mib: {e}"))?;
                if !(1..=4096).contains(&mib) {
                    return Err("--dataset-mib must be 1 to 4096".into());
                }
                a.dataset_mib = Some(mib);
            }
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if !(a.seconds > 0.0 && a.seconds <= 3600.0) || a.threads == 0 || a.threads > 256 {
        return Err("--seconds must be in (0, 3600] and --threads in 1..=256".into());
    }
    Ok(a)
}

/// The epoch, the block the hashes are made at (KawPow's program follows it), and the
/// cache: real, or small with a dataset of `dataset_mib`.
fn cache(a: &Args) -> Result<(Epoch, u64, LightCache), String> {
    let (epoch, block) = match a.algo {
        Algo::Ethash => (
            Epoch::ethash(a.epoch),
            u64::from(a.epoch) * otedama_sharechain::ethash::EPOCH_LENGTH,
        ),
        Algo::Etchash => {
            let block = otedama_sharechain::ethash::ETC_ECIP1099_BLOCK
                .max(u64::from(a.epoch) * otedama_sharechain::ethash::ETCHASH_EPOCH_LENGTH);
            (
                Schedule::ETC.epoch(block).map_err(|e| e.to_string())?,
                block,
            )
        }
        Algo::Kawpow => {
            let block = u64::from(a.epoch) * otedama_sharechain::ethash::kawpow::EPOCH_LENGTH;
            (kawpow_epoch(block).map_err(|e| e.to_string())?, block)
        }
    };
    let started = Instant::now();
    let cache = match a.dataset_mib {
        None => LightCache::new(epoch),
        Some(mib) => {
            LightCache::with_sizes(&epoch.seed(), 1 << 20, mib << 20).map_err(|e| e.to_string())?
        }
    };
    println!(
        "light cache: epoch {} ({} seed rounds), {} items, built in {:.2} s; dataset {} MiB",
        epoch.number,
        epoch.seed_rounds,
        cache.items().len(),
        started.elapsed().as_secs_f64(),
        (cache.dataset_items() * 64) >> 20
    );
    Ok((epoch, block, cache))
}

fn header(i: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_le_bytes());
    h
}

fn cpu(a: &Args, block: u64, cache: LightCache) {
    let kawpow = (a.algo == Algo::Kawpow).then(|| KawpowContext::from_cache(cache.clone()));
    let hashes = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..a.threads {
            let (cache, kawpow, hashes) = (&cache, &kawpow, &hashes);
            s.spawn(move || {
                let h = header(t as u64);
                let mut nonce = (t as u64) << 40;
                while Instant::now() < deadline {
                    match kawpow {
                        Some(k) => {
                            std::hint::black_box(k.hash(block, &h, nonce));
                        }
                        None => {
                            std::hint::black_box(cache.hash(&h, nonce));
                        }
                    }
                    nonce += 1;
                    hashes.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    report(
        &format!("cpu light, {} threads", a.threads),
        hashes.into_inner(),
        started.elapsed(),
    );
}

fn report(what: &str, hashes: u64, elapsed: Duration) {
    let rate = hashes as f64 / elapsed.as_secs_f64();
    println!(
        "{what}: {hashes} hashes in {:.2} s = {rate:.1} H/s",
        elapsed.as_secs_f64()
    );
}

/// Searches batches of nonces with a boundary no hash meets, until the time is up.
fn search_loop(seconds: f64, mut search: impl FnMut(std::ops::Range<u64>) -> Result<u64, String>) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let (mut hashes, mut nonce) = (0u64, 0u64);
    while Instant::now() < deadline {
        match search(nonce..nonce + (1 << 16)) {
            Ok(n) => {
                hashes += n;
                nonce += 1 << 16;
            }
            Err(e) => {
                eprintln!("search failed: {e}");
                std::process::exit(1);
            }
        }
    }
    report("device search", hashes, started.elapsed());
}

/// Runs `f`, printing how long it took as `what`.
fn timed<E: ToString>(what: &str, f: impl FnOnce() -> Result<(), E>) -> Result<(), String> {
    let started = Instant::now();
    f().map_err(|e| e.to_string())?;
    println!("{what} in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Generates the DAG (timed), then runs `search` until the time is up.
fn generate_and_search<E: ToString, S>(
    seconds: f64,
    generate: impl FnOnce() -> Result<(), E>,
    mut search: impl FnMut(std::ops::Range<u64>) -> Result<(S, u64), E>,
) -> Result<(), String> {
    timed("DAG generated", generate)?;
    search_loop(seconds, |r| {
        search(r).map(|(_, n)| n).map_err(|e| e.to_string())
    });
    Ok(())
}

fn device(a: &Args, block: u64, cache: LightCache) -> Result<(), String> {
    use otedama_miner::cuda::{CudaEthash, CudaKawpow};
    use otedama_miner::opencl::{OpenClEthash, OpenClKawpow};
    const INTENSITY: u32 = 16;
    let stop = AtomicBool::new(false);
    let zero = [0u8; 32];
    let h = header(0);
    let index = |prefix: &str| {
        a.backend
            .strip_prefix(prefix)
            .and_then(|s| s.strip_prefix(':'))
            .map_or(Ok(0), |i| i.parse::<usize>().map_err(|e| e.to_string()))
    };
    let kawpow = a.algo == Algo::Kawpow;
    let s = a.seconds;
    if a.backend.starts_with("opencl") {
        let device = index("opencl")?;
        if kawpow {
            let k = OpenClKawpow::new(device, KawpowContext::from_cache(cache), INTENSITY)
                .map_err(|e| e.to_string())?;
            timed("period kernel built", || k.prepare(block))?;
            generate_and_search(
                s,
                || k.generate_dag(),
                |r| k.search(block, &h, r, &zero, &stop),
            )
        } else {
            let e = OpenClEthash::new(device, cache, INTENSITY).map_err(|e| e.to_string())?;
            generate_and_search(s, || e.generate_dag(), |r| e.search(&h, r, &zero, &stop))
        }
    } else if a.backend.starts_with("cuda") {
        let device = index("cuda")?;
        if kawpow {
            let k = CudaKawpow::new(device, KawpowContext::from_cache(cache), INTENSITY)
                .map_err(|e| e.to_string())?;
            generate_and_search(
                s,
                || k.generate_dag(),
                |r| k.search(block, &h, r, &zero, &stop),
            )
        } else {
            let e = CudaEthash::new(device, cache, INTENSITY).map_err(|e| e.to_string())?;
            generate_and_search(s, || e.generate_dag(), |r| e.search(&h, r, &zero, &stop))
        }
    } else {
        Err(format!(
            "unknown backend {:?} (cpu, opencl[:N] or cuda[:N])",
            a.backend
        ))
    }
}

fn main() {
    let run = || -> Result<(), String> {
        let a = parse()?;
        println!("{:?} on {} ({} s)", a.algo, a.backend, a.seconds);
        let (_, block, cache) = cache(&a)?;
        if a.backend == "cpu" {
            cpu(&a, block, cache);
            Ok(())
        } else {
            device(&a, block, cache)
        }
    };
    if let Err(e) = run() {
        eprintln!("dag bench: {e}");
        std::process::exit(2);
    }
}
