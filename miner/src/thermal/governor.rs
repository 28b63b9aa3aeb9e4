//! The thermal state machine and its settings (see the module documentation of
//! [`crate::thermal`]).

use super::TemperatureSource;
use serde::{Deserialize, Serialize};

/// Lowest accepted `limit`, in degrees Celsius.
pub const MIN_LIMIT: f32 = 40.0;
/// Highest accepted `limit`, in degrees Celsius.
pub const MAX_LIMIT: f32 = 105.0;
/// Default `hysteresis`, in degrees Celsius (cgminer's `--temp-hysteresis`).
pub const DEFAULT_HYSTERESIS: f32 = 3.0;
/// How far above `limit` the cut-off lies when `cutoff` is not set, in degrees Celsius.
pub const DEFAULT_CUTOFF_MARGIN: f32 = 10.0;

/// The settings of a [`ThermalGovernor`]. Temperatures are in degrees Celsius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThermalConfig {
    /// The device throttles while its temperature is above this (40..=105).
    pub limit: f32,
    /// The device recovers only below `limit - hysteresis` (0 <= hysteresis < limit).
    pub hysteresis: f32,
    /// At or above this the device is cut off until reset; `None` is
    /// `limit + 10`. Must be above `limit`.
    pub cutoff: Option<f32>,
    /// The lowest intensity run before pausing.
    pub min_intensity: u32,
    /// The configured intensity: the one run while the device is cool.
    pub max_intensity: u32,
    /// How much the intensity changes per reading (at least 1).
    pub step: u32,
}

impl Default for ThermalConfig {
    fn default() -> Self {
        ThermalConfig {
            limit: 85.0,
            hysteresis: DEFAULT_HYSTERESIS,
            cutoff: None,
            min_intensity: 10,
            max_intensity: 100,
            step: 10,
        }
    }
}

impl ThermalConfig {
    /// Returns the cut-off temperature: `cutoff`, or `limit + 10`.
    pub fn cutoff(&self) -> f32 {
        self.cutoff.unwrap_or(self.limit + DEFAULT_CUTOFF_MARGIN)
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`ThermalConfigError`] for a limit outside 40..=105, a hysteresis outside
    /// `0..limit`, a cut-off not above the limit, `min_intensity > max_intensity`, a zero
    /// step, or a temperature that is not a finite number.
    pub fn validate(&self) -> Result<(), ThermalConfigError> {
        if !(MIN_LIMIT..=MAX_LIMIT).contains(&self.limit) {
            return Err(ThermalConfigError::Limit(self.limit));
        }
        if !(0.0..self.limit).contains(&self.hysteresis) {
            return Err(ThermalConfigError::Hysteresis {
                hysteresis: self.hysteresis,
                limit: self.limit,
            });
        }
        let cutoff = self.cutoff();
        if !cutoff.is_finite() || cutoff <= self.limit {
            return Err(ThermalConfigError::Cutoff {
                cutoff,
                limit: self.limit,
            });
        }
        if self.min_intensity > self.max_intensity {
            return Err(ThermalConfigError::IntensityRange {
                min: self.min_intensity,
                max: self.max_intensity,
            });
        }
        if self.step == 0 {
            return Err(ThermalConfigError::ZeroStep);
        }
        Ok(())
    }
}

/// What is wrong with a [`ThermalConfig`].
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ThermalConfigError {
    /// The limit is outside 40..=105 degrees Celsius (or not a number).
    #[error("temperature limit {0} C outside {MIN_LIMIT}..={MAX_LIMIT} C")]
    Limit(f32),
    /// The hysteresis is negative, not below the limit, or not a number.
    #[error("hysteresis {hysteresis} C must be at least 0 and below the limit {limit} C")]
    Hysteresis {
        /// The configured hysteresis.
        hysteresis: f32,
        /// The configured limit.
        limit: f32,
    },
    /// The cut-off is not above the limit, or not a number.
    #[error("cut-off {cutoff} C must be above the limit {limit} C")]
    Cutoff {
        /// The configured (or derived) cut-off.
        cutoff: f32,
        /// The configured limit.
        limit: f32,
    },
    /// The lowest intensity is above the highest.
    #[error("intensity range {min}..={max} is empty")]
    IntensityRange {
        /// The configured lowest intensity.
        min: u32,
        /// The configured highest intensity.
        max: u32,
    },
    /// The intensity step is zero.
    #[error("the intensity step must be at least 1")]
    ZeroStep,
}

/// What a device should do after a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run at this intensity.
    Run(u32),
    /// Stop hashing until it cools below `limit - hysteresis`.
    Paused,
    /// Overheated: stop hashing until [`ThermalGovernor::reset`].
    CutOff,
}

/// The thermal state machine of one device. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ThermalGovernor {
    config: ThermalConfig,
    intensity: u32,
    paused: bool,
    cut_off: bool,
    missing: u32,
}

impl ThermalGovernor {
    /// Returns a governor running at `config.max_intensity`.
    ///
    /// # Errors
    /// [`ThermalConfigError`] when [`ThermalConfig::validate`] fails.
    pub fn new(config: ThermalConfig) -> Result<ThermalGovernor, ThermalConfigError> {
        config.validate()?;
        Ok(ThermalGovernor {
            config,
            intensity: config.max_intensity,
            paused: false,
            cut_off: false,
            missing: 0,
        })
    }

    /// Returns the settings.
    pub fn config(&self) -> &ThermalConfig {
        &self.config
    }

    /// Returns the current decision without a new reading.
    pub fn decision(&self) -> Decision {
        if self.cut_off {
            Decision::CutOff
        } else if self.paused {
            Decision::Paused
        } else {
            Decision::Run(self.intensity)
        }
    }

    /// Returns how many readings in a row were missing (0 after a reading).
    pub fn missing_readings(&self) -> u32 {
        self.missing
    }

    /// Takes one reading in degrees Celsius and returns what the device should do.
    /// `None` (no sensor, a failed read) and non-finite readings hold the current state.
    pub fn observe(&mut self, temperature: Option<f32>) -> Decision {
        let Some(t) = temperature.filter(|t| t.is_finite()) else {
            self.missing = self.missing.saturating_add(1);
            return self.decision();
        };
        self.missing = 0;
        if self.cut_off {
            return Decision::CutOff;
        }
        let ThermalConfig {
            limit,
            hysteresis,
            min_intensity: min,
            max_intensity: max,
            step,
            ..
        } = self.config;
        if t >= self.config.cutoff() {
            self.cut_off = true;
        } else if t > limit {
            if self.intensity > min {
                self.intensity = self.intensity.saturating_sub(step).max(min);
            } else {
                self.paused = true;
            }
        } else if t < limit - hysteresis {
            if self.paused {
                self.paused = false;
            } else {
                self.intensity = self.intensity.saturating_add(step).min(max);
            }
        }
        self.decision()
    }

    /// Reads `source` and passes the reading to [`ThermalGovernor::observe`].
    pub fn poll(&mut self, source: &dyn TemperatureSource) -> Decision {
        self.observe(source.temperature())
    }

    /// Clears the cut-off latch and returns to the state of a new governor: running at
    /// `max_intensity`. The next reading above the limit throttles again.
    pub fn reset(&mut self) {
        self.intensity = self.config.max_intensity;
        self.paused = false;
        self.cut_off = false;
        self.missing = 0;
    }
}
