//! A dishonest peer for scenario tests: it joins the mesh with the node's own P2P stack,
//! copies the honest sharechain over the sync protocol, and announces forged shares
//! that build on the honest tip: shares paying only itself, or shares whose proof of
//! work misses their target. Honest nodes must reject them and penalise it. It also
//! makes valid side shares beside the tip (orphans), as a slow honest peer would.

use otedama_node::config::{ChainConfig, DaemonConfig};
use otedama_node::p2p::protocol::{MAX_SHARES_PER_REQUEST, Request, Response, WIRE_VERSION};
use otedama_node::p2p::{P2pHandle, P2pSettings, ServeSource};
use otedama_node::parent::ParentClient;
use otedama_sharechain::coinbase::BlockTemplate;
use otedama_sharechain::{
    Amount, ChainSpec, PayoutScript, Reader, Share, ShareChain, ShareHash, ShareHeader,
    ShareTemplate, Target,
};
use std::path::Path;
use tokio::sync::watch;

/// How a forged share is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forgery {
    /// Valid proof of work, but the coinbase pays the whole reward to the forger
    /// instead of the PPLNS window.
    WrongPayouts,
    /// Correct payouts, but the header's hash does not meet the share target.
    BadProofOfWork,
}

/// A peer that announces forged shares.
#[derive(Debug)]
pub struct Adversary {
    /// Its handle on its swarm.
    pub p2p: P2pHandle,
    spec: &'static ChainSpec,
    chain: ShareChain,
    payout: PayoutScript,
    shutdown: watch::Sender<bool>,
}

impl Drop for Adversary {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

impl Adversary {
    /// Starts a swarm with a key in `dir`, listening on loopback and dialing
    /// `bootstrap`. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// The key, store or swarm could not be set up.
    pub fn join(
        spec: &'static ChainSpec,
        dir: &Path,
        bootstrap: &[String],
        payout: PayoutScript,
    ) -> Result<Self, String> {
        let (key, _) = otedama_node::p2p::key::load_or_create(dir).map_err(|e| e.to_string())?;
        let bootstrap = bootstrap
            .iter()
            .map(|a| a.parse().map_err(|e| format!("{a}: {e}")))
            .collect::<Result<_, _>>()?;
        let settings = P2pSettings::loopback(bootstrap, "adversary/0");
        let (shutdown, rx) = watch::channel(false);
        let mut registry = prometheus_client::registry::Registry::default();
        let mesh = otedama_node::p2p::start(
            settings,
            key,
            &spec.into(),
            ServeSource::empty(spec),
            &mut registry,
            rx,
        )
        .map_err(|e| e.to_string())?;
        let (p2p, mut events) = (mesh.handle, mesh.events);
        // Nothing is validated or relayed here; drain what the swarm reports.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        Ok(Self {
            p2p,
            spec,
            chain: ShareChain::new(spec.clone()),
            payout,
            shutdown,
        })
    }

    /// Copies `peer`'s main chain (from its oldest share, with uncles) into the local
    /// chain without validating it. Returns the number of shares held.
    ///
    /// # Errors
    /// The peer did not answer as expected.
    pub async fn copy_chain(&mut self, peer: &str) -> Result<usize, String> {
        let peer = peer.parse().map_err(|e| format!("{peer}: {e}"))?;
        let headers = match self
            .p2p
            .request(
                peer,
                Request::Headers {
                    locator: Vec::new(),
                    max: 2000,
                },
            )
            .await
            .map_err(|e| e.to_string())?
        {
            Response::Headers(h) => h,
            other => return Err(format!("unexpected answer {other:?}")),
        };
        let mut hashes = Vec::with_capacity(headers.len());
        for bytes in &headers {
            let mut r = Reader::new(bytes);
            let header = ShareHeader::decode(&mut r, self.spec.seal).map_err(|e| e.to_string())?;
            hashes.push(*header.hash().as_bytes());
        }
        for batch in hashes.chunks(MAX_SHARES_PER_REQUEST) {
            let shares = match self
                .p2p
                .request(
                    peer,
                    Request::Shares {
                        hashes: batch.to_vec(),
                    },
                )
                .await
                .map_err(|e| e.to_string())?
            {
                Response::Shares(s) => s,
                other => return Err(format!("unexpected answer {other:?}")),
            };
            for synced in shares {
                let share = Share::from_bytes(&synced.share).map_err(|e| e.to_string())?;
                let meta = self
                    .chain
                    .derive_meta(&share)
                    .ok_or_else(|| format!("share {} arrived before its parent", share.hash()))?;
                self.chain.insert(meta);
            }
        }
        Ok(self.chain.len())
    }

    /// The local chain's tip.
    pub fn tip(&self) -> Option<(u64, ShareHash)> {
        self.chain.tip().map(|t| (t.height, t.hash))
    }

    /// Forges a share on the local tip over `block`.
    ///
    /// # Errors
    /// The local chain is empty or its window cannot be walked.
    pub fn forge(&mut self, block: BlockTemplate, forgery: Forgery) -> Result<Share, String> {
        let mut t = ShareTemplate::new(&mut self.chain, block, self.payout.clone())
            .map_err(|e| format!("no template on the local tip: {e}"))?;
        if forgery == Forgery::WrongPayouts {
            let total = t.payouts.iter().map(|(_, a)| a.to_sat()).sum();
            t.payouts = vec![(self.payout.clone(), Amount::from_sat(total))];
        }
        self.solve(&t, forgery != Forgery::BadProofOfWork)
    }

    /// Makes a valid share beside the local tip: on the tip's parent, with the uncles a
    /// child of that parent may include. Announced after the tip, it is an orphan.
    ///
    /// # Errors
    /// The local chain holds fewer than two shares, or its window cannot be walked.
    pub fn side_share(&mut self, block: BlockTemplate) -> Result<Share, String> {
        let prev = self
            .chain
            .tip()
            .map(|t| t.prev)
            .filter(|p| !p.is_zero())
            .ok_or("no parent of the local tip")?;
        let uncles = self.chain.uncle_candidates(prev);
        let t = ShareTemplate::on(&mut self.chain, block, self.payout.clone(), prev, uncles)
            .map_err(|e| format!("no template beside the local tip: {e}"))?;
        self.solve(&t, true)
    }

    /// Finds a nonce whose header meets (`valid`) or misses the share target.
    fn solve(&self, t: &ShareTemplate, valid: bool) -> Result<Share, String> {
        let extranonce = [0x5a; 8];
        let extranonce = &extranonce[..usize::from(self.spec.extranonce_size)];
        let cb = t.coinbase(extranonce).map_err(|e| e.to_string())?;
        let target = Target::from_compact(t.info.share_target).map_err(|e| e.to_string())?;
        for nonce in 0..1_000_000u32 {
            let header = t.header(&cb, t.ntime(), nonce, t.block.version);
            let met = target.is_met_by(&self.spec.algorithm.hash(&header.to_bytes()));
            if met == valid {
                return Ok(t.share(header, extranonce, &cb));
            }
        }
        Err("no nonce found".into())
    }

    /// Announces `share` on the shares topic.
    pub fn announce(&self, share: &Share) {
        let mut payload = vec![WIRE_VERSION];
        payload.extend_from_slice(&share.to_bytes());
        self.p2p.publish(payload);
    }
}

/// Fetches the current template from the parent daemon at `url`.
///
/// # Errors
/// The daemon did not answer with a usable template.
pub async fn parent_template(spec: &ChainSpec, url: &str) -> Result<BlockTemplate, String> {
    let chain = ChainConfig {
        spec: spec.name.to_owned(),
        daemons: vec![DaemonConfig {
            url: url.to_owned(),
            user: Some("u".into()),
            password: Some(otedama_node::config::Secret::new("p")),
            ..DaemonConfig::default()
        }],
    };
    let client = ParentClient::new(&chain, None).map_err(|e| e.to_string())?;
    client
        .block_template(None)
        .await
        .map(|u| u.template)
        .map_err(|e| e.to_string())
}
