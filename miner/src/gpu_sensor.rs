//! Which temperature sensor belongs to which GPU.
//!
//! A GPU API's device index says nothing about the card: OpenCL counts devices across
//! platforms (PoCL's CPU device among them), CUDA orders them by speed, and the kernel
//! numbers DRM cards in probe order. The one name every layer shares is the card's PCI
//! address, so a backend reports it ([`crate::OpenClBackend::pci_address`],
//! [`crate::CudaBackend::pci_address`]) and [`gpu_sensor`] looks the sensor up by it:
//!
//! 1. the card's hwmon files, `/sys/bus/pci/devices/<address>/hwmon/hwmon*/temp1_input`,
//!    as amdgpu, nouveau and i915/xe publish them;
//! 2. NVML (`libnvidia-ml.so.1`, loaded at run time), for NVIDIA's proprietary driver,
//!    which publishes no hwmon files.
//!
//! A device without a PCI address (a CPU device) or without either sensor gets `None`,
//! and its rig runs without a thermal limit.

use crate::thermal::{HwmonSensor, TemperatureSource};
use std::fmt;
use std::path::Path;

/// Where the kernel lists PCI devices.
const SYSFS_PCI: &str = "/sys/bus/pci/devices";

/// A PCI function's address, `domain:bus:device.function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// PCI domain (segment).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0 to 31.
    pub device: u8,
    /// Function number, 0 to 7.
    pub function: u8,
}

impl PciAddress {
    /// Returns the address, or `None` when `device` or `function` is out of range or a
    /// field does not fit (the bus is 8 bits).
    pub fn new(domain: u32, bus: u32, device: u32, function: u32) -> Option<PciAddress> {
        Some(PciAddress {
            domain,
            bus: u8::try_from(bus).ok()?,
            device: u8::try_from(device).ok().filter(|d| *d < 32)?,
            function: u8::try_from(function).ok().filter(|f| *f < 8)?,
        })
    }
}

/// The form sysfs and NVML use: `0000:01:00.0`.
impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// A GPU's temperature sensor and where it reads from.
pub struct GpuSensor {
    /// The sensor.
    pub source: Box<dyn TemperatureSource>,
    /// What it reads: a hwmon file's path, or `nvml <address>`.
    pub origin: String,
}

impl fmt::Debug for GpuSensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuSensor")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Finds the temperature sensor of the GPU at `address`: its hwmon files first, then
/// NVML. `None` when `address` is `None` or neither has a reading for it.
pub fn gpu_sensor(address: Option<PciAddress>) -> Option<GpuSensor> {
    let address = address?;
    if let Some(hwmon) = find_hwmon(Path::new(SYSFS_PCI), address) {
        return Some(GpuSensor {
            origin: hwmon.path().display().to_string(),
            source: Box::new(hwmon),
        });
    }
    nvml::open(address).map(|source| GpuSensor {
        origin: format!("nvml {address}"),
        source,
    })
}

/// The first `hwmon*/temp1_input` of the PCI device at `address` under `root` (sysfs's
/// `/sys/bus/pci/devices`), in name order.
pub fn find_hwmon(root: &Path, address: PciAddress) -> Option<HwmonSensor> {
    let mut dirs: Vec<_> = std::fs::read_dir(root.join(address.to_string()).join("hwmon"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| d.join("temp1_input"))
        .find(|p| p.is_file())
        .map(HwmonSensor::new)
}

/// Reads a little-endian `u32` at `at`.
fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses `CL_DEVICE_PCI_BUS_INFO_KHR` (`cl_khr_pci_bus_info`): four `cl_uint`s, domain,
/// bus, device, function.
pub fn pci_from_khr(bytes: &[u8]) -> Option<PciAddress> {
    if bytes.len() != 16 {
        return None;
    }
    PciAddress::new(
        word(bytes, 0)?,
        word(bytes, 4)?,
        word(bytes, 8)?,
        word(bytes, 12)?,
    )
}

/// `CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD`: the topology describes a PCIe device.
const TOPOLOGY_PCIE_AMD: u32 = 1;

/// Parses `CL_DEVICE_TOPOLOGY_AMD` (`cl_amd_device_attribute_query`): a `cl_uint` type,
/// 17 unused bytes, then bus, device and function bytes. It carries no domain (0).
pub fn pci_from_amd_topology(bytes: &[u8]) -> Option<PciAddress> {
    if bytes.len() != 24 || word(bytes, 0)? != TOPOLOGY_PCIE_AMD {
        return None;
    }
    PciAddress::new(
        0,
        u32::from(bytes[21]),
        u32::from(bytes[22]),
        u32::from(bytes[23]),
    )
}

/// Builds the address from NVIDIA's `CL_DEVICE_PCI_DOMAIN_ID_NV`, `CL_DEVICE_PCI_BUS_ID_NV`
/// and `CL_DEVICE_PCI_SLOT_ID_NV` (device number times 8 plus function).
pub fn pci_from_nv(domain: u32, bus: u32, slot: u32) -> Option<PciAddress> {
    PciAddress::new(domain, bus, slot >> 3, slot & 7)
}

#[cfg(feature = "nvml")]
mod nvml {
    use super::PciAddress;
    use crate::thermal::TemperatureSource;
    use nvml_wrapper::Nvml;
    use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
    use std::sync::{Arc, OnceLock};
    use tracing::debug;

    /// NVML, initialised once per process; `None` where the library or the driver is
    /// missing.
    fn library() -> Option<Arc<Nvml>> {
        static NVML: OnceLock<Option<Arc<Nvml>>> = OnceLock::new();
        NVML.get_or_init(|| {
            // A library call that panics must not take the miner down.
            match std::panic::catch_unwind(Nvml::init) {
                Ok(Ok(nvml)) => Some(Arc::new(nvml)),
                Ok(Err(e)) => {
                    debug!(target: "otedama::miner", error = %e, "NVML unavailable");
                    None
                }
                Err(_) => None,
            }
        })
        .clone()
    }

    /// The temperature of one NVIDIA GPU through NVML.
    struct NvmlSensor {
        nvml: Arc<Nvml>,
        bus_id: String,
    }

    impl TemperatureSource for NvmlSensor {
        fn temperature(&self) -> Option<f32> {
            let device = self.nvml.device_by_pci_bus_id(self.bus_id.as_str()).ok()?;
            let celsius = device.temperature(TemperatureSensor::Gpu).ok()?;
            Some(celsius as f32)
        }
    }

    /// A sensor for the GPU at `address` when NVML loads and reads a temperature for it.
    pub(super) fn open(address: PciAddress) -> Option<Box<dyn TemperatureSource>> {
        let sensor = NvmlSensor {
            nvml: library()?,
            bus_id: address.to_string(),
        };
        sensor.temperature()?;
        Some(Box::new(sensor))
    }
}

#[cfg(not(feature = "nvml"))]
mod nvml {
    use super::PciAddress;
    use crate::thermal::TemperatureSource;

    /// Built without NVML: no NVIDIA sensors.
    pub(super) fn open(_: PciAddress) -> Option<Box<dyn TemperatureSource>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(domain: u32, bus: u32, device: u32, function: u32) -> PciAddress {
        PciAddress::new(domain, bus, device, function).expect("in range")
    }

    #[test]
    fn addresses_print_as_sysfs_names_them() {
        assert_eq!(addr(0, 1, 0, 0).to_string(), "0000:01:00.0");
        assert_eq!(addr(0x10, 0xc1, 0x1f, 7).to_string(), "0010:c1:1f.7");
        assert_eq!(PciAddress::new(0, 256, 0, 0), None);
        assert_eq!(PciAddress::new(0, 1, 32, 0), None);
        assert_eq!(PciAddress::new(0, 1, 0, 8), None);
    }

    #[test]
    fn opencl_vendor_queries_parse() {
        let mut khr = Vec::new();
        for w in [0u32, 0x03, 0x00, 0x01] {
            khr.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(pci_from_khr(&khr), Some(addr(0, 3, 0, 1)));
        assert_eq!(pci_from_khr(&khr[..12]), None, "short");
        khr[4] = 0xff;
        khr[5] = 0x01; // bus 0x1ff does not fit
        assert_eq!(pci_from_khr(&khr), None);

        let mut amd = vec![0u8; 24];
        amd[..4].copy_from_slice(&1u32.to_le_bytes());
        amd[21..].copy_from_slice(&[0x0a, 0x00, 0x00]);
        assert_eq!(pci_from_amd_topology(&amd), Some(addr(0, 0x0a, 0, 0)));
        amd[0] = 2; // not a PCIe topology
        assert_eq!(pci_from_amd_topology(&amd), None);
        assert_eq!(pci_from_amd_topology(&[1, 0, 0, 0]), None);

        // Slot 0x0b: device 1, function 3.
        assert_eq!(pci_from_nv(0, 0x65, 0x0b), Some(addr(0, 0x65, 1, 3)));
        assert_eq!(pci_from_nv(0, 0x65, 0x100), None);
    }

    #[test]
    fn hwmon_is_found_by_pci_address() {
        let root = std::env::temp_dir().join(format!("otedama-pci-{}", std::process::id()));
        let card = root.join("0000:03:00.0/hwmon");
        // hwmon3 has no temperature file; hwmon5 has one.
        std::fs::create_dir_all(card.join("hwmon3")).expect("mkdir");
        std::fs::create_dir_all(card.join("hwmon5")).expect("mkdir");
        std::fs::write(card.join("hwmon5/temp1_input"), "71000\n").expect("write");
        std::fs::create_dir_all(root.join("0000:04:00.0/hwmon/hwmon1")).expect("mkdir");
        std::fs::write(
            root.join("0000:04:00.0/hwmon/hwmon1/temp1_input"),
            "40000\n",
        )
        .expect("write");

        let sensor = find_hwmon(&root, addr(0, 3, 0, 0)).expect("card 03 has a sensor");
        assert_eq!(sensor.path(), card.join("hwmon5/temp1_input"));
        assert_eq!(sensor.temperature(), Some(71.0));
        let other = find_hwmon(&root, addr(0, 4, 0, 0)).expect("card 04 has a sensor");
        assert_eq!(other.temperature(), Some(40.0));
        assert!(
            find_hwmon(&root, addr(0, 5, 0, 0)).is_none(),
            "no such card"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn no_address_means_no_sensor() {
        assert!(gpu_sensor(None).is_none());
    }

    /// NVML is absent on machines without NVIDIA's driver: looking a card up there is
    /// "no sensor", never a panic.
    #[test]
    fn a_missing_nvml_is_no_sensor() {
        let present = std::path::Path::new("/dev/nvidiactl").exists();
        let sensor = nvml::open(addr(0, 0x7f, 0x1f, 7));
        if !present {
            assert!(sensor.is_none());
        }
    }
}
