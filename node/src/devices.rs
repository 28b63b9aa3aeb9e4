//! `otedama-node devices`: the mining hardware of this machine, as a node started here
//! would find it: CPU kernels, RandomX's features and pages, OpenCL and CUDA devices
//! (with the indices `mining.gpu.devices` takes, their PCI addresses and temperature
//! sensors) and USB miners.

use otedama_miner::gpu_sensor::{PciAddress, gpu_sensor};
use otedama_miner::{CpuKernel, PowAlgorithm};
use serde::Serialize;
use std::fmt::Write as _;

/// Everything `devices` found.
#[derive(Debug, Serialize)]
pub struct DeviceReport {
    /// The CPU.
    pub cpu: CpuReport,
    /// What a RandomX miner on every thread would get here.
    pub randomx: RandomxReport,
    /// OpenCL devices, or why there are none.
    pub opencl: Listing<GpuEntry>,
    /// CUDA devices, or why there are none.
    pub cuda: Listing<GpuEntry>,
    /// Known USB miners (BM13xx chains behind a UART bridge).
    pub usb: Vec<UsbEntry>,
}

/// The CPU's threads and the kernels it runs, fastest (the default) first.
#[derive(Debug, Serialize)]
pub struct CpuReport {
    /// Logical CPUs (`mining.cpu.threads: 0` runs one thread each).
    pub threads: usize,
    /// SHA256d kernels.
    pub sha256d: Vec<&'static str>,
    /// Scrypt kernels.
    pub scrypt: Vec<&'static str>,
}

/// RandomX on this machine: the library's features, the mode and the pages a fast-mode
/// miner on every thread would get.
#[derive(Debug, Serialize)]
pub struct RandomxReport {
    /// Programs compiled to machine code.
    pub jit: bool,
    /// The CPU's AES instructions used.
    pub hard_aes: bool,
    /// The JIT keeps its code W^X.
    pub secure_jit: bool,
    /// The Argon2 implementation filling the cache: avx2, ssse3 or portable.
    pub argon2: &'static str,
    /// Inputs each mining thread hashes at once: 2 where each core runs one hardware
    /// thread (the compiled VM's pairs), else 1.
    pub hashes_per_thread: usize,
    /// `fast` (the 2 GiB dataset) or `light` (too little memory: about 8x slower).
    pub mode: &'static str,
    /// `MemAvailable`, bytes.
    pub mem_available: Option<u64>,
    /// The bytes fast mode needs on every thread.
    pub fast_mode_bytes: u64,
    /// The pages, and the sysctl to reserve them when short.
    #[serde(flatten)]
    pub pages: otedama_miner::randomx::PagePlan,
}

pub(crate) fn randomx_report(threads: usize) -> RandomxReport {
    use otedama_miner::randomx as rx;
    let flags = rx::RandomxFlags::detect();
    let mem_available = rx::mem_available();
    let fast_mode_bytes = rx::fast_mode_bytes(threads);
    RandomxReport {
        jit: flags.jit(),
        hard_aes: flags.hard_aes(),
        secure_jit: flags.secure_jit(),
        argon2: flags.argon2(),
        hashes_per_thread: rx::hashes_per_thread(),
        mode: if mem_available.is_some_and(|m| m < fast_mode_bytes) {
            "light"
        } else {
            "fast"
        },
        mem_available,
        fast_mode_bytes,
        pages: rx::PagePlan::detect(threads),
    }
}

/// Devices of one API, or the reason the API is unavailable.
#[derive(Debug, Serialize)]
pub struct Listing<T> {
    /// The devices found.
    pub devices: Vec<T>,
    /// Why the API cannot be used here, when it cannot.
    pub unavailable: Option<String>,
}

/// A GPU (or other OpenCL device).
#[derive(Debug, Serialize)]
pub struct GpuEntry {
    /// The index `mining.gpu.devices` takes.
    pub index: usize,
    /// The device's name.
    pub name: String,
    /// OpenCL: "gpu", "cpu" or "other"; CUDA: "gpu".
    pub kind: &'static str,
    /// OpenCL platform, or the CUDA compute capability ("sm_90").
    pub detail: String,
    /// Device memory in bytes.
    pub memory_bytes: u64,
    /// Whether the node mines on it when `mining.gpu.devices` is empty.
    pub auto: bool,
    /// The card's PCI address.
    pub pci: Option<String>,
    /// The temperature sensor the node would hold the card to its limit with.
    pub sensor: Option<SensorEntry>,
}

/// A temperature sensor and its current reading.
#[derive(Debug, Serialize)]
pub struct SensorEntry {
    /// A hwmon file, or `nvml <address>`.
    pub origin: String,
    /// Degrees Celsius now, when the read succeeds.
    pub celsius: Option<f32>,
}

/// A USB miner.
#[derive(Debug, Serialize)]
pub struct UsbEntry {
    /// The name `mining.asic.devices` takes (`usb:BUS-ADDRESS`).
    pub name: String,
    /// What the USB ids are found on.
    pub description: &'static str,
}

fn sensor(pci: Option<PciAddress>) -> Option<SensorEntry> {
    gpu_sensor(pci).map(|s| SensorEntry {
        celsius: s.source.temperature(),
        origin: s.origin,
    })
}

impl<T> Listing<T> {
    /// The devices an API listed, or why it could not list any.
    fn of<E: std::fmt::Display>(found: Result<Vec<T>, E>) -> Listing<T> {
        match found {
            Ok(devices) => Listing {
                devices,
                unavailable: None,
            },
            Err(e) => Listing {
                devices: Vec::new(),
                unavailable: Some(e.to_string()),
            },
        }
    }
}

fn opencl() -> Listing<GpuEntry> {
    Listing::of(otedama_miner::opencl::list_devices().map(|devices| {
        devices
            .into_iter()
            .map(|d| GpuEntry {
                auto: d.kind != "cpu",
                index: d.index,
                name: d.name,
                kind: d.kind,
                detail: d.platform,
                memory_bytes: d.global_mem,
                pci: d.pci.map(|a| a.to_string()),
                sensor: sensor(d.pci),
            })
            .collect()
    }))
}

fn cuda() -> Listing<GpuEntry> {
    Listing::of(otedama_miner::cuda::devices().map(|devices| {
        devices
            .into_iter()
            .map(|d| GpuEntry {
                auto: true,
                index: d.index,
                name: d.name,
                kind: "gpu",
                detail: format!("sm_{}{}", d.compute_capability.0, d.compute_capability.1),
                memory_bytes: d.total_mem,
                pci: d.pci.map(|a| a.to_string()),
                sensor: sensor(d.pci),
            })
            .collect()
    }))
}

fn usb() -> Vec<UsbEntry> {
    otedama_miner::asic::usb::discover()
        .into_iter()
        .map(|d| UsbEntry {
            name: d.name(),
            description: d.known.description,
        })
        .collect()
}

/// Looks for every kind of device. Never fails: an API that cannot be used says why.
pub fn report() -> DeviceReport {
    let kernels = |algorithm| {
        let mut k = CpuKernel::supported(algorithm);
        let best = CpuKernel::best(algorithm);
        k.sort_by_key(|&k| (k != best, k == CpuKernel::Portable));
        k.into_iter().map(CpuKernel::backend_name).collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    DeviceReport {
        cpu: CpuReport {
            threads,
            sha256d: kernels(PowAlgorithm::Sha256d),
            scrypt: kernels(PowAlgorithm::Scrypt),
        },
        randomx: randomx_report(threads),
        opencl: opencl(),
        cuda: cuda(),
        usb: usb(),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

fn gpu_table(out: &mut String, title: &str, listing: &Listing<GpuEntry>) {
    if let Some(why) = &listing.unavailable {
        let _ = writeln!(out, "{title}: {why}");
        return;
    }
    let _ = writeln!(out, "{title}:");
    let _ = writeln!(
        out,
        "  {:<5} {:<5} {:<4} {:<36} {:<30} {:>9} {:<12} TEMPERATURE",
        "INDEX", "KIND", "AUTO", "NAME", "PLATFORM / ARCH", "MEMORY", "PCI"
    );
    for d in &listing.devices {
        let temperature = match &d.sensor {
            Some(SensorEntry {
                origin,
                celsius: Some(c),
            }) => format!("{c:.1} C ({origin})"),
            Some(SensorEntry { origin, .. }) => format!("no reading ({origin})"),
            None => "no sensor".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:<5} {:<5} {:<4} {:<36} {:<30} {:>9} {:<12} {temperature}",
            d.index,
            d.kind,
            if d.auto { "yes" } else { "no" },
            d.name,
            d.detail,
            gib(d.memory_bytes),
            d.pci.as_deref().unwrap_or("-"),
        );
    }
}

/// The report as text tables.
pub fn render(report: &DeviceReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "cpu: {} threads", report.cpu.threads);
    let _ = writeln!(
        out,
        "  sha256d kernels: {} (first is the default)",
        report.cpu.sha256d.join(", ")
    );
    let _ = writeln!(out, "  scrypt kernels:  {}", report.cpu.scrypt.join(", "));
    let rx = &report.randomx;
    let yes = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(
        out,
        "randomx: jit {}, hard aes {}, secure jit {}, argon2 {}, hashes per thread {}",
        yes(rx.jit),
        yes(rx.hard_aes),
        yes(rx.secure_jit),
        rx.argon2,
        rx.hashes_per_thread
    );
    let _ = writeln!(
        out,
        "  mode on {} threads: {} ({} needed, {} available); dataset pages: {} \
         (reserved 1 GiB pages {}; reserved 2 MiB pages free {} of {} needed; transparent \
         huge pages {})",
        report.cpu.threads,
        rx.mode,
        gib(rx.fast_mode_bytes),
        rx.mem_available.map_or_else(|| "unknown".to_owned(), gib),
        rx.pages.pages,
        rx.pages.gigantic_free.map_or_else(
            || "absent".to_owned(),
            |free| format!("free {free} of {} needed", rx.pages.gigantic_needed)
        ),
        rx.pages.hugetlb_free,
        rx.pages.hugetlb_needed,
        rx.pages.transparent.as_deref().unwrap_or("absent"),
    );
    if let Some(hint) = &rx.pages.hint {
        let _ = writeln!(out, "  hint: {hint}");
    }
    gpu_table(
        &mut out,
        "opencl (mining.gpu.backend: opencl)",
        &report.opencl,
    );
    gpu_table(&mut out, "cuda (mining.gpu.backend: cuda)", &report.cuda);
    if report.usb.is_empty() {
        let _ = writeln!(out, "usb miners: none found");
    } else {
        let _ = writeln!(out, "usb miners:");
        for d in &report.usb {
            let _ = writeln!(out, "  {:<12} {}", d.name, d.description);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_the_cpu_kernels_and_says_why_an_api_is_missing() {
        let report = report();
        assert!(report.cpu.threads >= 1);
        for kernels in [&report.cpu.sha256d, &report.cpu.scrypt] {
            assert!(kernels.contains(&"cpu-portable"), "{kernels:?}");
        }
        assert_eq!(
            report.cpu.sha256d[0],
            CpuKernel::best(PowAlgorithm::Sha256d).backend_name()
        );
        for listing in [&report.opencl, &report.cuda] {
            assert!(
                listing.unavailable.is_some() || !listing.devices.is_empty(),
                "an available API lists a device"
            );
        }
        let text = render(&report);
        assert!(text.starts_with("cpu: "), "{text}");
        assert!(text.contains("\nrandomx: jit "), "{text}");
        assert!(text.contains("dataset pages: "), "{text}");
        assert!(
            ["1g", "hugetlb", "thp", "4k"].contains(&report.randomx.pages.pages),
            "{:?}",
            report.randomx
        );
        assert!(
            text.contains("opencl (mining.gpu.backend: opencl)"),
            "{text}"
        );
        assert!(text.contains("cuda (mining.gpu.backend: cuda)"), "{text}");
        let json = serde_json::to_value(&report).expect("serialises");
        assert!(json["cpu"]["sha256d"].is_array());
        assert!(json["randomx"]["jit"].is_boolean() && json["randomx"]["pages"].is_string());
    }
}
