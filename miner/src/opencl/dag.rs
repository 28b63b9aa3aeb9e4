//! Ethash and KawPow on an OpenCL device: the light cache uploaded, the DAG generated
//! on the device from it, and searches over nonce ranges whose reports are re-checked
//! on the CPU before they are returned.
//!
//! [`DagDevice`] holds what both algorithms share (the cache, the DAG, the job and
//! report buffers, the batch loop); [`OpenClEthash`] adds hashimoto's kernel and the
//! Ethash re-check, `super::kawpow::OpenClKawpow` the per-period programs.

use super::{Opened, device_buffer, failed, open_device};
use crate::error::{DagError, MinerError};
use crate::gpu::dag::{
    DAG_JOB_WORDS, DagSolution, REPORT_WORDS, Report, SearchLaunch, check_range, dag_job,
    parse_reports, recheck, search_batches,
};
use crate::gpu::{OUT_CAP, intensity_batch};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::kernel::{ExecuteKernel, Kernel};
use opencl3::memory::{Buffer, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, cl_uint};
use otedama_sharechain::ethash::{DATASET_PARENTS, Item, LightCache};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Keccak-f[1600] and Keccak-f[800] (prepended to the DAG kernels).
pub(super) const KECCAK_CL: &str = include_str!("keccak.cl");
/// DAG generation and hashimoto.
const ETHASH_CL: &str = include_str!("ethash.cl");
/// Dataset items one DAG-generation enqueue computes (keeps each enqueue short).
const DAG_CHUNK: u32 = 1 << 16;
/// Work items per work group of the search kernels.
const SEARCH_GROUP: u32 = 64;

/// The device side shared by Ethash and KawPow: queue, cache, DAG, job and reports.
#[derive(Debug)]
pub(super) struct DagDevice {
    pub(super) queue: CommandQueue,
    pub(super) context: Context,
    dag_kernel: Kernel,
    cache: Buffer<cl_uint>,
    cache_items: u32,
    dataset_items: u32,
    parents: u32,
    dag: Option<Buffer<cl_uint>>,
    job: Buffer<cl_uint>,
    out: Buffer<cl_uint>,
    max_alloc: u64,
    batch: u64,
    pub(super) device_name: String,
    /// The Ethash program (DAG and search kernels).
    pub(super) program: Program,
}

impl DagDevice {
    /// Opens device `device_index`, builds the DAG kernel and uploads `cache`; dataset
    /// items mix `parents` cache items. Each search enqueue hashes `2^intensity` nonces.
    pub(super) fn open(
        device_index: usize,
        cache: &LightCache,
        parents: u32,
        intensity: u32,
    ) -> Result<Self, MinerError> {
        let Opened {
            device,
            id: _,
            name: device_name,
            context,
            queue,
        } = open_device(device_index)?;
        // A device that does not answer is left to refuse the allocation itself.
        let max_alloc = device.max_mem_alloc_size().unwrap_or(u64::MAX);
        let program = build(&context, &format!("{KECCAK_CL}\n{ETHASH_CL}"))?;
        let dag_kernel =
            Kernel::create(&program, "ethash_dag").map_err(|e| failed("creating kernel", e))?;

        let items = cache.items();
        let cache_bytes = items.len() as u64 * 64;
        if cache_bytes > max_alloc {
            return Err(DagError::TooLarge {
                bytes: cache_bytes,
                max: max_alloc,
            }
            .into());
        }
        let words: Vec<u32> = items.iter().flatten().copied().collect();
        let mut cache_buf = device_buffer(
            &context,
            CL_MEM_READ_ONLY,
            words.len(),
            "allocating the cache",
        )?;
        write(&queue, &mut cache_buf, 0, &words, "uploading the cache")?;
        let job = device_buffer(
            &context,
            CL_MEM_READ_ONLY,
            DAG_JOB_WORDS,
            "allocating the job",
        )?;
        let out = device_buffer(
            &context,
            CL_MEM_READ_WRITE,
            1 + OUT_CAP as usize * REPORT_WORDS,
            "allocating the output",
        )?;
        Ok(Self {
            queue,
            context,
            dag_kernel,
            cache: cache_buf,
            cache_items: items.len() as u32,
            // LightCache keeps the item count within u32.
            dataset_items: u32::try_from(cache.dataset_items()).unwrap_or(u32::MAX),
            parents,
            dag: None,
            job,
            out,
            max_alloc,
            batch: intensity_batch(intensity),
            device_name,
            program,
        })
    }

    pub(super) fn dataset_items(&self) -> u32 {
        self.dataset_items
    }

    pub(super) fn dag(&self) -> Result<&Buffer<cl_uint>, MinerError> {
        self.dag.as_ref().ok_or(DagError::NotGenerated.into())
    }

    /// Runs the DAG kernel for items `first..first + count` into `out` at `base`.
    #[allow(unsafe_code)]
    fn run_dag_kernel(
        &self,
        first: u32,
        count: u32,
        base: u32,
        out: &Buffer<cl_uint>,
    ) -> Result<(), MinerError> {
        let mut exec = ExecuteKernel::new(&self.dag_kernel);
        // SAFETY: the arguments match ethash_dag's signature (cache, cache_items, parents,
        // first, base, out); `out` holds the items first - base .. first - base + count,
        // and the cache buffer holds cache_items items.
        unsafe {
            exec.set_arg(&self.cache)
                .set_arg(&self.cache_items)
                .set_arg(&self.parents)
                .set_arg(&first)
                .set_arg(&base)
                .set_arg(out)
                .set_global_work_size(count as usize)
                .enqueue_nd_range(&self.queue)
        }
        .map_err(|e| failed("enqueueing the DAG kernel", e))?;
        Ok(())
    }

    /// Generates the whole DAG on the device (once; later calls do nothing).
    pub(super) fn generate_dag(&mut self) -> Result<(), MinerError> {
        if self.dag.is_some() {
            return Ok(());
        }
        let bytes = u64::from(self.dataset_items) * 64;
        if bytes > self.max_alloc {
            return Err(DagError::TooLarge {
                bytes,
                max: self.max_alloc,
            }
            .into());
        }
        let words = usize::try_from(bytes / 4).map_err(|e| failed("DAG size", e))?;
        let dag = device_buffer(
            &self.context,
            CL_MEM_READ_WRITE,
            words,
            "allocating the DAG",
        )?;
        let mut first = 0u32;
        while first < self.dataset_items {
            let count = (self.dataset_items - first).min(DAG_CHUNK);
            self.run_dag_kernel(first, count, 0, &dag)?;
            first += count;
        }
        self.queue
            .finish()
            .map_err(|e| failed("generating the DAG", e))?;
        self.dag = Some(dag);
        Ok(())
    }

    fn check_range(&self, first: u32, count: u32) -> Result<(), MinerError> {
        Ok(check_range(first, count, self.dataset_items)?)
    }

    /// Computes dataset items `first..first + count` on the device (no DAG needed).
    pub(super) fn compute_items(&self, first: u32, count: u32) -> Result<Vec<Item>, MinerError> {
        self.check_range(first, count)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let tmp = device_buffer(
            &self.context,
            CL_MEM_READ_WRITE,
            count as usize * 16,
            "allocating items",
        )?;
        self.run_dag_kernel(first, count, first, &tmp)?;
        read_items(&self.queue, &tmp, 0, count)
    }

    /// Reads DAG items `first..first + count` back from the device.
    pub(super) fn read_dag(&self, first: u32, count: u32) -> Result<Vec<Item>, MinerError> {
        self.check_range(first, count)?;
        read_items(&self.queue, self.dag()?, first as usize * 16, count)
    }

    /// Runs `kernel` (arguments: DAG, `dataset_arg`, job, start, out, cap) over
    /// `nonces` in batches until done or `stop`, and returns every report and the
    /// nonces hashed. A launch reporting more than the output holds is re-run in slices.
    pub(super) fn search(
        &mut self,
        kernel: &Kernel,
        dataset_arg: u32,
        header_hash: &[u8; 32],
        nonces: Range<u64>,
        boundary: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<(Vec<Report>, u64), MinerError> {
        let job = dag_job(header_hash, boundary);
        write(&self.queue, &mut self.job, 0, &job, "writing the job")?;
        let batch = self.batch;
        let mut launch = Launch {
            device: self,
            kernel,
            dataset_arg,
        };
        search_batches(&mut launch, nonces, batch, OUT_CAP, stop)
    }

    #[allow(unsafe_code)]
    fn launch(
        &mut self,
        kernel: &Kernel,
        dataset_arg: u32,
        start: u64,
        count: u64,
    ) -> Result<u32, MinerError> {
        write(
            &self.queue,
            &mut self.out,
            0,
            &[0u32],
            "clearing the output",
        )?;
        let dag = self.dag()?;
        let cap = OUT_CAP;
        let count = u32::try_from(count).map_err(|e| failed("batch size", e))?;
        // An explicit work-group size: KawPow's work items each hold 2 KiB of registers
        // and meet at a barrier, and a CPU device such as PoCL keeps every work item's
        // registers of a group on one thread's stack, so a group of the device's
        // choosing (thousands) overflows it.
        let global = count.div_ceil(SEARCH_GROUP) as usize * SEARCH_GROUP as usize;
        let mut exec = ExecuteKernel::new(kernel);
        // SAFETY: the arguments match the search kernels' signature (dag, items, job,
        // start, count, out, cap) with the types they declare; the output holds 1 + cap
        // reports of REPORT_WORDS words, the kernel writes only slots below cap, and work
        // items past `count` return (after loading the L1 cache, for KawPow).
        unsafe {
            exec.set_arg(dag)
                .set_arg(&dataset_arg)
                .set_arg(&self.job)
                .set_arg(&start)
                .set_arg(&count)
                .set_arg(&self.out)
                .set_arg(&cap)
                .set_global_work_size(global)
                .set_local_work_size(SEARCH_GROUP as usize)
                .enqueue_nd_range(&self.queue)
        }
        .map_err(|e| failed("enqueueing the search", e))?;
        let mut n = [0u32];
        read(&self.queue, &self.out, 0, &mut n, "reading the output")?;
        Ok(n[0])
    }
}

/// A search kernel of a [`DagDevice`] with its dataset argument.
struct Launch<'a> {
    device: &'a mut DagDevice,
    kernel: &'a Kernel,
    dataset_arg: u32,
}

impl SearchLaunch for Launch<'_> {
    type Error = MinerError;

    fn launch(&mut self, start: u64, count: u64) -> Result<u32, MinerError> {
        self.device
            .launch(self.kernel, self.dataset_arg, start, count)
    }

    fn read_reports(&mut self, n: u32) -> Result<Vec<Report>, MinerError> {
        let mut words = vec![0u32; n as usize * REPORT_WORDS];
        let d = &self.device;
        read(&d.queue, &d.out, 4, &mut words, "reading the reports")?;
        Ok(parse_reports(&words).collect())
    }
}

/// Builds `source` into a program.
pub(super) fn build(context: &Context, source: &str) -> Result<Program, MinerError> {
    Program::create_and_build_from_source(context, source, "")
        .map_err(|log| failed("building the kernel", log))
}

/// A blocking write of `words` at word `offset` of `buf`.
#[allow(unsafe_code)]
fn write(
    queue: &CommandQueue,
    buf: &mut Buffer<cl_uint>,
    offset: usize,
    words: &[u32],
    what: &str,
) -> Result<(), MinerError> {
    // SAFETY: a blocking write from a live slice; every caller's buffer holds at least
    // offset + words.len() words.
    unsafe { queue.enqueue_write_buffer(buf, CL_BLOCKING, offset * 4, words, &[]) }
        .map_err(|e| failed(what, e))?;
    Ok(())
}

/// A blocking read into `words` from byte `offset` of `buf`.
#[allow(unsafe_code)]
fn read(
    queue: &CommandQueue,
    buf: &Buffer<cl_uint>,
    offset: usize,
    words: &mut [u32],
    what: &str,
) -> Result<(), MinerError> {
    // SAFETY: a blocking read into a live slice; every caller's buffer holds at least
    // offset / 4 + words.len() words.
    unsafe { queue.enqueue_read_buffer(buf, CL_BLOCKING, offset, words, &[]) }
        .map_err(|e| failed(what, e))?;
    Ok(())
}

/// Reads `count` items from word `offset` of `buf`.
fn read_items(
    queue: &CommandQueue,
    buf: &Buffer<cl_uint>,
    offset: usize,
    count: u32,
) -> Result<Vec<Item>, MinerError> {
    let mut words = vec![0u32; count as usize * 16];
    read(queue, buf, offset * 4, &mut words, "reading items")?;
    Ok(words
        .chunks_exact(16)
        .map(|c| std::array::from_fn(|k| c[k]))
        .collect())
}

/// Ethash (or Etchash: the same hash over its epoch's cache) on an OpenCL device.
#[derive(Debug)]
pub struct OpenClEthash {
    device: Mutex<EthashState>,
    cache: LightCache,
    name: String,
    errors: AtomicU64,
}

#[derive(Debug)]
struct EthashState {
    dag: DagDevice,
    search: Kernel,
}

impl OpenClEthash {
    /// Opens device `device_index` (see [`super::list_devices`]) and uploads `cache`.
    /// The DAG is generated by [`Self::generate_dag`]; each search enqueue hashes
    /// `2^intensity` nonces (intensity clamped to 8..=31).
    ///
    /// # Errors
    /// [`MinerError::OpenClUnavailable`] without a device at that index,
    /// [`DagError::TooLarge`] when the cache does not fit one buffer,
    /// [`MinerError::OpenCl`] when building the kernels or uploading fails.
    pub fn new(device_index: usize, cache: LightCache, intensity: u32) -> Result<Self, MinerError> {
        let dag = DagDevice::open(device_index, &cache, DATASET_PARENTS, intensity)?;
        let search = Kernel::create(&dag.program, "ethash_search")
            .map_err(|e| failed("creating kernel", e))?;
        Ok(Self {
            device: Mutex::new(EthashState { dag, search }),
            cache,
            name: format!("opencl:{device_index}"),
            errors: AtomicU64::new(0),
        })
    }

    /// Returns the device's name.
    pub fn device_name(&self) -> String {
        self.lock().dag.device_name.clone()
    }

    /// Returns how many device reports the CPU re-check has rejected.
    pub fn hardware_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EthashState> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Generates the DAG on the device (once).
    ///
    /// # Errors
    /// [`DagError::TooLarge`] past the device's largest buffer, or
    /// [`MinerError::OpenCl`].
    pub fn generate_dag(&self) -> Result<(), MinerError> {
        self.lock().dag.generate_dag()
    }

    /// Computes dataset items `first..first + count` on the device from the cache.
    ///
    /// # Errors
    /// [`DagError::Range`] outside the dataset or past [`super::MAX_ITEMS_PER_CALL`], or
    /// [`MinerError::OpenCl`].
    pub fn dataset_items(&self, first: u32, count: u32) -> Result<Vec<Item>, MinerError> {
        self.lock().dag.compute_items(first, count)
    }

    /// Reads DAG items `first..first + count` back from the device.
    ///
    /// # Errors
    /// As [`Self::dataset_items`], and [`DagError::NotGenerated`].
    pub fn read_dag(&self, first: u32, count: u32) -> Result<Vec<Item>, MinerError> {
        self.lock().dag.read_dag(first, count)
    }

    /// Searches `nonces` for final hashes at most `boundary` (big-endian) until done or
    /// `stop`. Returns the solutions, each re-checked with [`LightCache::hash`], and the
    /// nonces hashed.
    ///
    /// # Errors
    /// [`DagError::NotGenerated`], or [`MinerError::OpenCl`] when the device fails.
    pub fn search(
        &self,
        header_hash: &[u8; 32],
        nonces: Range<u64>,
        boundary: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<(Vec<DagSolution>, u64), MinerError> {
        let (reports, hashed) = {
            let mut state = self.lock();
            let EthashState { dag, search } = &mut *state;
            let items = dag.dataset_items();
            dag.search(search, items, header_hash, nonces, boundary, stop)?
        };
        let found = recheck(&self.name, reports, boundary, &self.errors, |nonce| {
            let h = self.cache.hash(header_hash, nonce);
            (h.mix, h.result)
        });
        Ok((found, hashed))
    }
}
