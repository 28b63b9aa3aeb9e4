//! `bench`: the built-in miner's hash rate per algorithm and backend.

use super::BenchArgs;
use anyhow::Context as _;
use serde::Serialize;
use std::process::ExitCode;

/// One row of `bench --json`.
#[derive(Serialize)]
struct BenchRow {
    algorithm: String,
    backend: String,
    kernel: &'static str,
    lanes: usize,
    threads: usize,
    seconds: f64,
    hashes: u64,
    hashes_per_second: f64,
    per_thread: f64,
}

/// Formats a rate with an SI prefix: "36.12 MH/s".
fn si_rate(rate: f64) -> String {
    let (scaled, prefix) = match rate {
        r if r >= 1e9 => (r / 1e9, "G"),
        r if r >= 1e6 => (r / 1e6, "M"),
        r if r >= 1e3 => (r / 1e3, "k"),
        r => (r, ""),
    };
    format!("{scaled:.2} {prefix}H/s")
}

/// Runs `bench`: measures each backend asked for and prints a table or JSON lines.
///
/// # Errors
/// A bad `--seconds` or `--backend`, or a backend that fails to start or hash.
pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    use otedama_miner::{CpuBackend, CpuKernel, ReferenceBackend};
    use otedama_sharechain::PowAlgorithm;
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        anyhow::bail!("--seconds must be a positive number");
    }
    let algorithms = match args.algo {
        Some(super::bench_dag::BenchAlgorithm::Dag(dag)) => {
            return super::bench_dag::bench_dag(args, dag);
        }
        Some(super::bench_dag::BenchAlgorithm::Pow(a)) => vec![a],
        None => vec![PowAlgorithm::Sha256d, PowAlgorithm::Scrypt],
    };
    let mut runs: Vec<Box<dyn otedama_miner::HashBackend>> = Vec::new();
    for &algorithm in &algorithms {
        match args.backend.as_str() {
            "cpu" => runs.push(Box::new(CpuBackend::new(algorithm))),
            "reference" => runs.push(Box::new(ReferenceBackend::new(algorithm))),
            name if name == "opencl" || name.starts_with("opencl:") => {
                let device = match name.strip_prefix("opencl:") {
                    Some(i) => i.parse().context("--backend opencl:<device index>")?,
                    None => 0,
                };
                runs.push(Box::new(
                    otedama_miner::OpenClBackend::new(
                        algorithm,
                        device,
                        otedama_miner::opencl::DEFAULT_INTENSITY,
                    )
                    .context("--backend")?,
                ));
            }
            name if name == "cuda" || name.starts_with("cuda:") => {
                let device = match name.strip_prefix("cuda:") {
                    Some(i) => i.parse().context("--backend cuda:<device index>")?,
                    None => 0,
                };
                runs.push(Box::new(
                    otedama_miner::CudaBackend::new(
                        algorithm,
                        device,
                        otedama_miner::cuda::DEFAULT_INTENSITY,
                    )
                    .context("--backend")?,
                ));
            }
            "all" => {
                runs.push(Box::new(ReferenceBackend::new(algorithm)));
                for kernel in CpuKernel::supported(algorithm) {
                    runs.push(Box::new(
                        CpuBackend::with_kernel(algorithm, kernel).context("--backend")?,
                    ));
                }
            }
            name => {
                let kernel: CpuKernel = name.parse().context("--backend")?;
                runs.push(Box::new(
                    CpuBackend::with_kernel(algorithm, kernel).context("--backend")?,
                ));
            }
        }
    }
    let duration = std::time::Duration::from_secs_f64(args.seconds);
    if !args.json {
        println!(
            "{:<9} {:<13} {:>5} {:>7} {:>14} {:>14}",
            "ALGORITHM", "BACKEND", "LANES", "THREADS", "HASHRATE", "PER THREAD"
        );
    }
    for backend in runs {
        let algorithm = backend.algorithm();
        let r = otedama_miner::measure_hashrate(backend.as_ref(), args.threads, duration)
            .context("running the benchmark")?;
        let kernel = backend.name().parse::<CpuKernel>().ok();
        let row = BenchRow {
            algorithm: algorithm.to_string(),
            backend: backend.name().to_owned(),
            kernel: kernel.map_or("-", CpuKernel::name),
            lanes: kernel.map_or(1, |k| k.lanes(algorithm)),
            threads: r.threads,
            seconds: r.elapsed.as_secs_f64(),
            hashes: r.hashes,
            hashes_per_second: r.hashrate(),
            per_thread: r.per_thread(),
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&row).context("encoding the result")?
            );
        } else {
            println!(
                "{:<9} {:<13} {:>5} {:>7} {:>14} {:>14}",
                row.algorithm,
                row.backend,
                row.lanes,
                row.threads,
                si_rate(row.hashes_per_second),
                si_rate(row.per_thread)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
