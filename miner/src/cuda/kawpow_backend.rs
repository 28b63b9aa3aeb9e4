//! KawPow on a CUDA device: [`CudaKawpow`], the DAG of `super::dag_backend` with
//! 512-parent items and a search kernel per ProgPoW period, the current and the next
//! kept compiled.

use super::CudaError;
use super::dag::DagKernel;
use super::dag_backend::{CudaDagDevice, load};
use super::load::{failed, guarded};
use crate::error::DagError;
use crate::gpu::dag::{DagSolution, recheck};
use cudarc::driver::{CudaFunction, CudaModule};
use otedama_sharechain::ethash::kawpow::{self, KawpowContext, L1_WORDS, PERIOD_LENGTH};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Compiled KawPow periods kept: the current one and the next.
const PROGRAM_CACHE: usize = 2;

/// A period's compiled search kernel.
#[derive(Debug)]
struct CompiledPeriod {
    period: u64,
    function: CudaFunction,
    _module: Arc<CudaModule>,
}

/// KawPow on a CUDA device.
#[derive(Debug)]
pub struct CudaKawpow {
    device: Mutex<(CudaDagDevice, Vec<CompiledPeriod>)>,
    context: KawpowContext,
    name: String,
    errors: AtomicU64,
}

impl CudaKawpow {
    /// Compiles the DAG kernel for device `device_index` and uploads the light cache of
    /// `context`; search kernels are compiled per period.
    ///
    /// # Errors
    /// [`DagError::DatasetTooSmall`] for a dataset under 16 KiB, and as
    /// [`super::CudaEthash::new`].
    pub fn new(
        device_index: usize,
        context: KawpowContext,
        intensity: u32,
    ) -> Result<Self, CudaError> {
        let items = context.cache().dataset_items();
        let min = (L1_WORDS / 16) as u64;
        if items < min {
            return Err(DagError::DatasetTooSmall { items, min }.into());
        }
        let device = guarded("setting up KawPow", || {
            CudaDagDevice::open(
                device_index,
                context.cache(),
                kawpow::DATASET_PARENTS,
                intensity,
            )
        })?;
        Ok(Self {
            device: Mutex::new((device, Vec::with_capacity(PROGRAM_CACHE))),
            context,
            name: format!("cuda:{device_index}"),
            errors: AtomicU64::new(0),
        })
    }

    /// Returns how many device reports the CPU re-check has rejected.
    pub fn hardware_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Generates the DAG (512-parent items) on the device (once).
    ///
    /// # Errors
    /// As [`super::CudaEthash::generate_dag`].
    pub fn generate_dag(&self) -> Result<(), CudaError> {
        guarded("generating the DAG", || {
            self.device
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .0
                .generate_dag()
        })
    }

    /// Searches `nonces` at `block` for final hashes at most `boundary` until done or
    /// `stop`. Returns the solutions, each re-checked with [`KawpowContext::hash`], and
    /// the nonces hashed.
    ///
    /// # Errors
    /// [`DagError::NotGenerated`], [`CudaError::Compile`] for the period's kernel, or
    /// [`CudaError::Driver`].
    pub fn search(
        &self,
        block: u64,
        header_hash: &[u8; 32],
        nonces: Range<u64>,
        boundary: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<(Vec<DagSolution>, u64), CudaError> {
        let period = block / PERIOD_LENGTH;
        let (reports, hashed) = guarded("searching", || {
            let mut guard = self.device.lock().unwrap_or_else(PoisonError::into_inner);
            let (device, programs) = &mut *guard;
            let function = match programs.iter().find(|p| p.period == period) {
                Some(p) => p.function.clone(),
                None => {
                    let module = load(
                        &device.context,
                        DagKernel::Kawpow { period },
                        device.capability,
                    )?;
                    let function = module
                        .load_function("kawpow_search")
                        .map_err(failed("finding kawpow_search"))?;
                    if programs.len() >= PROGRAM_CACHE {
                        // Keep the period nearest to this one (the current and the next).
                        programs.sort_by_key(|p| p.period.abs_diff(period));
                        programs.truncate(PROGRAM_CACHE - 1);
                    }
                    programs.push(CompiledPeriod {
                        period,
                        function: function.clone(),
                        _module: module,
                    });
                    function
                }
            };
            let items_2048 = device.dataset_items / 4;
            device.search(&function, items_2048, header_hash, nonces, boundary, stop)
        })?;
        let found = recheck(&self.name, reports, boundary, &self.errors, |nonce| {
            let h = self.context.hash(block, header_hash, nonce);
            (h.mix, h.result)
        });
        Ok((found, hashed))
    }
}
