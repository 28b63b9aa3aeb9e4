//! OpenCL backend tests. They run real kernels (PoCL's CPU device in CI) and fail when no
//! OpenCL device is found, unless `OTEDAMA_SKIP_OPENCL_TESTS=1` is set.

use super::*;
use otedama_sharechain::{CompactTarget, Work};

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

fn header_of(hex_str: &str) -> [u8; 80] {
    hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("80 bytes")
}

fn pseudo_header(seed: u8) -> [u8; 80] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
}

fn one_in(n: u128) -> Target {
    Target::from_work(Work::from_u128(n))
}

/// The nonces of `nonces` whose reference hash meets `t`.
fn reference(algo: PowAlgorithm, header: &[u8; 80], nonces: Range<u32>, t: &Target) -> Vec<u32> {
    let mut h = *header;
    nonces
        .filter(|n| {
            h[76..80].copy_from_slice(&n.to_le_bytes());
            t.is_met_by(&algo.hash(&h))
        })
        .collect()
}

fn agrees_with_reference(b: &OpenClBackend, header: &[u8; 80], nonces: Range<u32>, t: Target) {
    let stop = AtomicBool::new(false);
    let r = b.scan(header, nonces.clone(), &t, &stop);
    assert_eq!(r.hashes, u64::from(nonces.end - nonces.start));
    let expected = reference(b.algorithm(), header, nonces, &t);
    assert!(!expected.is_empty(), "target too hard for the test range");
    assert_eq!(r.found, expected);
    assert_eq!(
        b.rejects().hardware_errors,
        0,
        "the device reported wrong nonces"
    );
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
    let header = header_of(concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
        "29ab5f49",
        "ffff001d",
        "00000000"
    ));
    let target = Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff)).expect("bits");
    let stop = AtomicBool::new(false);
    let nonce = 0x7c2b_ac1d;
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
    let header = header_of(concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97",
        "b9aa8e4e",
        "f0ff0f1e",
        "00000000"
    ));
    let target = Target::from_compact(CompactTarget::from_consensus(0x1e0f_fff0)).expect("bits");
    let stop = AtomicBool::new(false);
    let nonce = 0x7c3f_51cd;
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
