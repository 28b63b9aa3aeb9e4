//! Temperature sources: the trait a governor reads, an hwmon file, and a reading set by
//! hand.

use std::sync::{Mutex, PoisonError};

/// A temperature sensor of a device.
pub trait TemperatureSource: Send + Sync {
    /// Returns the current temperature in degrees Celsius, or `None` when the device has
    /// no sensor or the read failed.
    fn temperature(&self) -> Option<f32>;
}

/// A [`TemperatureSource`] whose reading is set by hand, for tests and simulations.
#[derive(Debug, Default)]
pub struct SimulatedTemperature {
    reading: Mutex<Option<f32>>,
}

impl SimulatedTemperature {
    /// Returns a source that reads `reading` until [`SimulatedTemperature::set`].
    pub fn new(reading: Option<f32>) -> SimulatedTemperature {
        SimulatedTemperature {
            reading: Mutex::new(reading),
        }
    }

    /// Sets what the following reads return.
    pub fn set(&self, reading: Option<f32>) {
        *self.reading.lock().unwrap_or_else(PoisonError::into_inner) = reading;
    }
}

impl TemperatureSource for SimulatedTemperature {
    fn temperature(&self) -> Option<f32> {
        *self.reading.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A temperature read from a Linux hwmon file (`temp*_input`, millidegrees Celsius), as
/// amdgpu, nouveau and most board sensors publish them.
#[derive(Debug, Clone)]
pub struct HwmonSensor {
    path: std::path::PathBuf,
}

impl HwmonSensor {
    /// Reads `path` on every call.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        HwmonSensor { path: path.into() }
    }

    /// The file it reads.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl TemperatureSource for HwmonSensor {
    fn temperature(&self) -> Option<f32> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let millis: i64 = text.trim().parse().ok()?;
        Some(millis as f32 / 1000.0)
    }
}
