//! USB-to-UART bridges of BM13xx miners, driven with libusb: Silicon Labs CP210x
//! (Compac, 2Pac, Compac A1/A2) and FTDI FT230X (NewPac, CompacF).
//!
//! libusb is opened with an explicit [`rusb::Context`]: a machine without USB (or
//! without permission to it) yields "no devices", never a panic. Opening a device
//! detaches the kernel's serial driver from it for as long as it is held.

use super::transport::Transport;
use rusb::{Context, Device, DeviceHandle, Direction, TransferType, UsbContext};
use std::io;
use std::time::Duration;
use tracing::debug;

const LOG: &str = "otedama::miner::asic";
const CONTROL_TIMEOUT: Duration = Duration::from_millis(500);
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The bridge chip between USB and the ASIC UART.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bridge {
    /// Silicon Labs CP2102 / CP2105.
    Cp210x,
    /// FTDI FT230X: bulk-in packets start with two modem-status bytes.
    Ftdi,
}

/// A known miner: USB ids, the bridge, and what it usually carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDevice {
    /// USB vendor id.
    pub vendor: u16,
    /// USB product id.
    pub product: u16,
    /// The bridge.
    pub bridge: Bridge,
    /// What the ids are found on.
    pub description: &'static str,
}

/// The USB ids of BM13xx miners with a UART bridge.
pub const KNOWN_DEVICES: [KnownDevice; 3] = [
    KnownDevice {
        vendor: 0x10c4,
        product: 0xea60,
        bridge: Bridge::Cp210x,
        description: "CP2102 bridge (GekkoScience Compac/2Pac/Terminus)",
    },
    KnownDevice {
        vendor: 0x10c4,
        product: 0xea70,
        bridge: Bridge::Cp210x,
        description: "CP2105 bridge (GekkoScience Compac A1/A2; interface 0 is the ASIC)",
    },
    KnownDevice {
        vendor: 0x0403,
        product: 0x6015,
        bridge: Bridge::Ftdi,
        description: "FT230X bridge (GekkoScience NewPac/CompacF, R606, R909)",
    },
];

/// A miner found on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// Bus number.
    pub bus: u8,
    /// Device address on the bus.
    pub address: u8,
    /// What it is.
    pub known: KnownDevice,
}

impl UsbDevice {
    /// "usb:BUS-ADDRESS", as devices are named in config and stats.
    pub fn name(&self) -> String {
        format!("usb:{}-{}", self.bus, self.address)
    }
}

/// Why a USB device could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    /// libusb failed.
    #[error("{device}: {source}")]
    Usb {
        /// The device.
        device: String,
        /// The error.
        source: rusb::Error,
    },
    /// The device is gone or was never there.
    #[error("{0}: no such device")]
    NotFound(String),
    /// The interface has no bulk endpoints.
    #[error("{0}: no bulk endpoints")]
    NoEndpoints(String),
}

/// Lists the known miners on the machine's USB buses. No libusb access (no USB, a
/// container, no permission) is "no devices".
pub fn discover() -> Vec<UsbDevice> {
    let context = match Context::new() {
        Ok(c) => c,
        Err(e) => {
            debug!(target: LOG, error = %e, "libusb unavailable; no USB miners");
            return Vec::new();
        }
    };
    let devices = match context.devices() {
        Ok(d) => d,
        Err(e) => {
            debug!(target: LOG, error = %e, "listing USB devices failed");
            return Vec::new();
        }
    };
    devices
        .iter()
        .filter_map(|device| {
            let descriptor = device.device_descriptor().ok()?;
            let known = KNOWN_DEVICES.into_iter().find(|k| {
                k.vendor == descriptor.vendor_id() && k.product == descriptor.product_id()
            })?;
            Some(UsbDevice {
                bus: device.bus_number(),
                address: device.address(),
                known,
            })
        })
        .collect()
}

/// A bridge opened for a chain: bulk endpoints of interface 0.
pub struct UsbTransport {
    name: String,
    bridge: Bridge,
    handle: DeviceHandle<Context>,
    interface: u8,
    endpoint_in: u8,
    endpoint_out: u8,
    packet: usize,
}

impl UsbTransport {
    /// Opens `device`, claims its first interface and sets the UART to 115 200 8N1.
    ///
    /// # Errors
    /// [`UsbError`] when the device is gone, busy or lacks bulk endpoints.
    pub fn open(device: &UsbDevice) -> Result<UsbTransport, UsbError> {
        let name = device.name();
        let usb = |source| UsbError::Usb {
            device: name.clone(),
            source,
        };
        let context = Context::new().map_err(usb)?;
        let found: Device<Context> = context
            .devices()
            .map_err(usb)?
            .iter()
            .find(|d| d.bus_number() == device.bus && d.address() == device.address)
            .ok_or_else(|| UsbError::NotFound(name.clone()))?;
        let config = found.active_config_descriptor().map_err(usb)?;
        let interface = 0u8;
        let mut endpoints = (None, None, 64usize);
        if let Some(iface) = config.interfaces().find(|i| i.number() == interface)
            && let Some(alt) = iface.descriptors().next()
        {
            for ep in alt.endpoint_descriptors() {
                if ep.transfer_type() != TransferType::Bulk {
                    continue;
                }
                match ep.direction() {
                    Direction::In => {
                        endpoints.0 = Some(ep.address());
                        endpoints.2 = usize::from(ep.max_packet_size()).max(8);
                    }
                    Direction::Out => endpoints.1 = Some(ep.address()),
                }
            }
        }
        let (Some(endpoint_in), Some(endpoint_out), packet) = endpoints else {
            return Err(UsbError::NoEndpoints(name));
        };
        let handle = found.open().map_err(usb)?;
        // Not every platform can detach kernel drivers; claiming then tells.
        let _ = handle.set_auto_detach_kernel_driver(true);
        handle.claim_interface(interface).map_err(usb)?;
        let mut t = UsbTransport {
            name: name.clone(),
            bridge: device.known.bridge,
            handle,
            interface,
            endpoint_in,
            endpoint_out,
            packet,
        };
        t.configure().map_err(usb)?;
        t.set_baud(super::chain::BOOT_BAUD)
            .map_err(|e| UsbError::Usb {
                device: name,
                source: rusb_error(&e),
            })?;
        Ok(t)
    }

    fn control(
        &self,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        data: &[u8],
    ) -> rusb::Result<()> {
        self.handle
            .write_control(request_type, request, value, index, data, CONTROL_TIMEOUT)
            .map(|_| ())
    }

    fn configure(&mut self) -> rusb::Result<()> {
        let index = u16::from(self.interface);
        match self.bridge {
            Bridge::Cp210x => {
                // Vendor request to the interface: enable the UART, 8N1, DTR and RTS on.
                self.control(CP210X_OUT, CP210X_IFC_ENABLE, 1, index, &[])?;
                self.control(CP210X_OUT, CP210X_SET_LINE_CTL, 0x0800, index, &[])?;
                self.control(CP210X_OUT, CP210X_SET_MHS, 0x0303, index, &[])
            }
            Bridge::Ftdi => {
                let port = index + 1;
                self.control(FTDI_OUT, FTDI_RESET, 0, port, &[])?;
                self.control(FTDI_OUT, FTDI_MODEM_CTRL, 0x0303, port, &[])?;
                self.control(FTDI_OUT, FTDI_SET_FLOW_CTRL, 0, port, &[])?;
                self.control(FTDI_OUT, FTDI_SET_DATA, 0x0008, port, &[])?;
                self.control(FTDI_OUT, FTDI_SET_LATENCY, 2, port, &[])
            }
        }
    }
}

const CP210X_OUT: u8 = 0x41;
const CP210X_IFC_ENABLE: u8 = 0x00;
const CP210X_SET_LINE_CTL: u8 = 0x03;
const CP210X_SET_MHS: u8 = 0x07;
const CP210X_SET_BAUDRATE: u8 = 0x1e;
const FTDI_OUT: u8 = 0x40;
const FTDI_RESET: u8 = 0;
const FTDI_MODEM_CTRL: u8 = 1;
const FTDI_SET_FLOW_CTRL: u8 = 2;
const FTDI_SET_BAUD: u8 = 3;
const FTDI_SET_DATA: u8 = 4;
const FTDI_SET_LATENCY: u8 = 9;

/// The FTDI FT-X baud divisor of `baud` (3 MHz base clock, eighths as a 3-bit code
/// in bits 14-16) as the (value, index) of the SET_BAUD request.
pub fn ftdi_divisor(baud: u32) -> (u16, u16) {
    const BASE: u32 = 3_000_000;
    // Divisors 0 and 1 are special: 3 and 2 Mbaud.
    if baud >= BASE {
        return (0, 0);
    }
    if baud >= 2_000_000 {
        return (1, 0);
    }
    let eighths = (BASE * 8 + baud / 2) / baud.max(1);
    let (whole, frac) = (eighths / 8, eighths % 8);
    // The sub-integer code of each eighth: 0, 1/8, 1/4, 3/8, 1/2, 5/8, 3/4, 7/8.
    const CODE: [u32; 8] = [0, 3, 2, 4, 1, 5, 6, 7];
    let encoded = whole.min(0x3fff) | (CODE[frac as usize] << 14);
    ((encoded & 0xffff) as u16, (encoded >> 16) as u16)
}

fn rusb_error(e: &io::Error) -> rusb::Error {
    match e.kind() {
        io::ErrorKind::TimedOut => rusb::Error::Timeout,
        io::ErrorKind::NotFound => rusb::Error::NoDevice,
        _ => rusb::Error::Io,
    }
}

fn io_error(e: rusb::Error) -> io::Error {
    let kind = match e {
        rusb::Error::Timeout => io::ErrorKind::TimedOut,
        rusb::Error::NoDevice | rusb::Error::NotFound => io::ErrorKind::NotFound,
        rusb::Error::Access => io::ErrorKind::PermissionDenied,
        rusb::Error::Busy => io::ErrorKind::ResourceBusy,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl Transport for UsbTransport {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut sent = 0;
        while sent < bytes.len() {
            let n = self
                .handle
                .write_bulk(self.endpoint_out, &bytes[sent..], WRITE_TIMEOUT)
                .map_err(io_error)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "bridge took no bytes",
                ));
            }
            sent += n;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let mut raw = vec![0u8; self.packet.max(buf.len())];
        let n = match self.handle.read_bulk(
            self.endpoint_in,
            &mut raw,
            timeout.max(Duration::from_millis(1)),
        ) {
            Ok(n) => n,
            Err(rusb::Error::Timeout) => return Ok(0),
            Err(e) => return Err(io_error(e)),
        };
        let data: Vec<u8> = match self.bridge {
            Bridge::Cp210x => raw[..n].to_vec(),
            // Each packet of up to `packet` bytes starts with two modem-status bytes.
            Bridge::Ftdi => raw[..n]
                .chunks(self.packet)
                .flat_map(|p| p.get(2..).unwrap_or_default().iter().copied())
                .collect(),
        };
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        let index = u16::from(self.interface);
        match self.bridge {
            Bridge::Cp210x => self.control(
                CP210X_OUT,
                CP210X_SET_BAUDRATE,
                0,
                index,
                &baud.to_le_bytes(),
            ),
            Bridge::Ftdi => {
                let (value, high) = ftdi_divisor(baud);
                self.control(
                    FTDI_OUT,
                    FTDI_SET_BAUD,
                    value,
                    (high << 8) | (index + 1),
                    &[],
                )
            }
        }
        .map_err(io_error)
    }
}

impl Drop for UsbTransport {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.interface);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftdi_divisors() {
        // 3 MHz / 115 200 = 26.04: divisor 26, no fraction.
        assert_eq!(ftdi_divisor(115_200), (26, 0));
        // 3 MHz / 1 500 000 = 2.
        assert_eq!(ftdi_divisor(1_500_000), (2, 0));
        // 3 MHz / 9600 = 312.5: 312 and the code of 1/2 (1) in bit 14.
        assert_eq!(ftdi_divisor(9600), (312 | (1 << 14), 0));
        // 3 MHz / 38 400 = 78.125: 78 and the code of 1/8 (3): bits 14 and 15.
        assert_eq!(ftdi_divisor(38_400), (78 | (3 << 14), 0));
        assert_eq!(ftdi_divisor(3_125_000), (0, 0));
        assert_eq!(ftdi_divisor(2_000_000), (1, 0));
    }

    /// Without USB access (containers, CI) discovery is empty and nothing panics.
    #[test]
    fn discovery_never_panics() {
        let devices = discover();
        for d in &devices {
            assert!(KNOWN_DEVICES.contains(&d.known));
        }
    }
}
