//! Polling a list of miners: one task per miner, each keeping that miner's latest state.

use super::{ApiOptions, FleetClient, FleetError, LOG, MinerReport, MonitorError};
use crate::client::shutdown_signal;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

/// Most miners one [`FleetMonitor`] polls.
pub const MAX_DEVICES: usize = 256;

/// The latest known state of one miner.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDevice {
    /// The miner's API address.
    pub address: SocketAddr,
    /// The last report read, kept when later polls fail.
    pub last_ok: Option<MinerReport>,
    /// Why the last poll failed; `None` once a poll succeeds.
    pub last_error: Option<String>,
    /// Polls failed in a row; 0 after a success.
    pub consecutive_failures: u32,
}

/// State shared by the poll tasks and the handle.
#[derive(Debug)]
struct Shared {
    devices: RwLock<Vec<FleetDevice>>,
    /// Counts finished polls, so readers can wait for fresh data.
    polls: watch::Sender<u64>,
}

impl Shared {
    fn record(&self, index: usize, result: Result<MinerReport, FleetError>) {
        {
            let mut devices = self.devices.write().unwrap_or_else(PoisonError::into_inner);
            let Some(device) = devices.get_mut(index) else {
                return;
            };
            match result {
                Ok(report) => {
                    if device.consecutive_failures > 0 {
                        info!(target: LOG, address = %device.address, failures = device.consecutive_failures, "miner api reachable again");
                    }
                    device.last_ok = Some(report);
                    device.last_error = None;
                    device.consecutive_failures = 0;
                }
                Err(e) => {
                    if device.consecutive_failures == 0 {
                        warn!(target: LOG, address = %device.address, error = %e, "miner api poll failed");
                    } else {
                        debug!(target: LOG, address = %device.address, error = %e, failures = device.consecutive_failures + 1, "miner api poll failed");
                    }
                    device.last_error = Some(e.to_string());
                    device.consecutive_failures = device.consecutive_failures.saturating_add(1);
                }
            }
        }
        self.polls.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Polls a fixed list of miners every interval until stopped.
///
/// Dropping it signals the poll tasks to stop without waiting; [`FleetMonitor::stop`]
/// also waits.
#[derive(Debug)]
pub struct FleetMonitor {
    shared: Arc<Shared>,
    polls: watch::Receiver<u64>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl FleetMonitor {
    /// Starts polling `addresses` every `interval`, the first poll right away. Must be
    /// called inside a tokio runtime; spawns one task per address. A poll takes at most
    /// a few times the `options` timeouts (one connection per command); a slow poll
    /// delays that miner's next one rather than overlapping it.
    ///
    /// # Errors
    /// [`MonitorError`] for more than [`MAX_DEVICES`] addresses, a zero interval, or no
    /// runtime.
    pub fn start(
        addresses: &[SocketAddr],
        options: ApiOptions,
        interval: Duration,
    ) -> Result<FleetMonitor, MonitorError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MonitorError::NoRuntime)?;
        if addresses.len() > MAX_DEVICES {
            return Err(MonitorError::TooManyDevices {
                count: addresses.len(),
                max: MAX_DEVICES,
            });
        }
        if interval.is_zero() {
            return Err(MonitorError::ZeroInterval);
        }
        let (polls_tx, polls) = watch::channel(0);
        let shared = Arc::new(Shared {
            devices: RwLock::new(
                addresses
                    .iter()
                    .map(|&address| FleetDevice {
                        address,
                        last_ok: None,
                        last_error: None,
                        consecutive_failures: 0,
                    })
                    .collect(),
            ),
            polls: polls_tx,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tasks = addresses
            .iter()
            .enumerate()
            .map(|(index, &address)| {
                runtime.spawn(poll(
                    index,
                    FleetClient::new(address, options),
                    interval,
                    Arc::clone(&shared),
                    shutdown_rx.clone(),
                ))
            })
            .collect();
        info!(target: LOG, devices = addresses.len(), interval_ms = interval.as_millis(), "fleet monitor started");
        Ok(FleetMonitor {
            shared,
            polls,
            shutdown,
            tasks,
        })
    }

    /// Returns the latest state of every miner, in the order of the addresses given.
    pub fn snapshot(&self) -> Vec<FleetDevice> {
        self.shared
            .devices
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Returns a receiver that sees the number of finished polls change after each poll.
    pub fn polls(&self) -> watch::Receiver<u64> {
        self.polls.clone()
    }

    /// Stops polling and returns once every poll task is gone.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        for task in self.tasks.drain(..) {
            if let Err(e) = task.await {
                error!(target: LOG, error = %e, "fleet poll task failed");
            }
        }
        info!(target: LOG, "fleet monitor stopped");
    }
}

impl Drop for FleetMonitor {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// One miner's poll loop.
async fn poll(
    index: usize,
    client: FleetClient,
    interval: Duration,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown_signal(&mut shutdown) => break,
            _ = tick.tick() => {}
        }
        let result = tokio::select! {
            biased;
            () = shutdown_signal(&mut shutdown) => break,
            result = client.report() => result,
        };
        shared.record(index, result);
    }
}
