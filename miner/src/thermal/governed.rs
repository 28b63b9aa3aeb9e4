//! A hash backend run under a thermal governor.

use super::{Decision, TemperatureSource, ThermalGovernor};

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
