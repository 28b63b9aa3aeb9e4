//! The API's view of running rigs and watched network miners.

use super::rigs::Rig;
use otedama_miner::thermal::Decision;
use otedama_rpc::MiningDevice;

pub(super) fn rig_device(rig: &Rig) -> MiningDevice {
    let s = rig.miner.stats();
    let mut d = MiningDevice {
        name: rig.name.clone(),
        kind: rig.kind.into(),
        hashrate: s.hashrate,
        accepted: s.accepted,
        rejected: s.rejected,
        hardware_errors: s.hardware_errors,
        status: "ok".into(),
        ..MiningDevice::default()
    };
    if let Some(asic) = &rig.asic {
        let a = asic.stats();
        d.chips = u32::try_from(a.chips).ok();
        d.frequency_mhz = Some(a.frequency_mhz);
        d.hardware_errors += a.hardware_errors;
        d.temperature = a.temperature;
        if let Some(decision) = a.thermal {
            d.status = thermal_status(decision).into();
        }
        if a.timeouts > 0 && a.nonces == 0 {
            d.status = "error".into();
            d.error = Some("the chain sends no nonces".into());
        }
    }
    if let Some(g) = &rig.governed {
        d.temperature = g.temperature();
        d.status = thermal_status(g.decision()).into();
    }
    if !s.connected && d.status == "ok" {
        d.status = "connecting".into();
    }
    d
}

fn thermal_status(decision: Decision) -> &'static str {
    match decision {
        Decision::Run(i) if i < 100 => "throttled",
        Decision::Run(_) => "ok",
        Decision::Paused => "paused",
        Decision::CutOff => "cutoff",
    }
}

pub(super) fn fleet_device(f: otedama_miner::fleet::FleetDevice) -> MiningDevice {
    let mut d = MiningDevice {
        name: f.address.to_string(),
        kind: "network".into(),
        status: if f.last_error.is_some() && f.consecutive_failures > 0 {
            "unreachable".into()
        } else {
            "ok".into()
        },
        error: f.last_error.clone(),
        ..MiningDevice::default()
    };
    if let Some(r) = &f.last_ok {
        d.hashrate = r.summary.hashrate.or(r.summary.hashrate_avg).unwrap_or(0.0);
        d.accepted = r.summary.accepted.unwrap_or(0);
        d.rejected = r.summary.rejected.unwrap_or(0);
        d.hardware_errors = r.summary.hardware_errors.unwrap_or(0);
        d.temperature = r.max_temperature();
        d.fans = r.fans.clone();
        let chips: u32 = r.chains.iter().filter_map(|c| c.chips).sum();
        d.chips = (chips > 0).then_some(chips);
    }
    d
}
