//! Following monerod: a new [`ParentJob`] for the owner whenever the tip or the template
//! changes (ZMQ wake-ups when configured, polling always), and block submission to every
//! daemon.

use super::owner::{Cmd, ParentJob};
use crate::parent::monero::MonerodClient;
use crate::parent::monero_zmq::MoneroEvent;
use otedama_sharechain::monero::params::seed_height;
use otedama_sharechain::monero::{Hash, MoneroJob, Wallet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

const TARGET: &str = "otedama::monero";

/// A block to submit; the owner hears back with [`Cmd::BlockResult`].
#[derive(Debug)]
pub(crate) struct BlockSubmission {
    /// The whole block, hex.
    pub hex: String,
    /// Its Monero block id.
    pub id: Hash,
}

/// What [`read_job`] says when a block arrived between its calls: not an outage, a race
/// that an immediate retry wins.
const MOVED_ON: &str = "monerod moved on between two calls";
/// Reads tried at once when monerod moves on between calls.
const RACE_RETRIES: usize = 3;

/// Reads the next job, again at once when a block arrived between the calls.
async fn read_job_retrying(client: &MonerodClient, address: &str) -> Result<ParentJob, String> {
    let mut read = read_job(client, address).await;
    for _ in 1..RACE_RETRIES {
        match &read {
            Err(e) if e == MOVED_ON => read = read_job(client, address).await,
            _ => break,
        }
    }
    read
}

/// Reads the next job from monerod: miner data, the template for the reward and the
/// transactions, and the seed block's id and difficulty.
async fn read_job(client: &MonerodClient, address: &str) -> Result<ParentJob, String> {
    let data = client.miner_data().await.map_err(|e| e.to_string())?;
    let template = client
        .block_template(address, 0)
        .await
        .map_err(|e| e.to_string())?;
    if template.height != data.height {
        return Err(MOVED_ON.into());
    }
    let blob = hex::decode(&template.blocktemplate_blob).map_err(|e| e.to_string())?;
    let block: monero::Block =
        monero::consensus::deserialize(&blob).map_err(|e| format!("template blob: {e}"))?;
    let prev_id = Hash::from_hex(&data.prev_id).map_err(|e| e.to_string())?;
    let seed_hash = Hash::from_hex(&data.seed_hash).map_err(|e| e.to_string())?;
    let seed = seed_height(data.height);
    let seed_header = client
        .header_by_height(seed)
        .await
        .map_err(|e| e.to_string())?;
    let prev = client
        .header_by_height(data.height.saturating_sub(1))
        .await
        .map_err(|e| e.to_string())?;
    let difficulty = u128::from_str_radix(data.difficulty.trim_start_matches("0x"), 16)
        .map_err(|e| format!("difficulty {:?}: {e}", data.difficulty))?;
    Ok(ParentJob {
        job: MoneroJob {
            major_version: data.major_version,
            timestamp: block.header.timestamp.0,
            prev_id,
            height: data.height,
            reward: template.expected_reward,
            tx_hashes: block
                .tx_hashes
                .iter()
                .map(|h| Hash::from_bytes(h.to_bytes()))
                .collect(),
        },
        seed_height: seed,
        seed_hash,
        // Empty until the next epoch's seed block exists; the same seed is no news.
        next_seed_hash: Hash::from_hex(&template.next_seed_hash)
            .ok()
            .filter(|next| *next != seed_hash),
        seed_difficulty: u128::from(seed_header.difficulty.max(1)),
        difficulty,
        prev_timestamp: prev.timestamp,
    })
}

/// What the follower reads monerod with.
pub(crate) struct Follower {
    /// The daemons.
    pub client: MonerodClient,
    /// The node's wallet (templates are asked for it).
    pub wallet: Wallet,
    /// How often monerod is polled.
    pub poll: Duration,
    /// Set while the last read succeeded.
    pub reachable: Arc<AtomicBool>,
}

/// Follows monerod until `shutdown`, sending jobs to the owner and submitting blocks.
pub(crate) async fn run(
    follower: Follower,
    mut zmq: Option<mpsc::Receiver<MoneroEvent>>,
    owner: mpsc::Sender<Cmd>,
    mut blocks: mpsc::Receiver<BlockSubmission>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Follower {
        client,
        wallet,
        poll,
        reachable: reachable_flag,
    } = follower;
    let address = wallet.address(otedama_sharechain::monero::MoneroNetwork::Mainnet);
    let mut last: Option<(Hash, u64, u64)> = None;
    let mut reachable = true;
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
            Some(b) = blocks.recv() => {
                let answers = client.submit_block(&b.hex).await;
                let accepted = answers.iter().any(Result::is_ok);
                for (i, a) in answers.iter().enumerate() {
                    match a {
                        Ok(()) => info!(target: TARGET, daemon = i, "block accepted by monerod"),
                        Err(e) => warn!(target: TARGET, daemon = i, error = %e, "block refused"),
                    }
                }
                if owner.send(Cmd::BlockResult { id: b.id, accepted }).await.is_err() {
                    break;
                }
            }
            _ = tick.tick() => {}
            event = recv_zmq(&mut zmq) => {
                if event.is_none() {
                    zmq = None;
                }
            }
        }
        match read_job_retrying(&client, &address).await {
            Ok(job) => {
                reachable = true;
                reachable_flag.store(true, Ordering::Relaxed);
                let key = (job.job.prev_id, job.job.height, job.job.reward);
                if last == Some(key) {
                    continue;
                }
                debug!(target: TARGET, height = job.job.height, "new monero job");
                last = Some(key);
                if owner.send(Cmd::Parent(Box::new(job))).await.is_err() {
                    break;
                }
            }
            Err(e) if e == MOVED_ON => {
                debug!(target: TARGET, "monerod moved on while the job was read; the next poll reads it");
            }
            Err(e) => {
                if reachable {
                    warn!(target: TARGET, error = %e, "monerod unavailable");
                }
                reachable = false;
                reachable_flag.store(false, Ordering::Relaxed);
            }
        }
    }
}

/// Waits for the next ZMQ event, or forever without a subscription.
async fn recv_zmq(zmq: &mut Option<mpsc::Receiver<MoneroEvent>>) -> Option<MoneroEvent> {
    match zmq {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
