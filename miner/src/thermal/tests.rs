//! Thermal governor, sensor and governed backend tests.

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
