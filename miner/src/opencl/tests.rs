//! OpenCL backend tests. They run real kernels (PoCL's CPU device in CI) and fail when no
//! OpenCL device is found, unless `OTEDAMA_SKIP_OPENCL_TESTS=1` is set.

use super::*;
use crate::backend::{HashBackend, ScanResult};
use crate::gpu::test_support;
use crate::test_support::{bitcoin_genesis, litecoin_genesis, one_in, pseudo_header};
use otedama_sharechain::Target;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// Set in the child process of [`no_platform_is_an_error_not_a_panic`].
const CHILD_ENV: &str = "OTEDAMA_OPENCL_NO_PLATFORM_CHILD";

fn skip() -> bool {
    std::env::var_os("OTEDAMA_SKIP_OPENCL_TESTS").is_some_and(|v| v == "1")
}

fn backend(algo: PowAlgorithm, intensity: u32) -> Option<OpenClBackend> {
    if skip() {
        return None;
    }
    match OpenClBackend::new(algo, 0, intensity) {
        Ok(b) => Some(b),
        Err(e) => {
            panic!("no OpenCL device to test on ({e}); set OTEDAMA_SKIP_OPENCL_TESTS=1 to skip")
        }
    }
}

/// Scans `nonces` with `b` and checks the result against the CPU reference.
fn agrees_with_reference(b: &OpenClBackend, header: &[u8; 80], nonces: Range<u32>, t: Target) {
    test_support::agrees_with_reference(b, || b.rejects(), header, nonces, t);
}

#[test]
fn discovery_lists_a_device() {
    if skip() {
        return;
    }
    let devices = list_devices().expect("OpenCL devices");
    assert!(!devices.is_empty());
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d.index, i);
        assert!(!d.name.is_empty());
        assert!(d.compute_units > 0);
    }
    // PoCL's CPU device, where it is installed (CI and the dev image).
    if devices
        .iter()
        .any(|d| d.platform.contains("Portable Computing Language"))
    {
        assert!(devices.iter().any(|d| d.kind == "cpu"), "{devices:?}");
    }
    // A CPU device sits on no PCI card: it must not borrow a GPU's temperature sensor.
    for d in devices.iter().filter(|d| d.kind == "cpu") {
        assert_eq!(d.pci, None, "{d:?}");
    }
}

#[test]
fn device_index_out_of_range_is_an_error() {
    if skip() {
        return;
    }
    let err = OpenClBackend::new(PowAlgorithm::Sha256d, 10_000, 8).expect_err("no such device");
    assert!(matches!(err, MinerError::OpenClUnavailable(_)), "{err}");
    assert!(err.to_string().starts_with("OpenCL unavailable: "), "{err}");
}

#[test]
fn intensity_is_clamped() {
    let Some(b) = backend(PowAlgorithm::Sha256d, 2) else {
        return;
    };
    assert_eq!(b.batch_size(), 256);
    assert_eq!(b.name(), "opencl:0");
}

#[test]
fn sha256d_matches_reference() {
    // Intensity 10: the ranges span several enqueues, one of them partial.
    let Some(b) = backend(PowAlgorithm::Sha256d, 10) else {
        return;
    };
    agrees_with_reference(&b, &pseudo_header(1), 0..20_000, one_in(256));
    agrees_with_reference(&b, &pseudo_header(5), 123_457..140_001, one_in(1000));
    // Far from zero, and a target whose top 32 bits are all ones.
    agrees_with_reference(&b, &pseudo_header(2), u32::MAX - 5000..u32::MAX, one_in(2));
}

/// Every nonce reported: more than the output buffer holds, so batches are re-run in slices.
#[test]
fn sha256d_max_target_overflows_output_buffer() {
    let Some(b) = backend(PowAlgorithm::Sha256d, 14) else {
        return;
    };
    let stop = AtomicBool::new(false);
    let r = b.scan(&pseudo_header(4), 0..10_000, &Target::MAX, &stop);
    assert_eq!(r.found, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn finds_bitcoin_genesis_nonce() {
    let Some(b) = backend(PowAlgorithm::Sha256d, 12) else {
        return;
    };
    let (header, target, nonce) = bitcoin_genesis();
    let stop = AtomicBool::new(false);
    let r = b.scan(&header, nonce - 30_000..nonce + 30_000, &target, &stop);
    assert_eq!(r.found, vec![nonce]);
    assert_eq!(r.hashes, 60_000);
    assert_eq!(b.rejects(), OpenClRejects::default());
}

#[test]
fn scrypt_matches_reference() {
    let Some(b) = backend(PowAlgorithm::Scrypt, 8) else {
        return;
    };
    agrees_with_reference(&b, &pseudo_header(3), 1000..1400, one_in(16));
}

#[test]
fn finds_litecoin_genesis_nonce() {
    let Some(b) = backend(PowAlgorithm::Scrypt, 8) else {
        return;
    };
    let (header, target, nonce) = litecoin_genesis();
    let stop = AtomicBool::new(false);
    let r = b.scan(&header, nonce - 100..nonce + 100, &target, &stop);
    assert_eq!(r.found, vec![nonce]);
    assert_eq!(b.rejects().hardware_errors, 0);
}

#[test]
fn stop_flag_ends_scan_early() {
    let Some(b) = backend(PowAlgorithm::Sha256d, 8) else {
        return;
    };
    let stop = AtomicBool::new(true);
    let r = b.scan(&pseudo_header(6), 0..1_000_000, &Target::MAX, &stop);
    assert_eq!(r, ScanResult::default());
}

/// Without any OpenCL platform (`OCL_ICD_VENDORS` pointing nowhere), discovery and `new`
/// return "OpenCL unavailable" errors; checked in a child process so the loader starts
/// fresh.
#[test]
fn no_platform_is_an_error_not_a_panic() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let err = list_devices().expect_err("no platform");
        assert!(matches!(err, MinerError::OpenClUnavailable(_)), "{err}");
        for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            let err = OpenClBackend::new(algo, 0, 20).expect_err("no platform");
            assert!(err.to_string().starts_with("OpenCL unavailable: "), "{err}");
        }
        let cache = otedama_sharechain::ethash::LightCache::with_sizes(&[1; 32], 64 * 7, 128 * 9)
            .expect("sizes");
        let err = OpenClEthash::new(0, cache, 8).expect_err("no platform");
        assert!(matches!(err, MinerError::OpenClUnavailable(_)), "{err}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "opencl::tests::no_platform_is_an_error_not_a_panic",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("OCL_ICD_VENDORS", "/nonexistent")
        .env_remove("OCL_ICD_FILENAMES")
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
