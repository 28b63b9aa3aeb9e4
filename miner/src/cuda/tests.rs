//! CUDA backend tests, in three groups:
//!
//! - NVRTC: both kernels compile to PTX, and to device code for each GPU architecture
//!   from sm_70 to sm_90. Needs `libnvrtc.so.12` on the loader's path
//!   (no GPU, no driver); without it they print "skipped: libnvrtc not found", unless
//!   `OTEDAMA_REQUIRE_NVRTC=1` makes its absence a failure.
//! - No driver: where `libcuda` is missing, every entry point returns "CUDA unavailable"
//!   instead of panicking.
//! - GPU: where a CUDA device is present, the kernels' candidates equal the CPU
//!   reference's; elsewhere they print "skipped: no CUDA device".

use super::backend::batch_size;
use super::compile::compile_source;
use super::load::{driver_present, nvrtc_present};
use super::*;
use crate::backend::{HashBackend, ScanResult};
use crate::gpu::job_words;
use crate::gpu::test_support;
use crate::test_support::{bitcoin_genesis, litecoin_genesis, one_in, pseudo_header};
use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// Set to `1` to fail, instead of skip, the NVRTC tests when `libnvrtc` is missing.
const REQUIRE_NVRTC: &str = "OTEDAMA_REQUIRE_NVRTC";
/// Set in the child process of [`missing_nvrtc_is_an_error_not_a_panic`].
const CHILD_ENV: &str = "OTEDAMA_CUDA_NO_NVRTC_CHILD";

/// Returns whether NVRTC is there; otherwise says the test is skipped, or fails it when
/// [`REQUIRE_NVRTC`] is set.
fn nvrtc_or_skip(test: &str) -> bool {
    if nvrtc_present() {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRE_NVRTC).is_none_or(|v| v != "1"),
        "{REQUIRE_NVRTC}=1 but libnvrtc.so.12 cannot be loaded: put the folder holding it \
         (a CUDA 12 toolkit's lib64, or the lib folder of the nvidia-cuda-nvrtc-cu12 wheel) \
         on LD_LIBRARY_PATH"
    );
    println!("{test}: skipped: libnvrtc not found");
    false
}

/// A backend on device 0, or `None` (with a "skipped" line) without a CUDA device.
fn gpu_backend(test: &str, algo: PowAlgorithm, intensity: u32) -> Option<CudaBackend> {
    if !is_available() {
        let why = if nvrtc_present() {
            ""
        } else {
            " (or no libnvrtc)"
        };
        println!("{test}: skipped: no CUDA device{why}");
        return None;
    }
    match CudaBackend::new(algo, 0, intensity) {
        Ok(b) => Some(b),
        Err(e) => panic!("a CUDA device is present but the backend failed: {e}"),
    }
}

/// Scans `nonces` with `b` and checks the result against the CPU reference.
fn agrees_with_reference(b: &CudaBackend, header: &[u8; 80], nonces: Range<u32>, t: Target) {
    test_support::agrees_with_reference(b, || b.rejects(), header, nonces, t);
}

// --- NVRTC: compile only -------------------------------------------------------------

#[test]
fn kernels_compile_to_ptx() {
    if !nvrtc_or_skip("kernels_compile_to_ptx") {
        return;
    }
    for (algo, entry) in [
        (PowAlgorithm::Sha256d, "sha256d_scan"),
        (PowAlgorithm::Scrypt, "scrypt_scan"),
    ] {
        let ptx = compile_kernels(algo).unwrap_or_else(|e| panic!("{algo}: {e}"));
        assert!(
            ptx.contains(&format!(".visible .entry {entry}(")),
            "{algo}: no entry point {entry} in the PTX"
        );
        // The unrolled arrays live in registers: no thread-local memory.
        assert!(
            !ptx.contains(".local"),
            "{algo}: the kernel uses local memory"
        );
        println!("{algo}: compiled, {} bytes of PTX", ptx.len());
    }
}

/// Device code for the architectures of the GPUs miners run, from Volta to Hopper: an
/// ELF image holding each kernel's entry point.
#[test]
fn kernels_compile_to_device_code() {
    if !nvrtc_or_skip("kernels_compile_to_device_code") {
        return;
    }
    for capability in [(7, 0), (7, 5), (8, 0), (8, 6), (8, 9), (9, 0)] {
        for (algo, entry) in [
            (PowAlgorithm::Sha256d, "sha256d_scan"),
            (PowAlgorithm::Scrypt, "scrypt_scan"),
        ] {
            let image = compile_kernels_for(algo, capability)
                .unwrap_or_else(|e| panic!("{algo} for {capability:?}: {e}"));
            assert_eq!(
                &image[..4],
                b"\x7fELF",
                "{algo} for {capability:?}: not an ELF image"
            );
            assert!(
                image.windows(entry.len()).any(|w| w == entry.as_bytes()),
                "{algo} for {capability:?}: no symbol {entry}"
            );
        }
    }
}

/// The Ethash kernels and KawPow's kernels of two periods compile to PTX with their
/// entry points, and to device code for Volta, Ampere and Hopper.
#[test]
fn dag_kernels_compile() {
    if !nvrtc_or_skip("dag_kernels_compile") {
        return;
    }
    let kernels = [
        (DagKernel::Ethash, &["ethash_dag", "ethash_search"][..]),
        (DagKernel::Kawpow { period: 0 }, &["kawpow_search"][..]),
        (DagKernel::Kawpow { period: 56_971 }, &["kawpow_search"][..]),
    ];
    for (kernel, entries) in kernels {
        let ptx = compile_dag_kernel(kernel).unwrap_or_else(|e| panic!("{kernel:?}: {e}"));
        for entry in entries {
            assert!(
                ptx.contains(&format!(".visible .entry {entry}(")),
                "{kernel:?}: no entry point {entry} in the PTX"
            );
        }
        for capability in [(7, 0), (8, 0), (9, 0)] {
            let image = compile_dag_kernel_for(kernel, capability)
                .unwrap_or_else(|e| panic!("{kernel:?} for {capability:?}: {e}"));
            assert_eq!(&image[..4], b"\x7fELF", "{kernel:?} for {capability:?}");
        }
    }
    assert_ne!(
        dag_kernel_source(DagKernel::Kawpow { period: 0 }),
        dag_kernel_source(DagKernel::Kawpow { period: 1 })
    );
}

#[test]
fn an_unknown_architecture_is_a_compile_error() {
    if !nvrtc_or_skip("an_unknown_architecture_is_a_compile_error") {
        return;
    }
    let err = compile_kernels_for(PowAlgorithm::Sha256d, (1, 0)).expect_err("no sm_10");
    assert!(matches!(err, CudaError::Compile { .. }), "{err}");
    assert!(
        err.to_string().contains("sm_10") || err.to_string().contains("architecture"),
        "{err}"
    );
}

#[test]
fn compile_errors_carry_the_log() {
    if !nvrtc_or_skip("compile_errors_carry_the_log") {
        return;
    }
    let err = compile_source(
        "sha256d",
        "extern \"C\" __global__ void broken() { undeclared_name = 1; }",
        "broken.cu",
    )
    .expect_err("the source does not compile");
    assert!(matches!(err, CudaError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("undeclared_name"), "{err}");
}

/// Without `libnvrtc` on the loader's path, compiling is an error, not a panic. Checked
/// in a child process whose `LD_LIBRARY_PATH` is cleared (the loader reads it at start).
#[test]
fn missing_nvrtc_is_an_error_not_a_panic() {
    if std::env::var_os(CHILD_ENV).is_some() {
        if nvrtc_present() {
            // Found without LD_LIBRARY_PATH: installed system-wide.
            println!("missing_nvrtc_is_an_error_not_a_panic: skipped: libnvrtc is installed");
            return;
        }
        for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            let err = compile_kernels(algo).expect_err("no libnvrtc");
            assert!(matches!(err, CudaError::NvrtcUnavailable), "{err}");
            assert!(err.to_string().starts_with("CUDA unavailable: "), "{err}");
            assert!(err.is_unavailable());
        }
        assert!(!is_available());
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "cuda::tests::missing_nvrtc_is_an_error_not_a_panic",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env_remove("LD_LIBRARY_PATH")
        .env_remove(REQUIRE_NVRTC)
        .output()
        .expect("running the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
}

// --- No driver ------------------------------------------------------------------------

#[test]
fn missing_driver_is_an_error_not_a_panic() {
    if driver_present() {
        println!("missing_driver_is_an_error_not_a_panic: skipped: libcuda is installed");
        return;
    }
    let err = devices().expect_err("no libcuda");
    assert!(matches!(err, CudaError::DriverUnavailable), "{err}");
    assert!(err.to_string().starts_with("CUDA unavailable: "), "{err}");
    for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
        let err = CudaBackend::new(algo, 0, DEFAULT_INTENSITY).expect_err("no libcuda");
        assert!(matches!(err, CudaError::DriverUnavailable), "{err}");
        assert!(err.is_unavailable());
    }
    let err = CudaEthash::new(0, tiny_cache(1), 8).expect_err("no libcuda");
    assert!(matches!(err, CudaError::DriverUnavailable), "{err}");
    let ctx = otedama_sharechain::ethash::kawpow::KawpowContext::from_cache(tiny_cache(1));
    let err = CudaKawpow::new(0, ctx, 8).expect_err("no libcuda");
    assert!(matches!(err, CudaError::DriverUnavailable), "{err}");
    assert!(!is_available());
}

// --- Host-side pieces -----------------------------------------------------------------

#[test]
fn batch_follows_intensity_and_scrypt_memory() {
    assert_eq!(batch_size(PowAlgorithm::Sha256d, 2, 0), 256);
    assert_eq!(batch_size(PowAlgorithm::Sha256d, 22, 0), 1 << 22);
    assert_eq!(batch_size(PowAlgorithm::Sha256d, 40, 0), 1 << 31);
    // Half the free memory, in 128 KiB scratchpads, up to 4 GiB.
    assert_eq!(batch_size(PowAlgorithm::Scrypt, 20, 1 << 30), 4096);
    assert_eq!(batch_size(PowAlgorithm::Scrypt, 10, 1 << 30), 1024);
    assert_eq!(batch_size(PowAlgorithm::Scrypt, 20, 80 << 30), 32768);
    assert_eq!(batch_size(PowAlgorithm::Scrypt, 20, 0), 1);
}

#[test]
fn job_words_follow_the_kernel_layouts() {
    let header = pseudo_header(9);
    let target = one_in(1000);
    let top = (target.to_u256().as_limbs()[3] >> 32) as u32;
    let be = |i: usize| u32::from_be_bytes(header[4 * i..4 * i + 4].try_into().expect("4"));

    let words = job_words(PowAlgorithm::Scrypt, &header, &target);
    for (i, w) in words.iter().take(19).enumerate() {
        assert_eq!(*w, be(i));
    }
    assert_eq!(words[19], top);

    let words = job_words(PowAlgorithm::Sha256d, &header, &target);
    assert_eq!(&words[8..11], &[be(16), be(17), be(18)]);
    assert_eq!(words[11], top);
    assert_eq!(&words[12..], &[0; 8]);
}

// --- GPU ------------------------------------------------------------------------------

#[test]
fn discovery_lists_devices() {
    if !is_available() {
        println!("discovery_lists_devices: skipped: no CUDA device");
        return;
    }
    let devices = devices().expect("CUDA devices");
    assert!(!devices.is_empty());
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d.index, i);
        assert!(!d.name.is_empty());
        assert!(d.total_mem > 0);
        assert!(d.compute_capability.0 >= 3, "{d:?}");
        assert!(d.multiprocessors > 0);
    }
    let err = CudaBackend::new(PowAlgorithm::Sha256d, devices.len(), 8).expect_err("no device");
    assert!(matches!(err, CudaError::NoDevice { .. }), "{err}");
}

#[test]
fn intensity_is_clamped() {
    let Some(b) = gpu_backend("intensity_is_clamped", PowAlgorithm::Sha256d, 2) else {
        return;
    };
    assert_eq!(b.batch_size(), 256);
    assert_eq!(b.name(), "cuda:0");
    assert!(!b.device_name().is_empty());
}

#[test]
fn sha256d_matches_reference() {
    // Intensity 10: the ranges span several launches, one of them partial.
    let Some(b) = gpu_backend("sha256d_matches_reference", PowAlgorithm::Sha256d, 10) else {
        return;
    };
    agrees_with_reference(&b, &pseudo_header(1), 0..20_000, one_in(256));
    agrees_with_reference(&b, &pseudo_header(5), 123_457..140_001, one_in(1000));
    // Far from zero, and a target whose top 32 bits are all ones.
    agrees_with_reference(&b, &pseudo_header(2), u32::MAX - 5000..u32::MAX, one_in(2));
    // A CPU backend scanning the same range finds the same nonces.
    let cpu = crate::CpuBackend::new(PowAlgorithm::Sha256d);
    let stop = AtomicBool::new(false);
    let (header, t) = (pseudo_header(7), one_in(500));
    assert_eq!(
        b.scan(&header, 0..30_000, &t, &stop).found,
        cpu.scan(&header, 0..30_000, &t, &stop).found
    );
}

/// Every nonce reported: more than the output buffer holds, so launches are re-run in
/// slices.
#[test]
fn sha256d_max_target_overflows_output_buffer() {
    let Some(b) = gpu_backend(
        "sha256d_max_target_overflows_output_buffer",
        PowAlgorithm::Sha256d,
        14,
    ) else {
        return;
    };
    let stop = AtomicBool::new(false);
    let r = b.scan(&pseudo_header(4), 0..10_000, &Target::MAX, &stop);
    assert_eq!(r.found, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn finds_bitcoin_genesis_nonce() {
    let Some(b) = gpu_backend("finds_bitcoin_genesis_nonce", PowAlgorithm::Sha256d, 16) else {
        return;
    };
    let (header, target, nonce) = bitcoin_genesis();
    let stop = AtomicBool::new(false);
    let r = b.scan(&header, nonce - 300_000..nonce + 300_000, &target, &stop);
    assert_eq!(r.found, vec![nonce]);
    assert_eq!(r.hashes, 600_000);
    assert_eq!(b.rejects(), CudaRejects::default());
}

#[test]
fn scrypt_matches_reference() {
    let Some(b) = gpu_backend("scrypt_matches_reference", PowAlgorithm::Scrypt, 8) else {
        return;
    };
    agrees_with_reference(&b, &pseudo_header(3), 1000..1400, one_in(16));
    let cpu = crate::CpuBackend::new(PowAlgorithm::Scrypt);
    let stop = AtomicBool::new(false);
    let (header, t) = (pseudo_header(8), one_in(32));
    assert_eq!(
        b.scan(&header, 5000..5600, &t, &stop).found,
        cpu.scan(&header, 5000..5600, &t, &stop).found
    );
}

#[test]
fn finds_litecoin_genesis_nonce() {
    let Some(b) = gpu_backend("finds_litecoin_genesis_nonce", PowAlgorithm::Scrypt, 8) else {
        return;
    };
    let (header, target, nonce) = litecoin_genesis();
    let stop = AtomicBool::new(false);
    let r = b.scan(&header, nonce - 1000..nonce + 1000, &target, &stop);
    assert_eq!(r.found, vec![nonce]);
    assert_eq!(b.rejects().hardware_errors, 0);
}

#[test]
fn stop_flag_ends_scan_early() {
    let Some(b) = gpu_backend("stop_flag_ends_scan_early", PowAlgorithm::Sha256d, 8) else {
        return;
    };
    let stop = AtomicBool::new(true);
    let r = b.scan(&pseudo_header(6), 0..1_000_000, &Target::MAX, &stop);
    assert_eq!(r, ScanResult::default());
}

// --- GPU: Ethash and KawPow against the CPU implementation ---------------------------

/// A tiny dataset: 101 cache items, 2 062 dataset items (over KawPow's 16 KiB L1).
fn tiny_cache(seed: u8) -> otedama_sharechain::ethash::LightCache {
    otedama_sharechain::ethash::LightCache::with_sizes(&[seed; 32], 64 * 101, 128 * 1031)
        .expect("sizes")
}

fn cuda_or_skip(test: &str) -> bool {
    if is_available() {
        return true;
    }
    println!("{test}: skipped: no CUDA device");
    false
}

#[test]
fn ethash_matches_the_cpu_on_a_tiny_dataset() {
    if !cuda_or_skip("ethash_matches_the_cpu_on_a_tiny_dataset") {
        return;
    }
    let cache = tiny_cache(9);
    let full = otedama_sharechain::ethash::Dataset::generate(&cache);
    let dev = CudaEthash::new(0, cache, 8).expect("a CUDA device is present");
    let n = full.items().len() as u32;
    assert_eq!(dev.dataset_items(0, n).expect("items"), full.items());
    dev.generate_dag().expect("DAG");
    let header = [0x5a; 32];
    let mut boundary = [0xff; 32];
    boundary[0] = 0x0f;
    let nonces = (1u64 << 32) - 300..(1u64 << 32) + 300;
    let expected: Vec<_> = nonces
        .clone()
        .filter_map(|nonce| {
            let h = full.hash(&header, nonce);
            (h.result <= boundary).then_some((nonce, h.mix, h.result))
        })
        .collect();
    let stop = AtomicBool::new(false);
    let (found, hashed) = dev
        .search(&header, nonces, &boundary, &stop)
        .expect("search");
    assert_eq!(hashed, 600);
    let found: Vec<_> = found.iter().map(|s| (s.nonce, s.mix, s.result)).collect();
    assert_eq!(found, expected);
    assert_eq!(dev.hardware_errors(), 0);
}

#[test]
fn kawpow_matches_the_cpu_over_two_periods() {
    if !cuda_or_skip("kawpow_matches_the_cpu_over_two_periods") {
        return;
    }
    let ctx = otedama_sharechain::ethash::kawpow::KawpowContext::from_cache(tiny_cache(3));
    let cpu = ctx.clone();
    let dev = CudaKawpow::new(0, ctx, 8).expect("a CUDA device is present");
    dev.generate_dag().expect("DAG");
    let header = [0x42; 32];
    let stop = AtomicBool::new(false);
    for block in [10u64, 13] {
        let (found, _) = dev
            .search(block, &header, 7_000..7_006, &[0xff; 32], &stop)
            .expect("search");
        let found: Vec<_> = found.iter().map(|s| (s.nonce, s.mix, s.result)).collect();
        let expected: Vec<_> = (7_000..7_006u64)
            .map(|nonce| {
                let h = cpu.hash(block, &header, nonce);
                (nonce, h.mix, h.result)
            })
            .collect();
        assert_eq!(found, expected, "block {block}");
    }
    assert_eq!(dev.hardware_errors(), 0);
}
