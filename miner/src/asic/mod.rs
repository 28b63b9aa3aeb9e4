//! BM13xx SHA256d ASICs (BM1397, BM1366, BM1368, BM1370) on a serial chain.
//!
//! - `crc`, `protocol`, `chip`, `pll`: the wire format as pure functions: CRC5 and CRC16,
//!   commands, job packing for both job layouts, reply parsing with resynchronisation,
//!   ticket and version masks, PLL dividers.
//! - [`Transport`]: bytes to and from a chain. [`usb`] drives CP210x and FTDI USB
//!   bridges with libusb (feature `usb`); [`sim::ChainSim`] is an in-process chain of
//!   emulated chips with fault injection, for tests and the devnet.
//! - [`Chain`]: enumeration and addressing, initialisation, frequency ramps, jobs and
//!   nonce collection with duplicate and stale-job filtering.
//! - [`AsicBackend`]: a chain as a [`crate::HashBackend`], so the miner's client, CPU
//!   re-check and share submission work unchanged.

mod backend;
mod chain;
mod chip;
mod crc;
mod device;
mod pll;
pub mod protocol;
pub mod sim;
mod transport;
#[cfg(feature = "usb")]
pub mod usb;

pub use backend::{AsicBackend, AsicStats, THERMAL_FLOOR};
pub use chain::{Chain, ChainConfig, ChainCounters, ChainError, Found};
pub use chip::{ChipFamily, UnknownFamily};
pub use crc::{crc5, crc5_bits, crc16};
pub use device::{DeviceSpec, DeviceSpecError, open_chains};
pub use pll::{Pll, ramp};
pub use transport::Transport;
#[cfg(test)]
mod tests;
