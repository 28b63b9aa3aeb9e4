//! [`SimSensor`]: the die temperature of an emulated chain.

use super::SimShared;
use crate::asic::chip::ChipFamily;
use crate::thermal::TemperatureSource;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The die temperature of an emulated chain, as a [`TemperatureSource`]: it relaxes
/// towards `ambient + rise * clock / default clock` with time constant `tau`, reading
/// the chips' clock from their PLL0 registers at every read.
#[derive(Debug)]
pub struct SimSensor {
    shared: Arc<SimShared>,
    family: ChipFamily,
    /// Degrees Celsius with the chips idle.
    pub ambient: f32,
    /// Degrees Celsius above ambient at the family's default clock.
    pub rise: f32,
    /// How fast the die follows the clock.
    pub tau: Duration,
    state: Mutex<Option<(Instant, f32)>>,
}

impl SimSensor {
    /// A sensor on the chain behind `shared`: 25 C ambient, 70 C at the default clock,
    /// a 2 s time constant.
    pub fn new(shared: Arc<SimShared>, family: ChipFamily) -> SimSensor {
        SimSensor {
            shared,
            family,
            ambient: 25.0,
            rise: 45.0,
            tau: Duration::from_secs(2),
            state: Mutex::new(None),
        }
    }

    /// Where the temperature settles at the chips' current clock.
    fn settles_at(&self) -> f32 {
        let clocks: Vec<f64> = self
            .shared
            .view()
            .frequencies
            .into_iter()
            .flatten()
            .collect();
        let clock = if clocks.is_empty() {
            self.family.default_frequency()
        } else {
            clocks.iter().sum::<f64>() / clocks.len() as f64
        };
        self.ambient + self.rise * (clock / self.family.default_frequency()) as f32
    }
}

impl TemperatureSource for SimSensor {
    fn temperature(&self) -> Option<f32> {
        let now = Instant::now();
        let target = self.settles_at();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let t = match *state {
            // The chain starts cool.
            None => self.ambient,
            Some((then, t)) => {
                let k = 1.0
                    - (-now.saturating_duration_since(then).as_secs_f32()
                        / self.tau.as_secs_f32().max(1e-3))
                    .exp();
                t + (target - t) * k
            }
        };
        *state = Some((now, t));
        Some(t)
    }
}
