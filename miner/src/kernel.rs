//! CPU kernels: which instruction set the hashing loop uses, detected at run time.

use crate::simd::Isa;
use otedama_sharechain::PowAlgorithm;
use std::fmt;
use std::str::FromStr;

/// An implementation of the CPU hashing loop. [`CpuKernel::best`] picks the fastest one
/// the running CPU supports; the others stay selectable for benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuKernel {
    /// Plain Rust, one hash at a time; runs on every CPU.
    Portable,
    /// x86-64 AVX2: sha256d eight nonces per vector; scrypt two hashes per vector,
    /// several vectors interleaved.
    Avx2,
    /// x86-64 AVX-512F with AVX-512VL on 256-bit vectors: sha256d eight nonces per
    /// vector, scrypt two hashes per vector, with one-instruction rotates. Slower than
    /// [`CpuKernel::Avx512`] even on Zen 4, which executes 512-bit operations in two
    /// halves; kept for comparison and for CPUs that slow down on 512-bit operations.
    Avx512Vl,
    /// x86-64 AVX-512F: sha256d sixteen nonces per vector; scrypt four hashes per vector.
    Avx512,
    /// x86-64 SHA extensions, four nonces interleaved (sha256d only).
    ShaNi,
}

impl CpuKernel {
    /// Every kernel.
    pub const ALL: [CpuKernel; 5] = [
        CpuKernel::Portable,
        CpuKernel::Avx2,
        CpuKernel::Avx512Vl,
        CpuKernel::ShaNi,
        CpuKernel::Avx512,
    ];

    /// Returns the kernel's short name, as accepted by [`CpuKernel::from_str`].
    pub const fn name(self) -> &'static str {
        match self {
            CpuKernel::Portable => "portable",
            CpuKernel::Avx2 => "avx2",
            CpuKernel::Avx512Vl => "avx512vl",
            CpuKernel::Avx512 => "avx512",
            CpuKernel::ShaNi => "sha-ni",
        }
    }

    /// Returns the backend name of a CPU backend using this kernel ("cpu-avx512", ...).
    pub const fn backend_name(self) -> &'static str {
        match self {
            CpuKernel::Portable => "cpu-portable",
            CpuKernel::Avx2 => "cpu-avx2",
            CpuKernel::Avx512Vl => "cpu-avx512vl",
            CpuKernel::Avx512 => "cpu-avx512",
            CpuKernel::ShaNi => "cpu-sha-ni",
        }
    }

    /// Returns how many hashes the kernel computes side by side for `algorithm`.
    pub const fn lanes(self, algorithm: PowAlgorithm) -> usize {
        match algorithm {
            PowAlgorithm::Sha256d => crate::sha256::lanes(self),
            PowAlgorithm::Scrypt => crate::scrypt::lanes(self),
        }
    }

    /// Returns this kernel with the proof of its features when it hashes `algorithm` on
    /// the running CPU (the SHA extensions have no scrypt kernel).
    pub(crate) fn check(self, algorithm: PowAlgorithm) -> Option<Isa> {
        if self == CpuKernel::ShaNi && algorithm == PowAlgorithm::Scrypt {
            return None;
        }
        Isa::detect(self)
    }

    /// Returns whether this kernel hashes `algorithm` on the running CPU.
    pub fn is_supported(self, algorithm: PowAlgorithm) -> bool {
        self.check(algorithm).is_some()
    }

    /// Returns the kernels that hash `algorithm` on the running CPU.
    pub fn supported(algorithm: PowAlgorithm) -> Vec<CpuKernel> {
        Self::ALL
            .into_iter()
            .filter(|k| k.is_supported(algorithm))
            .collect()
    }

    /// Returns the fastest kernel for `algorithm` on the running CPU.
    ///
    /// The order is the one measured on AMD Zen 4 (`docs/benchmarks.md`), which executes
    /// 512-bit operations in two halves: sha256d AVX-512 33.6 MH/s per thread, SHA
    /// extensions 29.7, AVX-512VL 27, AVX2 16; scrypt AVX-512 32 kH/s, AVX-512VL 29,
    /// AVX2 23. CPUs with full-width 512-bit units only widen the AVX-512 lead.
    pub fn best(algorithm: PowAlgorithm) -> CpuKernel {
        Self::best_checked(algorithm).kernel()
    }

    /// Returns [`CpuKernel::best`] with the proof of its features.
    pub(crate) fn best_checked(algorithm: PowAlgorithm) -> Isa {
        let order: &[CpuKernel] = match algorithm {
            PowAlgorithm::Sha256d => &[
                CpuKernel::Avx512,
                CpuKernel::ShaNi,
                CpuKernel::Avx512Vl,
                CpuKernel::Avx2,
            ],
            PowAlgorithm::Scrypt => &[CpuKernel::Avx512, CpuKernel::Avx512Vl, CpuKernel::Avx2],
        };
        order
            .iter()
            .find_map(|k| k.check(algorithm))
            .unwrap_or(Isa::Portable)
    }
}

impl fmt::Display for CpuKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel name that [`CpuKernel::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cpu kernel {0:?} (expected portable, avx2, avx512vl, avx512 or sha-ni)")]
pub struct UnknownKernel(pub String);

impl FromStr for CpuKernel {
    type Err = UnknownKernel;

    /// Parses a kernel name, with or without the `cpu-` prefix of backend names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.strip_prefix("cpu-").unwrap_or(s);
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name || (name == "shani" && *k == CpuKernel::ShaNi))
            .ok_or_else(|| UnknownKernel(s.to_owned()))
    }
}
