//! A thermal governor: a pure state machine that turns temperature readings into the
//! intensity a device should run at, in the manner of cgminer's `--temp-target`,
//! `--temp-hysteresis` and `--temp-cutoff`.
//!
//! It reads no clock and no sensor: the caller passes each reading to
//! [`ThermalGovernor::observe`] (or lets it read a [`TemperatureSource`]) at its own pace,
//! so the same readings always give the same decisions.
//!
//! - Above `limit`, the intensity steps down once per reading, to `min`; at `min` and still
//!   above the limit, the device pauses.
//! - Below `limit - hysteresis`, a paused device resumes at `min`, and the intensity steps
//!   back up once per reading, to `max`. Between the two, nothing changes.
//! - At or above `cutoff`, the device is cut off, and stays so until
//!   [`ThermalGovernor::reset`], whatever the later readings.
//! - A missing reading changes nothing: no data is no reason to throttle or to resume.
//!
//! What a unit of intensity means (a duty-cycle percent, a GPU intensity, a frequency
//! step) is up to the backend.
//!
//! - `governor`: the settings ([`ThermalConfig`]) and the state machine
//!   ([`ThermalGovernor`]), with the [`Decision`] it returns.
//! - `sensor`: where readings come from ([`TemperatureSource`]): hwmon files, or a
//!   reading set by hand.
//! - `governed`: [`Governed`], a hash backend run under a governor.

mod governed;
mod governor;
mod sensor;

pub use governed::Governed;
pub use governor::{
    DEFAULT_CUTOFF_MARGIN, DEFAULT_HYSTERESIS, Decision, MAX_LIMIT, MIN_LIMIT, ThermalConfig,
    ThermalConfigError, ThermalGovernor,
};
pub use sensor::{HwmonSensor, SimulatedTemperature, TemperatureSource};

#[cfg(test)]
mod tests;
