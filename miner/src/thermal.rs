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

use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError};

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

/// Runs a backend under a [`ThermalGovernor`]: before each scan it reads the sensor;
/// intensity below 100 % idles the device for the rest of each duty cycle, a pause or
/// cutoff skips the scan (the thread sleeps and looks again), and a cutoff stays until
/// [`Governed::reset`].
pub struct Governed {
    inner: std::sync::Arc<dyn crate::HashBackend>,
    sensor: Box<dyn TemperatureSource>,
    governor: std::sync::Mutex<ThermalGovernor>,
    /// How long a paused scan waits before reading the sensor again.
    pause: std::time::Duration,
}

impl std::fmt::Debug for Governed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governed")
            .field("backend", &self.inner.name())
            .field("decision", &self.decision())
            .finish_non_exhaustive()
    }
}

impl Governed {
    /// Wraps `inner`; `pause` is how long a held scan waits.
    pub fn new(
        inner: std::sync::Arc<dyn crate::HashBackend>,
        sensor: Box<dyn TemperatureSource>,
        governor: ThermalGovernor,
        pause: std::time::Duration,
    ) -> Self {
        Governed {
            inner,
            sensor,
            governor: std::sync::Mutex::new(governor),
            pause,
        }
    }

    /// The governor's current decision.
    pub fn decision(&self) -> Decision {
        self.lock().decision()
    }

    /// The sensor's reading now.
    pub fn temperature(&self) -> Option<f32> {
        self.sensor.temperature()
    }

    /// Clears a cutoff (after the operator looked at the device).
    pub fn reset(&self) {
        self.lock().reset();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThermalGovernor> {
        self.governor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Observes the sensor; returns the duty cycle to run at (1..=100), or `None` to hold.
    fn admit(&self, stop: &std::sync::atomic::AtomicBool) -> Option<u32> {
        let mut governor = self.lock();
        let decision = governor.poll(self.sensor.as_ref());
        let max = governor.config().max_intensity.max(1);
        drop(governor);
        match decision {
            Decision::Run(intensity) => Some((intensity * 100 / max).clamp(1, 100)),
            Decision::Paused | Decision::CutOff => {
                let until = std::time::Instant::now() + self.pause;
                while std::time::Instant::now() < until
                    && !stop.load(std::sync::atomic::Ordering::Relaxed)
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                None
            }
        }
    }

    /// Idles for the rest of the duty cycle, or until `stop`.
    fn idle(duty: u32, busy: std::time::Duration, stop: &std::sync::atomic::AtomicBool) {
        if duty >= 100 {
            return;
        }
        let until =
            std::time::Instant::now() + busy.mul_f64(f64::from(100 - duty) / f64::from(duty));
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(std::time::Duration::from_millis(20)));
        }
    }
}

impl crate::HashBackend for Governed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn algorithm(&self) -> otedama_sharechain::PowAlgorithm {
        self.inner.algorithm()
    }

    fn chunk(&self) -> u32 {
        self.inner.chunk()
    }

    fn rolls_version(&self) -> bool {
        self.inner.rolls_version()
    }

    fn scan(
        &self,
        header: &[u8; 80],
        nonces: std::ops::Range<u32>,
        target: &otedama_sharechain::Target,
        stop: &std::sync::atomic::AtomicBool,
    ) -> crate::ScanResult {
        self.scan_rolling(header, nonces, 0, target, stop)
    }

    fn scan_rolling(
        &self,
        header: &[u8; 80],
        nonces: std::ops::Range<u32>,
        version_mask: u32,
        target: &otedama_sharechain::Target,
        stop: &std::sync::atomic::AtomicBool,
    ) -> crate::ScanResult {
        let Some(duty) = self.admit(stop) else {
            return crate::ScanResult::default();
        };
        let started = std::time::Instant::now();
        let r = if self.inner.rolls_version() {
            self.inner
                .scan_rolling(header, nonces, version_mask, target, stop)
        } else {
            self.inner.scan(header, nonces, target, stop)
        };
        Self::idle(duty, started.elapsed(), stop);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ThermalConfig {
        ThermalConfig {
            limit: 80.0,
            hysteresis: 3.0,
            cutoff: None,
            min_intensity: 2,
            max_intensity: 10,
            step: 3,
        }
    }

    fn governor() -> ThermalGovernor {
        ThermalGovernor::new(config()).expect("valid config")
    }

    fn run(g: &mut ThermalGovernor, readings: &[Option<f32>]) -> Vec<Decision> {
        readings.iter().map(|&t| g.observe(t)).collect()
    }

    use Decision::{CutOff, Paused, Run};

    #[test]
    fn starts_at_max_and_holds_when_cool() {
        let mut g = governor();
        assert_eq!(g.decision(), Run(10));
        assert_eq!(run(&mut g, &[Some(60.0), Some(70.0)]), [Run(10), Run(10)]);
    }

    #[test]
    fn ramps_down_to_min_then_pauses() {
        let mut g = governor();
        let hot = Some(81.0);
        assert_eq!(
            run(&mut g, &[hot, hot, hot, hot, hot, hot]),
            // 10 -> 7 -> 4 -> 2 (clamped to min) -> paused, and stays paused.
            [Run(7), Run(4), Run(2), Paused, Paused, Paused]
        );
    }

    #[test]
    fn ramps_up_only_below_the_band_and_resumes_at_min() {
        let mut g = governor();
        let hot = Some(85.0);
        run(&mut g, &[hot, hot, hot, hot]);
        assert_eq!(g.decision(), Paused);
        // 77 is the band's lower edge (80 - 3): not below it, so hold.
        assert_eq!(
            run(&mut g, &[Some(80.0), Some(78.5), Some(77.0)]),
            [Paused; 3]
        );
        assert_eq!(
            run(
                &mut g,
                &[Some(76.9), Some(70.0), Some(70.0), Some(70.0), Some(70.0)]
            ),
            // Resume at min, then 2 -> 5 -> 8 -> 10 (clamped to max), then hold.
            [Run(2), Run(5), Run(8), Run(10), Run(10)]
        );
    }

    #[test]
    fn hysteresis_band_holds_the_intensity() {
        let mut g = governor();
        assert_eq!(run(&mut g, &[Some(80.5)]), [Run(7)]);
        // At the limit exactly and inside the band: hold.
        assert_eq!(
            run(&mut g, &[Some(80.0), Some(79.0), Some(77.5), Some(77.0)]),
            [Run(7); 4]
        );
        // Back above, then below the band.
        assert_eq!(run(&mut g, &[Some(80.1), Some(76.0)]), [Run(4), Run(7)]);
    }

    #[test]
    fn cutoff_latches_until_reset() {
        let mut g = governor();
        assert_eq!(g.config().cutoff(), 90.0);
        assert_eq!(run(&mut g, &[Some(82.0), Some(90.0)]), [Run(7), CutOff]);
        // Cold readings and missing ones do not clear the latch.
        assert_eq!(run(&mut g, &[Some(30.0), None, Some(20.0)]), [CutOff; 3]);
        g.reset();
        assert_eq!(g.decision(), Run(10));
        assert_eq!(run(&mut g, &[Some(81.0)]), [Run(7)]);
        // A reading far above the cut-off from full intensity cuts off at once.
        g.reset();
        assert_eq!(run(&mut g, &[Some(120.0)]), [CutOff]);
    }

    #[test]
    fn explicit_cutoff_is_used() {
        let mut g = ThermalGovernor::new(ThermalConfig {
            cutoff: Some(83.0),
            ..config()
        })
        .expect("valid config");
        assert_eq!(run(&mut g, &[Some(82.9), Some(83.0)]), [Run(7), CutOff]);
    }

    #[test]
    fn missing_readings_hold_every_state() {
        let mut g = governor();
        assert_eq!(run(&mut g, &[None, None]), [Run(10), Run(10)]);
        assert_eq!(g.missing_readings(), 2);
        assert_eq!(
            run(&mut g, &[Some(81.0), None, Some(f32::NAN)]),
            [Run(7); 3]
        );
        assert_eq!(g.missing_readings(), 2);
        run(&mut g, &[Some(81.0), Some(81.0), Some(81.0)]);
        assert_eq!(g.decision(), Paused);
        assert_eq!(run(&mut g, &[None, None, None]), [Paused; 3]);
        assert_eq!(g.missing_readings(), 3);
        assert_eq!(run(&mut g, &[Some(60.0)]), [Run(2)]);
        assert_eq!(g.missing_readings(), 0);
    }

    #[test]
    fn min_equal_max_pauses_on_the_first_hot_reading() {
        let mut g = ThermalGovernor::new(ThermalConfig {
            min_intensity: 5,
            max_intensity: 5,
            ..config()
        })
        .expect("valid config");
        assert_eq!(
            run(&mut g, &[Some(81.0), Some(70.0), Some(70.0)]),
            [Paused, Run(5), Run(5)]
        );
    }

    #[test]
    fn polls_a_temperature_source() {
        let mut g = governor();
        let sensor = SimulatedTemperature::new(None);
        assert_eq!(g.poll(&sensor), Run(10));
        sensor.set(Some(95.0));
        assert_eq!(g.poll(&sensor), CutOff);
        let source: &dyn TemperatureSource = &sensor;
        assert_eq!(source.temperature(), Some(95.0));
    }

    #[test]
    fn invalid_configs_are_errors() {
        let bad = [
            (
                ThermalConfig {
                    limit: 39.9,
                    ..config()
                },
                ThermalConfigError::Limit(39.9),
            ),
            (
                ThermalConfig {
                    limit: 105.5,
                    ..config()
                },
                ThermalConfigError::Limit(105.5),
            ),
            (
                ThermalConfig {
                    hysteresis: 80.0,
                    ..config()
                },
                ThermalConfigError::Hysteresis {
                    hysteresis: 80.0,
                    limit: 80.0,
                },
            ),
            (
                ThermalConfig {
                    hysteresis: -1.0,
                    ..config()
                },
                ThermalConfigError::Hysteresis {
                    hysteresis: -1.0,
                    limit: 80.0,
                },
            ),
            (
                ThermalConfig {
                    cutoff: Some(80.0),
                    ..config()
                },
                ThermalConfigError::Cutoff {
                    cutoff: 80.0,
                    limit: 80.0,
                },
            ),
            (
                ThermalConfig {
                    min_intensity: 11,
                    ..config()
                },
                ThermalConfigError::IntensityRange { min: 11, max: 10 },
            ),
            (
                ThermalConfig {
                    step: 0,
                    ..config()
                },
                ThermalConfigError::ZeroStep,
            ),
        ];
        for (config, expected) in bad {
            assert_eq!(
                ThermalGovernor::new(config).err(),
                Some(expected),
                "{config:?}"
            );
        }
        // NaN never passes a range check.
        for config in [
            ThermalConfig {
                limit: f32::NAN,
                ..config()
            },
            ThermalConfig {
                hysteresis: f32::NAN,
                ..config()
            },
            ThermalConfig {
                cutoff: Some(f32::NAN),
                ..config()
            },
            ThermalConfig {
                cutoff: Some(f32::INFINITY),
                ..config()
            },
        ] {
            assert!(ThermalGovernor::new(config).is_err(), "{config:?}");
        }
        // Both ends of the limit range are accepted.
        for limit in [MIN_LIMIT, MAX_LIMIT] {
            assert!(ThermalConfig { limit, ..config() }.validate().is_ok());
        }
        assert!(ThermalConfig::default().validate().is_ok());
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let parsed: ThermalConfig =
            serde_json::from_str(r#"{"limit":75,"step":5}"#).expect("valid config json");
        assert_eq!(parsed.limit, 75.0);
        assert_eq!(parsed.hysteresis, DEFAULT_HYSTERESIS);
        assert_eq!(parsed.cutoff(), 85.0);
        assert_eq!(parsed.step, 5);
        assert!(serde_json::from_str::<ThermalConfig>(r#"{"limt":75}"#).is_err());
    }

    #[test]
    fn hwmon_files_read_as_degrees() {
        let dir = tempfile_dir();
        let path = dir.join("temp1_input");
        std::fs::write(&path, "67500\n").expect("write");
        let sensor = HwmonSensor::new(&path);
        assert_eq!(sensor.temperature(), Some(67.5));
        std::fs::write(&path, "garbage").expect("write");
        assert_eq!(sensor.temperature(), None);
        assert_eq!(HwmonSensor::new(dir.join("missing")).temperature(), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("otedama-hwmon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    /// A governed CPU backend: hashes at full speed while cool, holds when hot (no
    /// hashes, no candidates), and stays cut off after a reading at the cutoff.
    #[test]
    fn governed_backends_hold_when_hot_and_stay_cut_off() {
        use crate::HashBackend;
        use otedama_sharechain::{PowAlgorithm, Target, Work};
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let sensor = Arc::new(SimulatedTemperature::new(Some(60.0)));
        struct Shared(Arc<SimulatedTemperature>);
        impl TemperatureSource for Shared {
            fn temperature(&self) -> Option<f32> {
                self.0.temperature()
            }
        }
        let config = ThermalConfig {
            limit: 80.0,
            min_intensity: 50,
            step: 50,
            ..ThermalConfig::default()
        };
        let backend = Governed::new(
            Arc::new(crate::CpuBackend::new(PowAlgorithm::Sha256d)),
            Box::new(Shared(Arc::clone(&sensor))),
            ThermalGovernor::new(config).expect("valid"),
            std::time::Duration::from_millis(10),
        );
        let stop = AtomicBool::new(false);
        let target = Target::from_work(Work::from_u128(1 << 10));
        let h = [7u8; 80];
        assert_eq!(backend.scan(&h, 0..4096, &target, &stop).hashes, 4096);
        sensor.set(Some(85.0));
        // Above the limit: 50 % duty, still hashing.
        assert_eq!(backend.scan(&h, 0..4096, &target, &stop).hashes, 4096);
        assert_eq!(backend.decision(), Decision::Run(50));
        // Still above at the minimum: paused, nothing hashed.
        assert_eq!(
            backend.scan(&h, 0..4096, &target, &stop),
            crate::ScanResult::default()
        );
        sensor.set(Some(70.0));
        assert_eq!(backend.scan(&h, 0..4096, &target, &stop).hashes, 4096);
        sensor.set(Some(95.0));
        assert_eq!(backend.scan(&h, 0..4096, &target, &stop).hashes, 0);
        sensor.set(Some(40.0));
        assert_eq!(
            backend.scan(&h, 0..4096, &target, &stop).hashes,
            0,
            "cutoff latches"
        );
        backend.reset();
        assert_eq!(backend.scan(&h, 0..4096, &target, &stop).hashes, 4096);
    }

    /// A throttled scan idles out its duty cycle, but a stop ends the idling at once.
    #[test]
    fn a_throttled_scan_stops_idling_when_asked() {
        use crate::HashBackend;
        use otedama_sharechain::{PowAlgorithm, Target, Work};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        let config = ThermalConfig {
            limit: 80.0,
            min_intensity: 10,
            step: 90,
            ..ThermalConfig::default()
        };
        // One reading above the limit drops the duty cycle to 10 %: 9 idle for 1 busy.
        let backend = Governed::new(
            Arc::new(crate::CpuBackend::new(PowAlgorithm::Sha256d)),
            Box::new(SimulatedTemperature::new(Some(85.0))),
            ThermalGovernor::new(config).expect("valid"),
            Duration::from_millis(10),
        );
        let target = Target::from_work(Work::from_u128(1 << 40));
        let h = [3u8; 80];
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(150));
                stop.store(true, Ordering::Relaxed);
            });
            // The scan hashes until the stop (or 2^22 nonces, 130 ms with AVX-512), so
            // without the stop at least nine times as long is due idling.
            let r = backend.scan(&h, 0..1 << 22, &target, &stop);
            assert!(r.hashes > 0);
        });
        assert_eq!(backend.decision(), Decision::Run(10));
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "the idling ignored the stop: {took:?}"
        );
    }
}
