//! `bench`: the built-in miner's hash rate per algorithm and backend.

use super::BenchArgs;
use super::args::BenchAlgorithm;
use anyhow::Context as _;
use serde::Serialize;
use std::io::Write as _;
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
    if args.report_seconds.is_some() && !matches!(args.algo, Some(BenchAlgorithm::RandomX)) {
        anyhow::bail!("--report-seconds is for --algo randomx");
    }
    let algorithms = match args.algo {
        Some(BenchAlgorithm::RandomX) => return bench_randomx(args),
        Some(BenchAlgorithm::Dag(dag)) => return super::bench_dag::bench_dag(args, dag),
        Some(BenchAlgorithm::Pow(a)) => vec![a],
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

/// One row of `bench --algo randomx --json`.
#[derive(Serialize)]
struct RandomxRow {
    algorithm: &'static str,
    mode: &'static str,
    pages: &'static str,
    jit: bool,
    hard_aes: bool,
    secure_jit: bool,
    argon2: &'static str,
    vm: &'static str,
    /// Inputs each thread hashes at once (2: the compiled VM's pairs).
    hashes_per_thread: usize,
    threads: usize,
    init_threads: usize,
    dataset_init_seconds: Option<f64>,
    setup_seconds: f64,
    seconds: f64,
    hashes: u64,
    hashes_per_second: f64,
    per_thread: f64,
}

/// One `--report-seconds` line of the RandomX bench.
#[derive(Serialize)]
struct RandomxProgressRow {
    /// Wall-clock time of the count, seconds since the Unix epoch.
    unix_seconds: f64,
    /// Since the hashing threads started.
    elapsed_seconds: f64,
    /// Hashes so far.
    hashes: u64,
    /// Over the time since the previous line (or the start).
    hashes_per_second: f64,
    /// The pages of the dataset (fast) or cache (light).
    pages: &'static str,
}

/// Prints a count of the RandomX bench, and the rate since the one before (its elapsed
/// time and hashes).
fn print_progress(
    now: &otedama_miner::randomx::RandomxProgress,
    (last_elapsed, last_hashes): (std::time::Duration, u64),
    json: bool,
) {
    let seconds = now.elapsed.saturating_sub(last_elapsed).as_secs_f64();
    let rate = if seconds > 0.0 {
        now.hashes.saturating_sub(last_hashes) as f64 / seconds
    } else {
        0.0
    };
    let row = RandomxProgressRow {
        unix_seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        elapsed_seconds: now.elapsed.as_secs_f64(),
        hashes: now.hashes,
        hashes_per_second: rate,
        pages: now.pages.name(),
    };
    let line = if json {
        match serde_json::to_string(&row) {
            Ok(line) => line,
            Err(_) => return,
        }
    } else {
        format!(
            "after {:.1} s: {} hashes, {} over the last {seconds:.1} s",
            row.elapsed_seconds,
            row.hashes,
            si_rate(rate)
        )
    };
    // A reader that went away (`| head`) ends the reports, not the measurement.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `bench --algo randomx`: builds the context (cache, and the dataset in fast mode),
/// then hashes on the CPU.
fn bench_randomx(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    use otedama_miner::randomx::{self, RandomxOptions};
    if !matches!(args.backend.as_str(), "cpu" | "all") {
        anyhow::bail!("--backend: RandomX runs on the CPU only (cpu)");
    }
    let options = RandomxOptions {
        mode: args.randomx_mode,
        huge_pages: args.huge_pages,
        init_threads: args.init_threads,
        vm: args.randomx_vm,
        ..RandomxOptions::default()
    };
    let duration = std::time::Duration::from_secs_f64(args.seconds);
    let every = match args.report_seconds {
        Some(s) if s > 0.0 && s.is_finite() => Some(std::time::Duration::from_secs_f64(s)),
        Some(_) => anyhow::bail!("--report-seconds must be a positive number"),
        None => None,
    };
    let json = args.json;
    let mut last = (std::time::Duration::ZERO, 0);
    let mut report = |p: randomx::RandomxProgress| {
        print_progress(&p, last, json);
        last = (p.elapsed, p.hashes);
    };
    let progress = every.map(|e| (e, &mut report as &mut dyn FnMut(_)));
    let r = randomx::measure_randomx(&options, args.threads, duration, progress)
        .context("running the RandomX benchmark")?;
    let row = RandomxRow {
        algorithm: "randomx",
        mode: r.mode.name(),
        pages: r.pages.name(),
        jit: r.flags.jit(),
        hard_aes: r.flags.hard_aes(),
        secure_jit: r.flags.secure_jit(),
        argon2: r.flags.argon2(),
        vm: if r.compiled_vm { "compiled" } else { "library" },
        hashes_per_thread: r.hashes_per_thread,
        threads: r.threads,
        init_threads: r.init_threads,
        dataset_init_seconds: r.dataset_init.map(|d| d.as_secs_f64()),
        setup_seconds: r.setup.as_secs_f64(),
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
        return Ok(ExitCode::SUCCESS);
    }
    let init = match r.dataset_init {
        Some(d) => format!("{:.2} s on {} threads", d.as_secs_f64(), r.init_threads),
        None => "none (light mode)".to_owned(),
    };
    println!(
        "RandomX {} mode, pages {}, {}",
        row.mode, row.pages, r.flags
    );
    println!("dataset init: {init}; setup {:.2} s", row.setup_seconds);
    println!(
        "{:<9} {:<13} {:>5} {:>7} {:>14} {:>14}",
        "ALGORITHM", "BACKEND", "LANES", "THREADS", "HASHRATE", "PER THREAD"
    );
    println!(
        "{:<9} {:<13} {:>5} {:>7} {:>14} {:>14}",
        row.algorithm,
        format!("cpu-{}", row.mode),
        row.hashes_per_thread,
        row.threads,
        si_rate(row.hashes_per_second),
        si_rate(row.per_thread)
    );
    if !r.pages.reserved() && args.huge_pages == randomx::HugePages::Auto {
        println!(
            "note: no reserved huge pages ({} in use); {}",
            row.pages,
            randomx::huge_pages_hint(r.threads)
        );
    }
    Ok(ExitCode::SUCCESS)
}
