//! Opening the CUDA libraries safely, and listing devices.
//!
//! cudarc panics when it calls into a library that is not there: every entry point first
//! checks that the library opens ([`ensure_driver`], [`ensure_nvrtc`]) and runs its calls
//! under [`guarded`].

use super::CudaError;
use crate::gpu_sensor::PciAddress;
use cudarc::driver::{DriverError, result as driver, sys as driver_sys};
use std::sync::OnceLock;

/// Wraps a driver error with what was being done.
pub(super) fn failed(op: &'static str) -> impl FnOnce(DriverError) -> CudaError {
    move |source| CudaError::Driver { op, source }
}

/// Runs `f`, turning a panic of a CUDA library call into [`CudaError::Panicked`].
pub(super) fn guarded<T>(
    op: &'static str,
    f: impl FnOnce() -> Result<T, CudaError>,
) -> Result<T, CudaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(CudaError::Panicked { op, message })
    })
}

/// Tries to open the driver library under each of cudarc's candidate names.
#[allow(unsafe_code)]
fn probe_driver() -> bool {
    // SAFETY: only opens (and closes) the library; none of its functions is called.
    unsafe { driver_sys::is_culib_present() }
}

/// Tries to open the NVRTC library under each of cudarc's candidate names.
#[allow(unsafe_code)]
fn probe_nvrtc() -> bool {
    // SAFETY: only opens (and closes) the library; none of its functions is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Returns whether `libcuda` can be loaded (probed once per process: the loader's search
/// path does not change while it runs).
pub(super) fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| guarded("probing libcuda", || Ok(probe_driver())).unwrap_or(false))
}

/// Returns whether `libnvrtc` can be loaded (probed once per process).
pub(super) fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| guarded("probing libnvrtc", || Ok(probe_nvrtc())).unwrap_or(false))
}

pub(super) fn ensure_driver() -> Result<(), CudaError> {
    if driver_present() {
        Ok(())
    } else {
        Err(CudaError::DriverUnavailable)
    }
}

pub(super) fn ensure_nvrtc() -> Result<(), CudaError> {
    if nvrtc_present() {
        Ok(())
    } else {
        Err(CudaError::NvrtcUnavailable)
    }
}

/// Returns whether the CUDA backend can run here: `libcuda` and `libnvrtc` load and the
/// driver reports at least one device.
pub fn is_available() -> bool {
    nvrtc_present() && devices().is_ok_and(|d| !d.is_empty())
}

/// A CUDA device, as [`devices`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDevice {
    /// The driver's device ordinal, as [`super::CudaBackend::new`] takes it.
    pub index: usize,
    /// The device's name.
    pub name: String,
    /// Global memory in bytes.
    pub total_mem: u64,
    /// Compute capability (major, minor): (8, 6) for an RTX 30xx, (9, 0) for an H100.
    pub compute_capability: (u32, u32),
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// The card's PCI address.
    pub pci: Option<PciAddress>,
}

/// Initialises the driver and returns its device count (0 when it has no device).
pub(super) fn device_count() -> Result<usize, CudaError> {
    match driver::init() {
        Ok(()) => {}
        Err(DriverError(driver_sys::CUresult::CUDA_ERROR_NO_DEVICE)) => return Ok(0),
        Err(e) => return Err(failed("initialising the driver")(e)),
    }
    let count = driver::device::get_count().map_err(failed("counting devices"))?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Reads one attribute of `device`.
#[allow(unsafe_code)]
fn attribute(
    device: driver_sys::CUdevice,
    attribute: driver_sys::CUdevice_attribute,
) -> Result<u32, CudaError> {
    // SAFETY: `device` comes from `cuDeviceGet` of an initialised driver.
    let value = unsafe { driver::device::get_attribute(device, attribute) }
        .map_err(failed("reading a device attribute"))?;
    Ok(u32::try_from(value).unwrap_or(0))
}

/// Reads the global memory size of `device`.
#[allow(unsafe_code)]
fn total_mem(device: driver_sys::CUdevice) -> Result<u64, CudaError> {
    // SAFETY: `device` comes from `cuDeviceGet` of an initialised driver.
    let bytes =
        unsafe { driver::device::total_mem(device) }.map_err(failed("reading the memory size"))?;
    Ok(bytes as u64)
}

pub(super) fn device_info(index: usize) -> Result<CudaDevice, CudaError> {
    use driver_sys::CUdevice_attribute as Attr;
    let ordinal = i32::try_from(index).map_err(|_| CudaError::NoDevice { index, count: 0 })?;
    let device = driver::device::get(ordinal).map_err(failed("opening a device"))?;
    Ok(CudaDevice {
        index,
        name: driver::device::get_name(device)
            .map_err(failed("reading the device name"))?
            .trim()
            .to_owned(),
        total_mem: total_mem(device)?,
        compute_capability: (
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        ),
        multiprocessors: attribute(device, Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
        pci: PciAddress::new(
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)?,
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)?,
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)?,
            0,
        ),
    })
}

/// Lists the CUDA devices; empty when the driver is installed but sees no device.
///
/// # Errors
/// [`CudaError::DriverUnavailable`] without `libcuda`; [`CudaError::Driver`] when the
/// driver fails to initialise or to describe a device.
pub fn devices() -> Result<Vec<CudaDevice>, CudaError> {
    ensure_driver()?;
    guarded("listing devices", || {
        (0..device_count()?).map(device_info).collect()
    })
}
