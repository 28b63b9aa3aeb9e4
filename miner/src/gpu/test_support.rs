//! Helpers of the CUDA and OpenCL backend tests: the comparison of a scan with the CPU
//! reference.

use super::GpuRejects;
use crate::backend::HashBackend;
use crate::test_support::reference;
use otedama_sharechain::Target;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// Scans `nonces` with `b` and checks that it hashed them all, found exactly the
/// reference's nonces (at least one) and that `rejects` counts no wrong report.
pub(crate) fn agrees_with_reference(
    b: &dyn HashBackend,
    rejects: impl Fn() -> GpuRejects,
    header: &[u8; 80],
    nonces: Range<u32>,
    t: Target,
) {
    let stop = AtomicBool::new(false);
    let r = b.scan(header, nonces.clone(), &t, &stop);
    assert_eq!(r.hashes, u64::from(nonces.end - nonces.start));
    let expected = reference(b.algorithm(), header, nonces, &t);
    assert!(!expected.is_empty(), "target too hard for the test range");
    assert_eq!(r.found, expected);
    assert_eq!(
        rejects().hardware_errors,
        0,
        "the device reported wrong nonces"
    );
}
