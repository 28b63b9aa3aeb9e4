//! The byte pipe between the host and a chain of chips.

use crate::thermal::TemperatureSource;
use std::io;
use std::time::Duration;

/// A serial link to a chain of BM13xx chips: a USB bridge, or the emulator.
pub trait Transport: Send {
    /// Returns a name for logs and stats ("usb:3-1.2", "sim").
    fn name(&self) -> String;

    /// Writes a whole frame.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Reads what arrives within `timeout` into `buf`; `Ok(0)` when nothing came.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;

    /// Changes the link's baud rate (after the chips were told to change theirs).
    fn set_baud(&mut self, baud: u32) -> io::Result<()>;

    /// A temperature sensor that comes with the link, if it has one (the emulator
    /// models its dies; plain USB bridges carry no sensor).
    fn sensor(&self) -> Option<Box<dyn TemperatureSource>> {
        None
    }
}
