//! A KawPow chain's Stratum: the coordinator's work generations served in the KawPow
//! dialect by a [`DagServer`](otedama_stratum::dag::DagServer), and its shares handed
//! back to the coordinator as [`Submission`]s with their seals.
//!
//! KawPow miners roll a 64-bit nonce and never touch the coinbase, so each payout's job
//! is one header: the share template's coinbase with this node's extranonce (distinct
//! per node, so two nodes paying one address never hash the same header), the template
//! time, and the parent height where the nonce was. Miners hash its header hash; a
//! share comes back as the nonce and the mix, and the job it names rebuilds the share.

use otedama_sharechain::coinbase::Coinbase;
use otedama_sharechain::{
    BlockHeader, ChainSpec, KawpowSeal, PayoutScript, PowHash, ShareTemplate, Target,
    kawpow_header_hash, parse_address,
};
use otedama_stratum::dag::{DagSubmission, DagTemplate, DagWork, DagWorkError, DagWorkSource};
use otedama_stratum::{Submission, Work, WorkSource};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

const TARGET: &str = "otedama::stratum";
/// Jobs remembered for late shares (every payout of the last few generations).
const MAX_JOBS: usize = 1024;
/// Payout addresses cached per generation at most; a flood of addresses starts over.
const MAX_CACHED_PAYOUTS: usize = 4096;

/// What a share of one job is rebuilt from.
struct Job {
    template: Arc<ShareTemplate>,
    payout: PayoutScript,
    extranonce: Arc<[u8]>,
    coinbase: Coinbase,
    header: BlockHeader,
}

/// The jobs handed out lately, by header hash: shared by the generations' sources
/// (which add) and the bridge (which looks up).
#[derive(Default)]
struct Jobs {
    ring: Mutex<VecDeque<([u8; 32], Arc<Job>)>>,
}

impl Jobs {
    fn insert(&self, header_hash: [u8; 32], job: Arc<Job>) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.len() >= MAX_JOBS {
            ring.pop_front();
        }
        ring.push_back((header_hash, job));
    }

    fn get(&self, header_hash: &[u8; 32]) -> Option<Arc<Job>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter()
            .rev()
            .find(|(h, _)| h == header_hash)
            .map(|(_, job)| Arc::clone(job))
    }
}

/// One work generation in the KawPow dialect's terms.
struct KawpowWork {
    spec: &'static ChainSpec,
    source: Arc<dyn WorkSource>,
    extranonce: Arc<[u8]>,
    jobs: Arc<Jobs>,
    /// The job of each payout address, so every session of one address mines one
    /// header. Only derived values live behind this lock.
    cache: Mutex<BTreeMap<String, Arc<DagTemplate>>>,
}

/// A target as 32 big-endian bytes, as the DAG dialects compare results.
fn big_endian(target: Target) -> [u8; 32] {
    target.to_u256().to_be_bytes::<32>()
}

impl KawpowWork {
    fn build(&self, payout: &str) -> Result<Arc<DagTemplate>, DagWorkError> {
        let script = parse_address(payout, self.spec)
            .map_err(|e| DagWorkError::BadAddress(e.to_string()))?;
        let template = self
            .source
            .template_for(&script)
            .map_err(|e| DagWorkError::NoWork(e.to_string()))?;
        let no_work = |e: &dyn std::fmt::Display| DagWorkError::NoWork(e.to_string());
        let coinbase = template
            .coinbase(&self.extranonce)
            .map_err(|e| no_work(&e))?;
        let height = template.info.parent_height;
        let header = template.header(&coinbase, template.ntime(), height, template.block.version);
        let share_target =
            Target::from_compact(template.info.share_target).map_err(|e| no_work(&e))?;
        let block_target = Target::from_compact(template.block.bits).map_err(|e| no_work(&e))?;
        let header_hash = kawpow_header_hash(&header);
        let dag = Arc::new(DagTemplate {
            height: u64::from(height),
            header_hash,
            share_target: big_endian(share_target),
            block_target: big_endian(block_target),
            bits: template.block.bits.to_consensus(),
        });
        self.jobs.insert(
            header_hash,
            Arc::new(Job {
                template,
                payout: script,
                extranonce: Arc::clone(&self.extranonce),
                coinbase,
                header,
            }),
        );
        Ok(dag)
    }
}

impl DagWorkSource for KawpowWork {
    fn payout(&self, address: &str) -> Result<String, DagWorkError> {
        let address = address.trim();
        parse_address(address, self.spec)
            .map(|_| address.to_owned())
            .map_err(|e| DagWorkError::BadAddress(e.to_string()))
    }

    fn template_for(&self, payout: &str) -> Result<Arc<DagTemplate>, DagWorkError> {
        // A panic elsewhere cannot leave a derived cache inconsistent: reuse it.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = cache.get(payout) {
            return Ok(Arc::clone(t));
        }
        if cache.len() >= MAX_CACHED_PAYOUTS {
            cache.clear();
        }
        let t = self.build(payout)?;
        cache.insert(payout.to_owned(), Arc::clone(&t));
        Ok(t)
    }

    fn script(&self, payout: &str) -> Option<PayoutScript> {
        parse_address(payout, self.spec).ok()
    }
}

/// The share a DAG submission proves, as the coordinator takes them; `None` when its
/// job is no longer remembered.
fn submission(jobs: &Jobs, s: DagSubmission) -> Option<Submission> {
    let job = jobs.get(&s.template.header_hash)?;
    let mut pow = s.result;
    pow.reverse();
    Some(Submission {
        worker: s.worker,
        payout: job.payout.clone(),
        template: Arc::clone(&job.template),
        extranonce: job.extranonce.to_vec(),
        coinbase: job.coinbase.clone(),
        header: job.header,
        seal: Some(KawpowSeal {
            nonce: s.nonce,
            mix: s.mix,
        }),
        pow: PowHash::from_bytes(pow),
    })
}

/// The bridge's channels.
pub(crate) struct Bridge {
    pub spec: &'static ChainSpec,
    /// This node's coinbase extranonce (the chain spec's length).
    pub extranonce: Vec<u8>,
    pub work: watch::Receiver<Option<Work>>,
    pub dag_work: watch::Sender<Option<DagWork>>,
    pub shares: mpsc::Receiver<DagSubmission>,
    pub submissions: mpsc::Sender<Submission>,
}

impl Bridge {
    /// Republishes every work generation for the DAG server, and hands its shares to
    /// the coordinator, until the work channel closes.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let Bridge {
            spec,
            extranonce,
            mut work,
            dag_work,
            mut shares,
            submissions,
        } = self;
        let extranonce: Arc<[u8]> = extranonce.into();
        let jobs = Arc::new(Jobs::default());
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                changed = work.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let Some(w) = work.borrow_and_update().clone() else { continue };
                    dag_work.send_replace(Some(DagWork {
                        generation: w.generation,
                        source: Arc::new(KawpowWork {
                            spec,
                            source: w.source,
                            extranonce: Arc::clone(&extranonce),
                            jobs: Arc::clone(&jobs),
                            cache: Mutex::new(BTreeMap::new()),
                        }),
                        clean: w.clean,
                    }));
                }
                Some(share) = shares.recv() => {
                    let worker = share.worker.clone();
                    let Some(sub) = submission(&jobs, share) else {
                        debug!(target: TARGET, %worker, "KawPow share for a forgotten job dropped");
                        continue;
                    };
                    if submissions.send(sub).await.is_err() {
                        warn!(target: TARGET, "the coordinator stopped: KawPow share dropped");
                        return;
                    }
                }
            }
        }
    }
}
