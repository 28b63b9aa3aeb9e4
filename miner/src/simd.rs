//! Run-time CPU feature checks as values.
//!
//! A SIMD kernel is compiled for instructions (`#[target_feature]`) the running CPU may
//! lack; calling it there is undefined behaviour. Each token type here can only be made
//! by its `detect`, after `is_x86_feature_detected!` confirmed every feature its kernels
//! use, and every SIMD kernel's entry point takes its token as an argument: holding one
//! is the proof that the call is sound, so no caller has to promise it.
//!
//! [`Isa`] is a [`CpuKernel`] together with that proof, as `CpuKernel::check` returns it.

use crate::kernel::CpuKernel;
#[cfg(test)]
use otedama_sharechain::PowAlgorithm;
use std::fmt;

/// Defines a zero-sized token type that `detect` returns only when the CPU has every
/// one of `$feature`.
#[cfg(target_arch = "x86_64")]
macro_rules! cpu_token {
    ($(#[$doc:meta])* $name:ident: $($feature:tt),+) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) struct $name(());

        impl $name {
            /// Returns the token when the running CPU has the features, `None` otherwise.
            pub(crate) fn detect() -> Option<Self> {
                ($(std::arch::is_x86_feature_detected!($feature))&&+).then_some(Self(()))
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
cpu_token!(
    /// The running CPU has AVX2.
    Avx2: "avx2"
);
#[cfg(target_arch = "x86_64")]
cpu_token!(
    /// The running CPU has AVX-512F.
    Avx512: "avx512f"
);
#[cfg(target_arch = "x86_64")]
cpu_token!(
    /// The running CPU has AVX2, AVX-512F and AVX-512VL (AVX-512 forms on 256-bit vectors).
    Avx512Vl: "avx2", "avx512f", "avx512vl"
);
#[cfg(target_arch = "x86_64")]
cpu_token!(
    /// The running CPU has the SHA extensions, SSSE3 and SSE4.1.
    ShaNi: "sha", "ssse3", "sse4.1"
);

/// A [`CpuKernel`] checked against the running CPU: the portable kernel, or a SIMD
/// kernel with the token of its features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// [`CpuKernel::Portable`]: needs nothing.
    Portable,
    /// [`CpuKernel::Avx2`].
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// [`CpuKernel::Avx512Vl`].
    #[cfg(target_arch = "x86_64")]
    Avx512Vl(Avx512Vl),
    /// [`CpuKernel::Avx512`].
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
    /// [`CpuKernel::ShaNi`].
    #[cfg(target_arch = "x86_64")]
    ShaNi(ShaNi),
}

impl Isa {
    /// Returns the proof of `kernel`'s features, when the running CPU has them.
    pub(crate) fn detect(kernel: CpuKernel) -> Option<Isa> {
        match kernel {
            CpuKernel::Portable => Some(Isa::Portable),
            #[cfg(target_arch = "x86_64")]
            CpuKernel::Avx2 => Avx2::detect().map(Isa::Avx2),
            #[cfg(target_arch = "x86_64")]
            CpuKernel::Avx512Vl => Avx512Vl::detect().map(Isa::Avx512Vl),
            #[cfg(target_arch = "x86_64")]
            CpuKernel::Avx512 => Avx512::detect().map(Isa::Avx512),
            #[cfg(target_arch = "x86_64")]
            CpuKernel::ShaNi => ShaNi::detect().map(Isa::ShaNi),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }

    /// Returns the kernel.
    pub(crate) const fn kernel(self) -> CpuKernel {
        match self {
            Isa::Portable => CpuKernel::Portable,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(_) => CpuKernel::Avx2,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vl(_) => CpuKernel::Avx512Vl,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(_) => CpuKernel::Avx512,
            #[cfg(target_arch = "x86_64")]
            Isa::ShaNi(_) => CpuKernel::ShaNi,
        }
    }

    /// Every kernel that hashes `algorithm` on the running CPU, checked (the portable
    /// one always among them), for the tests that compare each kernel with the reference.
    #[cfg(test)]
    pub(crate) fn supported(algorithm: PowAlgorithm) -> Vec<Isa> {
        let all: Vec<Isa> = CpuKernel::ALL
            .into_iter()
            .filter_map(|k| k.check(algorithm))
            .collect();
        assert!(all.contains(&Isa::Portable));
        all
    }

    /// Returns how many hashes the kernel computes side by side for `algorithm`.
    #[cfg(test)]
    pub(crate) const fn lanes(self, algorithm: PowAlgorithm) -> usize {
        self.kernel().lanes(algorithm)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kernel().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel is checked exactly when it is supported, and its proof names it.
    #[test]
    fn checks_agree_with_support() {
        for algorithm in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            for kernel in CpuKernel::ALL {
                let checked = kernel.check(algorithm);
                assert_eq!(
                    checked.is_some(),
                    kernel.is_supported(algorithm),
                    "{kernel}"
                );
                if let Some(isa) = checked {
                    assert_eq!(isa.kernel(), kernel);
                    assert_eq!(isa.to_string(), kernel.name());
                }
            }
            assert_eq!(
                CpuKernel::best_checked(algorithm).kernel(),
                CpuKernel::best(algorithm)
            );
        }
        assert_eq!(CpuKernel::ShaNi.check(PowAlgorithm::Scrypt), None);
    }
}
