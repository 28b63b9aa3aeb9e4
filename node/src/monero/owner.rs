//! The owner of the sidechain: one thread, one `SideChain`, one sled tree. It takes
//! Monero jobs from the follower and template requests and solved shares from Stratum,
//! in the order they come.

use super::follow::BlockSubmission;
use super::query::{self, Query};
use super::{BlockRecord, MoneroFacts, MoneroStatus};
use crate::p2p::P2pHandle;
use crate::p2p::protocol::TipInfo;
use crate::proof::ChainProof;
use crate::unix_now;
use otedama_rpc::{Event, PeerShareAccepted, ShareAccepted, ShareRejected};
use otedama_sharechain::monero::pplns::ShareLookup;
use otedama_sharechain::monero::randomx::RandomxVerifier;
use otedama_sharechain::monero::{
    AddError, Hash, MoneroHeader, MoneroJob, MoneroView, PowCheck, PowVerdict, ShareState,
    SideChain, SidechainParams, Wallet, check_pow,
};
use otedama_stratum::xmrig::{ShareOutcome, XmrRequest, XmrTemplate, XmrWork};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{debug, info, warn};

const TARGET: &str = "otedama::monero";
/// Templates cached per generation (one per wallet mining); beyond it the cache restarts.
const TEMPLATES_KEPT: usize = 1024;
/// Blocks listed in the status.
const BLOCKS_LISTED: usize = 100;
/// Shares held beyond the kept heights before the chain and store are pruned: pruning
/// rebuilds the chain's index, so it runs once per this many shares, not per share.
const PRUNE_SLACK: usize = 256;
/// Main-chain shares kept in the status for the pool hashrate.
const RECENT_SHARES: usize = 256;

/// What the follower read from monerod.
#[derive(Clone, Debug)]
pub(crate) struct ParentJob {
    /// The Monero side of the next share.
    pub job: MoneroJob,
    /// The seed height of `job.height`.
    pub seed_height: u64,
    /// The id of the block at the seed height.
    pub seed_hash: Hash,
    /// The next epoch's seed, once monerod knows it.
    pub next_seed_hash: Option<Hash>,
    /// That block's difficulty.
    pub seed_difficulty: u128,
    /// The difficulty of the block being mined.
    pub difficulty: u128,
    /// The timestamp of the block mined on.
    pub prev_timestamp: u64,
}

/// What the owner is asked.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// A new Monero job.
    Parent(Box<ParentJob>),
    /// A Stratum request.
    Xmr(XmrRequest),
    /// A share a peer announced; the verdict decides whether the mesh relays it.
    Peer {
        /// The share blob.
        blob: Vec<u8>,
        /// The verdict.
        reply: oneshot::Sender<PeerVerdict>,
    },
    /// Shares fetched from a peer, oldest first.
    Synced(Vec<Vec<u8>>),
    /// A question from the API.
    Query(Query),
    /// Flush the store and end.
    Stop,
    /// What monerod holds of a found block now.
    BlockProof {
        /// The block id, hex.
        id: String,
        /// The proof.
        proof: ChainProof,
    },
    /// What monerod answered to a block (by Monero block id).
    BlockResult {
        /// The block id.
        id: Hash,
        /// Whether a daemon accepted it.
        accepted: bool,
    },
}

/// What the owner made of a share from a peer.
#[derive(Debug)]
pub(crate) enum PeerVerdict {
    /// Verified and valid: relay it.
    Valid,
    /// Already held.
    Known,
    /// Stored but waiting for these shares (its missing parent or uncles, or the first
    /// missing ancestor of its window).
    Pending(Vec<Hash>),
    /// Refused, with the rule it breaks.
    Invalid(String),
}

/// The sidechain's view of Monero: the facts the owner records.
struct View(Arc<RwLock<MoneroFacts>>);

impl MoneroView for View {
    fn difficulty_at(&self, height: u64) -> Option<u128> {
        let f = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.difficulty.get(&height).copied()
    }

    fn header(&self, id: &Hash) -> Option<MoneroHeader> {
        let f = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.headers.get(id).copied()
    }

    fn current_height(&self) -> Option<u64> {
        let f = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.current_height
    }
}

/// The RandomX verifier behind the sidechain's PoW seam.
struct Pow(Arc<RandomxVerifier>);

impl PowCheck for Pow {
    fn check(
        &self,
        share: &otedama_sharechain::monero::PoolShare,
        hashing_blob: &[u8],
        seed_height: u64,
    ) -> PowVerdict {
        self.0.check(share, hashing_blob, seed_height)
    }
}

pub(crate) struct Owner {
    chain: SideChain,
    params: SidechainParams,
    wallet: Wallet,
    tree: sled::Tree,
    blocks_tree: sled::Tree,
    facts: Arc<RwLock<MoneroFacts>>,
    parent: Option<ParentJob>,
    generation: u64,
    templates: HashMap<Wallet, Arc<XmrTemplate>>,
    work: watch::Sender<Option<XmrWork>>,
    blocks: mpsc::Sender<BlockSubmission>,
    status_tx: watch::Sender<MoneroStatus>,
    status: MoneroStatus,
    /// The tip peers are told, and the mesh shares are announced on (if any).
    tip_tx: watch::Sender<Option<TipInfo>>,
    mesh: Option<P2pHandle>,
    events: broadcast::Sender<Event>,
}

/// Where the owner reports to: Stratum's work, monerod's blocks, the status, the mesh,
/// the API's live events.
pub(crate) struct Outputs {
    pub work: watch::Sender<Option<XmrWork>>,
    pub blocks: mpsc::Sender<BlockSubmission>,
    pub status: watch::Sender<MoneroStatus>,
    pub tip: watch::Sender<Option<TipInfo>>,
    pub mesh: Option<P2pHandle>,
    pub events: broadcast::Sender<Event>,
}

/// The store's trees: shares by id, found blocks by height and id.
pub(crate) struct Trees {
    pub shares: sled::Tree,
    pub blocks: sled::Tree,
}

impl Owner {
    pub(crate) fn new(
        params: SidechainParams,
        wallet: Wallet,
        trees: Trees,
        facts: Arc<RwLock<MoneroFacts>>,
        verifier: Arc<RandomxVerifier>,
        out: Outputs,
    ) -> Self {
        let chain = SideChain::new(
            params.clone(),
            Box::new(View(Arc::clone(&facts))),
            Box::new(Pow(verifier)),
        );
        Self {
            chain,
            params,
            wallet,
            tree: trees.shares,
            blocks_tree: trees.blocks,
            facts,
            parent: None,
            generation: 0,
            templates: HashMap::new(),
            work: out.work,
            blocks: out.blocks,
            status_tx: out.status,
            status: MoneroStatus::default(),
            tip_tx: out.tip,
            mesh: out.mesh,
            events: out.events,
        }
    }

    /// Loads the stored shares, then serves commands until every sender is gone.
    pub(crate) fn run(mut self, mut cmds: mpsc::Receiver<Cmd>) {
        let mut loaded = 0usize;
        for item in self.tree.iter() {
            match item {
                Ok((_, blob)) => {
                    if self.chain.add_blob(&blob).is_ok() {
                        loaded += 1;
                    }
                }
                Err(e) => warn!(target: TARGET, error = %e, "reading the sidechain store"),
            }
        }
        self.status.blocks = self.load_blocks();
        info!(target: TARGET, shares = loaded, blocks = self.status.blocks.len(), chain = %self.params.name, "sidechain loaded");
        self.publish_status();
        while let Some(cmd) = cmds.blocking_recv() {
            match cmd {
                Cmd::Parent(job) => self.on_parent(*job),
                Cmd::Xmr(XmrRequest::Template { wallet, reply }) => {
                    let _ = reply.send(self.template(wallet));
                }
                Cmd::Xmr(XmrRequest::Share {
                    share,
                    pow,
                    worker,
                    reply,
                }) => {
                    let outcome = self.on_share(*share, &pow, &worker);
                    let _ = reply.send(outcome);
                }
                Cmd::Peer { blob, reply } => {
                    let verdict = self.on_peer_share(&blob);
                    let _ = reply.send(verdict);
                }
                Cmd::Synced(blobs) => self.on_synced(&blobs),
                Cmd::Query(q) => self.answer(q),
                Cmd::Stop => break,
                Cmd::BlockProof { id, proof } => self.on_block_proof(&id, proof),
                Cmd::BlockResult { id, accepted } => {
                    let id = id.to_string();
                    if let Some(b) = self.status.blocks.iter_mut().find(|b| b.id == id) {
                        b.accepted = accepted;
                        let b = b.clone();
                        self.store_block(&b);
                    }
                    self.publish_status();
                }
            }
        }
        if let Err(e) = self.tree.flush() {
            warn!(target: TARGET, error = %e, "flushing the sidechain store");
        }
    }

    fn on_parent(&mut self, p: ParentJob) {
        {
            let mut f = self.facts.write().unwrap_or_else(PoisonError::into_inner);
            let prev_height = p.job.height.saturating_sub(1);
            f.difficulty.insert(p.seed_height, p.seed_difficulty);
            f.difficulty.insert(p.job.height, p.difficulty);
            f.ids.insert(p.seed_height, p.seed_hash);
            f.ids.insert(prev_height, p.job.prev_id);
            f.headers.insert(
                p.job.prev_id,
                MoneroHeader {
                    height: prev_height,
                    timestamp: p.prev_timestamp,
                },
            );
            f.current_height = Some(p.job.height);
            f.prune(p.job.height);
        }
        self.status.job_at = Some(std::time::Instant::now());
        self.parent = Some(p);
        self.new_generation();
    }

    /// Drops the templates and publishes new work (a new tip or a new Monero job).
    fn new_generation(&mut self) {
        self.generation += 1;
        self.templates.clear();
        let Some(p) = &self.parent else {
            return;
        };
        let (height, seed_hash, next_seed_hash) = (p.job.height, p.seed_hash, p.next_seed_hash);
        let share_difficulty = self
            .template(self.wallet)
            .map(|t| u64::try_from(t.share.difficulty).unwrap_or(u64::MAX));
        self.status.monero_height = Some(height);
        self.status.share_difficulty = share_difficulty;
        self.publish_status();
        let work = share_difficulty.map(|d| XmrWork {
            generation: self.generation,
            height,
            seed_hash,
            next_seed_hash,
            share_difficulty: d,
        });
        self.work.send_replace(work);
    }

    /// The share `wallet` mines next on the tip, built once per generation.
    fn template(&mut self, wallet: Wallet) -> Option<Arc<XmrTemplate>> {
        if let Some(t) = self.templates.get(&wallet) {
            return Some(Arc::clone(t));
        }
        let p = self.parent.as_ref()?;
        let share = match self.chain.build_share(wallet, &p.job) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: TARGET, error = %e, "no share template");
                return None;
            }
        };
        let t = Arc::new(XmrTemplate {
            generation: self.generation,
            share,
            consensus_id: self.params.consensus_id,
            seed_hash: p.seed_hash,
        });
        if self.templates.len() >= TEMPLATES_KEPT {
            self.templates.clear();
        }
        self.templates.insert(wallet, Arc::clone(&t));
        Some(t)
    }

    fn on_share(
        &mut self,
        share: otedama_sharechain::monero::PoolShare,
        pow: &Hash,
        worker: &str,
    ) -> ShareOutcome {
        let tip_before = self.chain.tip().map(|(id, _)| *id);
        let block = self
            .parent
            .as_ref()
            .is_some_and(|p| p.job.prev_id == share.prev_id && check_pow(pow, p.difficulty));
        let (height, sidechain_height) = (share.height, share.sidechain_height);
        let (monero_id, blob) = (share.monero_block_id(), share.serialize());
        let mainchain = share.mainchain_blob();
        let id = match self.chain.add(share) {
            Ok(id) => id,
            Err(AddError::Duplicate(_)) => return ShareOutcome::Known,
            Err(AddError::Rejected(rule)) => {
                warn!(target: TARGET, %worker, %rule, "share refused");
                return self.rejected(worker, rule.to_string());
            }
        };
        if let Some(ShareState::Invalid(rule)) = self.chain.state(&id) {
            let rule = rule.to_string();
            warn!(target: TARGET, %worker, %rule, "share invalid");
            return self.rejected(worker, rule);
        }
        if let Some(mesh) = &self.mesh {
            mesh.publish(super::mesh::announcement(&blob));
        }
        self.store(&id, blob);
        self.status.accepted += 1;
        let _ = self.events.send(Event::ShareAccepted(ShareAccepted {
            hash: id.to_string(),
            height: sidechain_height,
            worker: worker.to_owned(),
            time: unix_now(),
        }));
        info!(target: TARGET, %worker, share = %id, height, block, "share accepted");
        if block {
            let submission = BlockSubmission {
                hex: hex::encode(&mainchain),
                id: monero_id,
            };
            // The follower answers with a `BlockResult`; a full queue loses only the
            // submission, which the log says.
            if let Err(e) = self.blocks.try_send(submission) {
                warn!(target: TARGET, error = %e, "block not submitted");
            }
            info!(target: TARGET, height, block = %monero_id, "block found");
            self.on_block_found(height, monero_id, id);
        }
        if self.chain.tip().map(|(id, _)| *id) != tip_before {
            self.new_generation();
        } else {
            self.publish_status();
        }
        ShareOutcome::Accepted { id, block }
    }

    fn rejected(&mut self, worker: &str, rule: String) -> ShareOutcome {
        self.status.rejected += 1;
        let _ = self.events.send(Event::ShareRejected(ShareRejected {
            worker: worker.to_owned(),
            reason: rule.clone(),
            time: unix_now(),
        }));
        ShareOutcome::Rejected(format!("Invalid share: {rule}"))
    }

    /// Records a block found by share `share`: what it pays (the share's outputs, each
    /// with its payee), in the status and the store, and tells the API.
    fn on_block_found(&mut self, height: u64, id: Hash, share: Hash) {
        let Some(s) = self.chain.share(&share) else {
            return;
        };
        let outputs = s
            .outputs
            .iter()
            .map(|o| (o.key.to_string(), o.amount))
            .collect();
        let payouts = self
            .chain
            .payouts_of(&share)
            .unwrap_or_default()
            .iter()
            .map(|(w, a)| (query::address(w), *a))
            .collect();
        let record = BlockRecord {
            height,
            id: id.to_string(),
            share: share.to_string(),
            accepted: false,
            time: unix_now(),
            payouts,
            outputs,
            chain: None,
        };
        if self.status.blocks.len() >= BLOCKS_LISTED {
            let old = self.status.blocks.remove(0);
            if let Err(e) = self.blocks_tree.remove(block_key(&old)) {
                warn!(target: TARGET, error = %e, "forgetting a block");
            }
        }
        self.store_block(&record);
        let _ = self
            .events
            .send(Event::BlockFound(crate::api::monero_found_block(&record)));
        self.status.blocks.push(record);
    }

    fn on_block_proof(&mut self, id: &str, proof: ChainProof) {
        let Some(b) = self.status.blocks.iter_mut().find(|b| b.id == id) else {
            return;
        };
        let persist = proof.worth_persisting(b.chain.as_ref());
        if b.chain.as_ref() != Some(&proof) {
            b.chain = Some(proof);
            let b = b.clone();
            if persist {
                self.store_block(&b);
            }
            self.publish_status();
        }
    }

    fn store_block(&self, b: &BlockRecord) {
        match serde_json::to_vec(b) {
            Ok(v) => {
                if let Err(e) = self.blocks_tree.insert(block_key(b), v) {
                    warn!(target: TARGET, error = %e, "storing a block");
                }
            }
            Err(e) => warn!(target: TARGET, error = %e, "encoding a block"),
        }
    }

    /// The stored blocks, oldest first (the newest [`BLOCKS_LISTED`]).
    fn load_blocks(&self) -> Vec<BlockRecord> {
        let mut blocks: Vec<BlockRecord> = self
            .blocks_tree
            .iter()
            .filter_map(|item| match item {
                Ok((_, v)) => serde_json::from_slice(&v).ok(),
                Err(e) => {
                    warn!(target: TARGET, error = %e, "reading a stored block");
                    None
                }
            })
            .collect();
        blocks.sort_by_key(|b| (b.time, b.height));
        let excess = blocks.len().saturating_sub(BLOCKS_LISTED);
        blocks.drain(..excess);
        blocks
    }

    fn answer(&mut self, q: Query) {
        let job = self.parent.as_ref().map(|p| &p.job);
        match q {
            Query::Shares {
                index,
                per_page,
                reply,
            } => {
                let _ = reply.send(query::shares(&self.chain, index, per_page));
            }
            Query::Expected { finder, reply } => {
                let finder = finder.unwrap_or(self.wallet);
                let _ = reply.send(query::expected(&mut self.chain, job, finder));
            }
            Query::Miner { wallet, reply } => {
                let difficulty = self.parent.as_ref().map_or(0, |p| p.difficulty);
                let facts = query::miner(&mut self.chain, job, self.wallet, wallet, difficulty);
                let _ = reply.send(facts);
            }
        }
    }

    fn store(&self, id: &Hash, blob: Vec<u8>) {
        if let Err(e) = self.tree.insert(id.as_bytes(), blob) {
            warn!(target: TARGET, error = %e, "storing a share");
        }
    }

    /// Adds a share from a peer; stores it unless it is invalid. A pending share names
    /// the shares it waits for only when `name_missing` (an announcement; a sync brings
    /// its ancestors itself, and the walk would cost a window per share).
    fn add_from_peer(&mut self, blob: &[u8], name_missing: bool) -> PeerVerdict {
        self.add_peer_blob(blob, name_missing).0
    }

    /// [`Owner::add_from_peer`], with the share's id when the chain took it.
    fn add_peer_blob(&mut self, blob: &[u8], name_missing: bool) -> (PeerVerdict, Option<Hash>) {
        let id = match self.chain.add_blob(blob) {
            Ok(id) => id,
            Err(AddError::Duplicate(_)) => return (PeerVerdict::Known, None),
            Err(AddError::Rejected(rule)) => {
                return (PeerVerdict::Invalid(rule.to_string()), None);
            }
        };
        let verdict = match self.chain.state(&id) {
            Some(ShareState::Invalid(rule)) => PeerVerdict::Invalid(rule.to_string()),
            Some(ShareState::Valid) => {
                self.store(&id, blob.to_vec());
                PeerVerdict::Valid
            }
            _ => {
                self.store(&id, blob.to_vec());
                PeerVerdict::Pending(if name_missing {
                    self.missing(&id)
                } else {
                    Vec::new()
                })
            }
        };
        (verdict, Some(id))
    }

    /// The shares `id` waits for: its missing uncles, and the first missing share on its
    /// line of parents (bounded by three windows).
    fn missing(&self, id: &Hash) -> Vec<Hash> {
        let mut out = Vec::new();
        let Some(share) = self.chain.share(id) else {
            return out;
        };
        out.extend(
            share
                .uncles
                .iter()
                .filter(|u| self.chain.share(u).is_none())
                .copied(),
        );
        let mut parent = share.parent;
        for _ in 0..self.params.window.saturating_mul(3) {
            if parent == Hash::ZERO {
                break;
            }
            match self.chain.share(&parent) {
                Some(s) => parent = s.parent,
                None => {
                    out.push(parent);
                    break;
                }
            }
        }
        out
    }

    fn on_peer_share(&mut self, blob: &[u8]) -> PeerVerdict {
        let tip_before = self.chain.tip().map(|(id, _)| *id);
        let (verdict, id) = self.add_peer_blob(blob, true);
        if let (PeerVerdict::Valid, Some(id)) = (&verdict, id) {
            self.status.from_peers += 1;
            let height = self.chain.share(&id).map_or(0, |s| s.sidechain_height);
            let _ = self
                .events
                .send(Event::PeerShareAccepted(PeerShareAccepted {
                    hash: id.to_string(),
                    height,
                    time: unix_now(),
                }));
        }
        self.after_peer_shares(tip_before);
        verdict
    }

    fn on_synced(&mut self, blobs: &[Vec<u8>]) {
        let tip_before = self.chain.tip().map(|(id, _)| *id);
        let (mut valid, mut invalid) = (0usize, 0usize);
        for blob in blobs {
            match self.add_from_peer(blob, false) {
                PeerVerdict::Invalid(rule) => {
                    invalid += 1;
                    if invalid == 1 {
                        warn!(target: TARGET, %rule, "invalid share in a sync");
                    }
                }
                PeerVerdict::Known => {}
                _ => valid += 1,
            }
        }
        self.status.synced += valid as u64;
        info!(target: TARGET, fetched = blobs.len(), added = valid, invalid, shares = self.chain.len(), "sync applied");
        self.after_peer_shares(tip_before);
    }

    /// A new tip from peers' shares is new work; otherwise only the status changes.
    fn after_peer_shares(&mut self, tip_before: Option<Hash>) {
        if self.chain.tip().map(|(id, _)| *id) != tip_before {
            self.new_generation();
        } else {
            self.publish_status();
        }
    }

    /// Forgets shares more than two windows and a margin below the tip, in the chain
    /// and in the store, so that neither grows without bound.
    fn prune(&mut self) {
        let keep = self.params.window.saturating_mul(2).saturating_add(32);
        let kept = usize::try_from(keep).unwrap_or(usize::MAX);
        if self.chain.len() <= kept.saturating_add(PRUNE_SLACK) {
            return;
        }
        let dropped = self.chain.prune(keep);
        for id in &dropped {
            if let Err(e) = self.tree.remove(id.as_bytes()) {
                warn!(target: TARGET, error = %e, "pruning the sidechain store");
                break;
            }
        }
        if !dropped.is_empty() {
            debug!(target: TARGET, dropped = dropped.len(), kept = self.chain.len(), "sidechain pruned");
        }
    }

    fn publish_status(&mut self) {
        self.prune();
        self.status.shares = self.chain.len();
        if let Some((id, tip)) = self.chain.tip() {
            self.status.tip = Some(id.to_string());
            self.status.tip_height = Some(tip.sidechain_height);
            self.status.tip_timestamp = Some(tip.timestamp);
            self.status.chain_work = Some(tip.cumulative_difficulty);
            self.tip_tx.send_replace(Some(TipInfo {
                hash: *id.as_bytes(),
                height: tip.sidechain_height,
                chain_work: tip.cumulative_difficulty,
            }));
        }
        self.status.recent_work = self
            .chain
            .main_chain()
            .take(RECENT_SHARES)
            .map(|(_, s)| (u32::try_from(s.timestamp).unwrap_or(u32::MAX), s.difficulty))
            .collect();
        self.status_tx.send_replace(self.status.clone());
    }
}

/// A block's key in the store: its height (big-endian, so keys sort by height) and id.
fn block_key(b: &BlockRecord) -> Vec<u8> {
    let mut k = b.height.to_be_bytes().to_vec();
    k.extend_from_slice(b.id.as_bytes());
    k
}
