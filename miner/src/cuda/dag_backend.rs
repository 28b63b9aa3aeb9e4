//! Ethash and KawPow on a CUDA device: the host side of `dag`'s kernels, as the OpenCL
//! one (`crate::opencl`): the light cache uploaded, the DAG generated on the device,
//! searches over nonce ranges, every report re-checked on the CPU before it is returned.
//! [`CudaEthash`] is here; `super::kawpow_backend` adds KawPow's per-period kernels.

use super::compile::{compile_cubin_source, compile_source};
use super::dag::{DagKernel, dag_kernel_source};
use super::load::{device_count, device_info, ensure_driver, failed, guarded};
use super::{CudaError, LOG};
use crate::error::DagError;
use crate::gpu::dag::{
    DAG_JOB_WORDS, DagSolution, REPORT_WORDS, Report, SearchLaunch, check_range, dag_job,
    parse_reports, recheck, search_batches,
};
use crate::gpu::{OUT_CAP, intensity_batch};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use otedama_sharechain::ethash::{DATASET_PARENTS, Item, LightCache};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tracing::warn;

/// Threads per block of every DAG kernel.
const BLOCK: u32 = 128;
/// Dataset items one DAG-generation launch computes.
const DAG_CHUNK: u32 = 1 << 16;

/// The device side shared by Ethash and KawPow.
#[derive(Debug)]
pub(super) struct CudaDagDevice {
    pub(super) context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    pub(super) capability: (u32, u32),
    dag_fn: CudaFunction,
    ethash_fn: CudaFunction,
    cache: CudaSlice<u32>,
    cache_items: u32,
    pub(super) dataset_items: u32,
    parents: u32,
    dag: Option<CudaSlice<u32>>,
    job: CudaSlice<u32>,
    out: CudaSlice<u32>,
    batch: u64,
    _module: Arc<CudaModule>,
}

/// Compiles `kernel` for `capability` (device code, or PTX where NVRTC cannot target
/// it) and loads it into `context`.
pub(super) fn load(
    context: &Arc<CudaContext>,
    kernel: DagKernel,
    capability: (u32, u32),
) -> Result<Arc<CudaModule>, CudaError> {
    let source = dag_kernel_source(kernel);
    let name = format!("{kernel:?}");
    let image = match compile_cubin_source(&name, &source, "dag.cu", capability) {
        Ok(cubin) => Ptx::from_binary(cubin),
        Err(e) => {
            warn!(target: LOG, error = %e, "no device code for sm_{}{}; loading PTX instead", capability.0, capability.1);
            compile_source(&name, &source, "dag.cu")?
        }
    };
    context
        .load_module(image)
        .map_err(failed("loading the kernel"))
}

impl CudaDagDevice {
    pub(super) fn open(
        device_index: usize,
        cache: &LightCache,
        parents: u32,
        intensity: u32,
    ) -> Result<Self, CudaError> {
        ensure_driver()?;
        let count = device_count()?;
        if device_index >= count {
            return Err(CudaError::NoDevice {
                index: device_index,
                count,
            });
        }
        let capability = device_info(device_index)?.compute_capability;
        let context = CudaContext::new(device_index).map_err(failed("creating the context"))?;
        let module = load(&context, DagKernel::Ethash, capability)?;
        let dag_fn = module
            .load_function("ethash_dag")
            .map_err(failed("finding ethash_dag"))?;
        let ethash_fn = module
            .load_function("ethash_search")
            .map_err(failed("finding ethash_search"))?;
        let stream = context.default_stream();
        let words: Vec<u32> = cache.items().iter().flatten().copied().collect();
        let cache_buf = stream
            .clone_htod(&words)
            .map_err(failed("uploading the cache"))?;
        let job = stream
            .alloc_zeros::<u32>(DAG_JOB_WORDS)
            .map_err(failed("allocating the job"))?;
        let out = stream
            .alloc_zeros::<u32>(1 + OUT_CAP as usize * REPORT_WORDS)
            .map_err(failed("allocating the output"))?;
        Ok(Self {
            context,
            stream,
            capability,
            dag_fn,
            ethash_fn,
            cache: cache_buf,
            cache_items: cache.items().len() as u32,
            dataset_items: u32::try_from(cache.dataset_items()).unwrap_or(u32::MAX),
            parents,
            dag: None,
            job,
            out,
            batch: intensity_batch(intensity),
            _module: module,
        })
    }

    /// Launches ethash_dag for items `first..first + count` into `out` at `base`.
    #[allow(unsafe_code)]
    fn run_dag(
        stream: &Arc<CudaStream>,
        function: &CudaFunction,
        cache: &CudaSlice<u32>,
        (cache_items, parents): (u32, u32),
        (first, count, base): (u32, u32, u32),
        out: &mut CudaSlice<u32>,
    ) -> Result<(), CudaError> {
        let config = LaunchConfig {
            grid_dim: (count.div_ceil(BLOCK), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut args = stream.launch_builder(function);
        args.arg(cache)
            .arg(&cache_items)
            .arg(&parents)
            .arg(&first)
            .arg(&count)
            .arg(&base)
            .arg(out);
        // SAFETY: the arguments match ethash_dag's signature (cache, cache_items,
        // parents, first, count, base, out) with the types it declares; `out` holds
        // items first - base .. first - base + count and threads past `count` return.
        unsafe { args.launch(config) }.map_err(failed("launching ethash_dag"))?;
        Ok(())
    }

    pub(super) fn generate_dag(&mut self) -> Result<(), CudaError> {
        if self.dag.is_some() {
            return Ok(());
        }
        let bytes = u64::from(self.dataset_items) * 64;
        let (free, _) = self
            .context
            .mem_get_info()
            .map_err(failed("reading free memory"))?;
        if bytes > free as u64 {
            return Err(DagError::TooLarge {
                bytes,
                max: free as u64,
            }
            .into());
        }
        let mut dag = self
            .stream
            .alloc_zeros::<u32>(self.dataset_items as usize * 16)
            .map_err(failed("allocating the DAG"))?;
        let mut first = 0u32;
        while first < self.dataset_items {
            let count = (self.dataset_items - first).min(DAG_CHUNK);
            Self::run_dag(
                &self.stream,
                &self.dag_fn,
                &self.cache,
                (self.cache_items, self.parents),
                (first, count, 0),
                &mut dag,
            )?;
            first += count;
        }
        self.stream
            .synchronize()
            .map_err(failed("generating the DAG"))?;
        self.dag = Some(dag);
        Ok(())
    }

    fn compute_items(&self, first: u32, count: u32) -> Result<Vec<Item>, CudaError> {
        check_range(first, count, self.dataset_items)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut tmp = self
            .stream
            .alloc_zeros::<u32>(count as usize * 16)
            .map_err(failed("allocating items"))?;
        Self::run_dag(
            &self.stream,
            &self.dag_fn,
            &self.cache,
            (self.cache_items, self.parents),
            (first, count, first),
            &mut tmp,
        )?;
        let words = self
            .stream
            .clone_dtoh(&tmp)
            .map_err(failed("reading items"))?;
        Ok(words
            .chunks_exact(16)
            .map(|c| std::array::from_fn(|k| c[k]))
            .collect())
    }

    /// Runs `function` (a search kernel) over `nonces` in batches until done or `stop`.
    pub(super) fn search(
        &mut self,
        function: &CudaFunction,
        dataset_arg: u32,
        header_hash: &[u8; 32],
        nonces: Range<u64>,
        boundary: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<(Vec<Report>, u64), CudaError> {
        if self.dag.is_none() {
            return Err(DagError::NotGenerated.into());
        }
        let job = dag_job(header_hash, boundary);
        self.stream
            .memcpy_htod(&job, &mut self.job)
            .map_err(failed("writing the job"))?;
        let batch = self.batch;
        let mut launch = Launch {
            device: self,
            function,
            dataset_arg,
        };
        search_batches(&mut launch, nonces, batch, OUT_CAP, stop)
    }

    #[allow(unsafe_code)]
    fn launch(
        &mut self,
        function: &CudaFunction,
        dataset_arg: u32,
        start: u64,
        count: u64,
    ) -> Result<u32, CudaError> {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.stream
            .memset_zeros(&mut self.out.slice_mut(0..1))
            .map_err(failed("clearing the output"))?;
        let Some(dag) = &self.dag else {
            return Err(DagError::NotGenerated.into());
        };
        let cap = OUT_CAP;
        let config = LaunchConfig {
            grid_dim: (count.div_ceil(BLOCK), 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut args = self.stream.launch_builder(function);
        args.arg(dag)
            .arg(&dataset_arg)
            .arg(&self.job)
            .arg(&start)
            .arg(&count)
            .arg(&mut self.out)
            .arg(&cap);
        // SAFETY: the arguments match the search kernels' signature (dag, items, job,
        // start, count, out, cap) with the types they declare; the output holds 1 + cap
        // reports of REPORT_WORDS words, the kernels write only slots below cap, and
        // threads past `count` return (after loading the L1 cache, for KawPow).
        unsafe { args.launch(config) }.map_err(failed("launching the search"))?;
        let mut n = [0u32];
        self.stream
            .memcpy_dtoh(&self.out.slice(0..1), &mut n)
            .map_err(failed("reading the output"))?;
        self.stream
            .synchronize()
            .map_err(failed("running the search"))?;
        Ok(n[0])
    }
}

/// A search kernel of a [`CudaDagDevice`] with its dataset argument.
struct Launch<'a> {
    device: &'a mut CudaDagDevice,
    function: &'a CudaFunction,
    dataset_arg: u32,
}

impl SearchLaunch for Launch<'_> {
    type Error = CudaError;

    fn launch(&mut self, start: u64, count: u64) -> Result<u32, CudaError> {
        self.device
            .launch(self.function, self.dataset_arg, start, count)
    }

    fn read_reports(&mut self, n: u32) -> Result<Vec<Report>, CudaError> {
        let d = &self.device;
        let words = d
            .stream
            .clone_dtoh(&d.out.slice(1..1 + n as usize * REPORT_WORDS))
            .map_err(failed("reading the reports"))?;
        Ok(parse_reports(&words).collect())
    }
}

/// Ethash (or Etchash) on a CUDA device.
#[derive(Debug)]
pub struct CudaEthash {
    device: Mutex<CudaDagDevice>,
    cache: LightCache,
    name: String,
    errors: AtomicU64,
}

impl CudaEthash {
    /// Compiles the kernels for device `device_index` and uploads `cache`. The DAG is
    /// generated by [`Self::generate_dag`]; each search launch hashes `2^intensity`
    /// nonces (intensity clamped to 8..=31).
    ///
    /// # Errors
    /// [`CudaError::is_unavailable`] errors without a driver, NVRTC or device;
    /// [`CudaError::Compile`] or [`CudaError::Driver`] when setting up fails.
    pub fn new(device_index: usize, cache: LightCache, intensity: u32) -> Result<Self, CudaError> {
        let device = guarded("setting up Ethash", || {
            CudaDagDevice::open(device_index, &cache, DATASET_PARENTS, intensity)
        })?;
        Ok(Self {
            device: Mutex::new(device),
            cache,
            name: format!("cuda:{device_index}"),
            errors: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CudaDagDevice> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns how many device reports the CPU re-check has rejected.
    pub fn hardware_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Generates the DAG on the device (once).
    ///
    /// # Errors
    /// [`DagError::TooLarge`] past the device's free memory, or [`CudaError::Driver`].
    pub fn generate_dag(&self) -> Result<(), CudaError> {
        guarded("generating the DAG", || self.lock().generate_dag())
    }

    /// Computes dataset items `first..first + count` on the device from the cache.
    ///
    /// # Errors
    /// [`DagError::Range`] outside the dataset or past
    /// 2^20 items at once, or [`CudaError::Driver`].
    pub fn dataset_items(&self, first: u32, count: u32) -> Result<Vec<Item>, CudaError> {
        guarded("computing items", || {
            self.lock().compute_items(first, count)
        })
    }

    /// Searches `nonces` for final hashes at most `boundary` (big-endian) until done or
    /// `stop`. Returns the solutions, each re-checked with [`LightCache::hash`], and the
    /// nonces hashed.
    ///
    /// # Errors
    /// [`DagError::NotGenerated`], or [`CudaError::Driver`] when the device fails.
    pub fn search(
        &self,
        header_hash: &[u8; 32],
        nonces: Range<u64>,
        boundary: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<(Vec<DagSolution>, u64), CudaError> {
        let (reports, hashed) = guarded("searching", || {
            let mut device = self.lock();
            let function = device.ethash_fn.clone();
            let items = device.dataset_items;
            device.search(&function, items, header_hash, nonces, boundary, stop)
        })?;
        let found = recheck(&self.name, reports, boundary, &self.errors, |nonce| {
            let h = self.cache.hash(header_hash, nonce);
            (h.mix, h.result)
        });
        Ok((found, hashed))
    }
}
