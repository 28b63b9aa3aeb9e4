//! The CPU backend: the default and the reference for every other backend.

use crate::backend::{HashBackend, ScanResult};
use crate::error::MinerError;
use crate::kernel::CpuKernel;
use crate::simd::Isa;
use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// Hashes on the CPU, one nonce range per call; one backend serves every hashing thread.
///
/// The kernel (portable, AVX2, AVX-512, SHA extensions) is chosen when the backend is
/// built, from the instructions the running CPU reports.
#[derive(Debug, Clone, Copy)]
pub struct CpuBackend {
    algorithm: PowAlgorithm,
    /// The kernel, with the proof that this CPU runs it.
    isa: Isa,
}

impl CpuBackend {
    /// Returns a CPU backend for `algorithm` with the fastest kernel this CPU supports.
    pub fn new(algorithm: PowAlgorithm) -> Self {
        Self {
            algorithm,
            isa: CpuKernel::best_checked(algorithm),
        }
    }

    /// Returns a CPU backend for `algorithm` that uses `kernel`.
    ///
    /// # Errors
    /// [`MinerError::KernelUnsupported`] when the running CPU lacks the kernel's
    /// instructions or the kernel does not hash `algorithm`.
    pub fn with_kernel(algorithm: PowAlgorithm, kernel: CpuKernel) -> Result<Self, MinerError> {
        let isa = kernel
            .check(algorithm)
            .ok_or(MinerError::KernelUnsupported { kernel, algorithm })?;
        Ok(Self { algorithm, isa })
    }

    /// Returns the kernel this backend runs.
    pub fn kernel(&self) -> CpuKernel {
        self.isa.kernel()
    }
}

impl HashBackend for CpuBackend {
    fn name(&self) -> &str {
        self.isa.kernel().backend_name()
    }

    fn algorithm(&self) -> PowAlgorithm {
        self.algorithm
    }

    fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        match self.algorithm {
            PowAlgorithm::Sha256d => crate::sha256::scan(self.isa, header, nonces, target, stop),
            PowAlgorithm::Scrypt => crate::scrypt::scan(self.isa, header, nonces, target, stop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        bitcoin_genesis, litecoin_genesis, one_in, pseudo_header, reference,
    };

    /// Scans `nonces` and checks the result against `PowAlgorithm::hash` nonce by nonce:
    /// no candidate missed, no false candidate.
    fn agrees_with_reference(algo: PowAlgorithm, header: &[u8; 80], nonces: Range<u32>, t: Target) {
        let stop = AtomicBool::new(false);
        let r = CpuBackend::new(algo).scan(header, nonces.clone(), &t, &stop);
        assert_eq!(r.hashes, u64::from(nonces.end - nonces.start));
        let expected = reference(algo, header, nonces, &t);
        assert!(!expected.is_empty(), "target too hard for the test range");
        assert_eq!(r.found, expected);
    }

    #[test]
    fn sha256d_scan_matches_reference() {
        agrees_with_reference(
            PowAlgorithm::Sha256d,
            &pseudo_header(1),
            0..20_000,
            one_in(256),
        );
        // A range far from zero, and a target whose top 32 bits are all ones.
        agrees_with_reference(
            PowAlgorithm::Sha256d,
            &pseudo_header(2),
            u32::MAX - 5000..u32::MAX,
            one_in(2),
        );
    }

    #[test]
    fn scrypt_scan_matches_reference() {
        agrees_with_reference(
            PowAlgorithm::Scrypt,
            &pseudo_header(3),
            1000..1400,
            one_in(16),
        );
    }

    /// The midstate path reproduces sha256d exactly (not only the target decision).
    #[test]
    fn sha256d_every_hash_is_met_by_max_target() {
        let stop = AtomicBool::new(false);
        let r = CpuBackend::new(PowAlgorithm::Sha256d).scan(
            &pseudo_header(4),
            0..64,
            &Target::MAX,
            &stop,
        );
        assert_eq!(r.found, (0..64).collect::<Vec<_>>());
    }

    /// Bitcoin mainnet block 0: the nonce is found at the real target in a range around it.
    #[test]
    fn finds_bitcoin_genesis_nonce() {
        let (header, target, nonce) = bitcoin_genesis();
        let stop = AtomicBool::new(false);
        let r = CpuBackend::new(PowAlgorithm::Sha256d).scan(
            &header,
            nonce - 3000..nonce + 3000,
            &target,
            &stop,
        );
        assert_eq!(r.found, vec![nonce]);
    }

    /// Litecoin mainnet block 0: the scrypt nonce is found at the real target.
    #[test]
    fn finds_litecoin_genesis_nonce() {
        let (header, target, nonce) = litecoin_genesis();
        let stop = AtomicBool::new(false);
        let r = CpuBackend::new(PowAlgorithm::Scrypt).scan(
            &header,
            nonce - 40..nonce + 40,
            &target,
            &stop,
        );
        assert_eq!(r.found, vec![nonce]);
    }

    #[test]
    fn stop_flag_ends_scan_early() {
        let stop = AtomicBool::new(true);
        for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            let r =
                CpuBackend::new(algo).scan(&pseudo_header(5), 0..1_000_000, &Target::MAX, &stop);
            assert_eq!(r.hashes, 0, "{algo}");
        }
    }

    /// Every kernel the CPU supports can be forced, names itself after its kernel, and
    /// hashes like the default backend; unsupported combinations are refused.
    #[test]
    fn forced_kernels() {
        let stop = AtomicBool::new(false);
        let target = one_in(4);
        for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            let best = CpuBackend::new(algo);
            assert!(CpuKernel::supported(algo).contains(&best.kernel()));
            let expected = best.scan(&pseudo_header(6), 100..164, &target, &stop);
            assert!(!expected.found.is_empty());
            for kernel in CpuKernel::ALL {
                match CpuBackend::with_kernel(algo, kernel) {
                    Ok(b) => {
                        assert!(kernel.is_supported(algo));
                        assert_eq!(b.name(), kernel.backend_name());
                        assert_eq!(b.name().parse::<CpuKernel>().ok(), Some(kernel));
                        let r = b.scan(&pseudo_header(6), 100..164, &target, &stop);
                        assert_eq!(r, expected, "{kernel}");
                    }
                    Err(MinerError::KernelUnsupported { .. }) => {
                        assert!(!kernel.is_supported(algo), "{kernel}");
                    }
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
        }
        assert!(!CpuKernel::ShaNi.is_supported(PowAlgorithm::Scrypt));
        assert!(CpuKernel::Portable.is_supported(PowAlgorithm::Scrypt));
        assert!("cpu-gpu".parse::<CpuKernel>().is_err());
    }
}
