//! The human-readable tables of the query commands, and the units they use.

use otedama_rpc::{OnChain, OnChainState, P2pStatus, Payouts, Peer, SharePage, Status, Worker};
use std::time::{Duration, UNIX_EPOCH};

pub(super) fn fmt_time(unix: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix);
    humantime_serde::re::humantime::format_rfc3339_seconds(t).to_string()
}

/// Formats a hashrate with an SI unit.
pub fn fmt_hashrate(h: f64) -> String {
    if !h.is_finite() || h <= 0.0 {
        return "0 H/s".into();
    }
    let units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
    let mut v = h;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

fn fmt_coins(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

fn fmt_age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {s}s"),
        (0, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

fn short(hash: &str) -> String {
    if hash.len() > 20 {
        format!("{}..{}", &hash[..10], &hash[hash.len() - 6..])
    } else {
        hash.to_owned()
    }
}

/// The `status` table.
pub fn status_text(s: &Status) -> String {
    let tip = s.sharechain.tip.as_deref().map(short).unwrap_or_default();
    let height = s
        .sharechain
        .height
        .map_or_else(|| "empty".to_owned(), |h| format!("height {h}"));
    let parent = s
        .parent
        .height
        .map_or_else(|| "no template yet".to_owned(), |h| format!("height {h}"));
    let template = s
        .parent
        .template_age_secs
        .map(|a| format!(", template {a} s old"))
        .unwrap_or_default();
    let mining = match (&s.mining.running, &s.mining.configured) {
        (true, _) => format!(
            "running, paying {}",
            s.mining.payout_address.as_deref().unwrap_or("-")
        ),
        (false, true) => "stopped".to_owned(),
        (false, false) => format!(
            "not configured ({})",
            s.mining.detail.as_deref().unwrap_or("-")
        ),
    };
    let fee = s.stratum.fee.as_ref().map_or_else(String::new, |f| {
        format!(", operator fee {}% to {}", f.percentage, f.address)
    });
    // A solo node has no sharechain and no consensus id: say who every block pays.
    let (consensus, sharechain) = match &s.solo {
        Some(solo) => (
            format!(
                "solo: every block pays {}",
                solo.beneficiary
                    .as_deref()
                    .unwrap_or("the parent node's beneficiary")
            ),
            "none (solo mining)".to_owned(),
        ),
        None => (
            format!("consensus {}", short(&s.consensus_id)),
            format!("{height} {tip} ({} shares held)", s.sharechain.shares),
        ),
    };
    format!(
        "node        {} v{}\n\
         chain       {} ({consensus})\n\
         uptime      {}\n\
         sharechain  {sharechain}\n\
         parent      {parent}, {}{template}\n\
         stratum     {}, {} connections{fee}\n\
         hashrate    pool {}, local {}, miner {}\n\
         mining      {mining}\n\
         peers       {}\n\
         sync        {:.1}%\n\
         {}",
        s.name,
        s.version,
        s.chain,
        fmt_age(s.uptime_secs),
        if s.parent.reachable {
            "reachable"
        } else {
            "unreachable"
        },
        s.stratum.address,
        s.stratum.connections,
        fmt_hashrate(s.hashrate.pool),
        fmt_hashrate(s.hashrate.local),
        fmt_hashrate(s.hashrate.miner),
        s.peers,
        s.sync.progress * 100.0,
        listen_text(&s.p2p),
    )
}

/// The P2P listen addresses, one a line, for `status` and `peers`.
pub fn listen_text(p2p: &P2pStatus) -> String {
    if p2p.listen.is_empty() {
        return format!("p2p         {} (not listening)\n", p2p.peer_id);
    }
    p2p.listen
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{:<12}{a}\n", if i == 0 { "p2p listen" } else { "" }))
        .collect()
}

/// The `workers` table.
pub fn workers_text(list: &Vec<Worker>) -> String {
    if list.is_empty() {
        return "no worker has sent a share yet\n".into();
    }
    let mut out = format!(
        "{:<48} {:>9} {:>9} {:>13}  LAST SHARE\n",
        "WORKER", "ACCEPTED", "REJECTED", "HASHRATE"
    );
    for w in list {
        out += &format!(
            "{:<48} {:>9} {:>9} {:>13}  {}\n",
            w.name,
            w.accepted,
            w.rejected,
            fmt_hashrate(w.hashrate),
            w.last_share_time
                .map(fmt_time)
                .unwrap_or_else(|| "-".into())
        );
    }
    out
}

/// The `shares` table.
pub fn shares_text(p: &SharePage) -> String {
    let pages = p.total.div_ceil(p.per_page.max(1)).max(1);
    let mut out = format!(
        "page {} of {pages} ({} main-chain shares)\n{:>8}  {:<20} {:<44} {:>12}  TIME\n",
        p.page, p.total, "HEIGHT", "HASH", "FINDER", "DIFFICULTY"
    );
    for s in &p.shares {
        out += &format!(
            "{:>8}  {:<20} {:<44} {:>12.6}  {}\n",
            s.height,
            short(&s.hash),
            s.address.as_deref().unwrap_or(&s.script),
            s.difficulty,
            fmt_time(s.time)
        );
    }
    out
}

/// The `payouts` tables.
pub fn payouts_text(p: &Payouts) -> String {
    let mut out = match p.block_height {
        Some(h) => format!(
            "expected payout if block {h} were found now ({} total):\n",
            fmt_coins(p.reward_sat)
        ),
        None => "expected payout: no block template yet\n".to_owned(),
    };
    if p.expected.is_empty() {
        out += "  (no shares in the window yet)\n";
    }
    for e in &p.expected {
        let pct = if p.reward_sat > 0 {
            e.amount_sat as f64 * 100.0 / p.reward_sat as f64
        } else {
            0.0
        };
        out += &format!(
            "  {:<48} {:>18} {:>7.2}%\n",
            e.address.as_deref().unwrap_or(&e.script),
            fmt_coins(e.amount_sat),
            pct
        );
    }
    out += &format!("blocks found: {}\n", p.blocks.len());
    for b in &p.blocks {
        out += &format!(
            "  {:>8}  {}  {:<8}  {}  {}\n",
            b.height,
            short(&b.hash),
            format!("{:?}", b.status).to_lowercase(),
            fmt_time(b.time),
            on_chain_text(&b.chain)
        );
        for e in &b.payouts {
            out += &format!(
                "            {:<48} {:>18}\n",
                e.address.as_deref().unwrap_or(&e.script),
                fmt_coins(e.amount_sat)
            );
        }
    }
    out
}

/// A found block's standing on the parent chain, in words.
fn on_chain_text(c: &OnChain) -> String {
    let mut out = match c.state {
        OnChainState::Pending => "pending on chain".to_owned(),
        OnChainState::Orphaned => "orphaned".to_owned(),
        OnChainState::Confirmed => format!(
            "confirmed on chain ({} confirmations{})",
            c.confirmations,
            if c.mature { ", mature" } else { "" }
        ),
    };
    if c.coinbase_matches == Some(false) {
        out += "; COINBASE ON CHAIN DIFFERS from the recorded payouts";
    }
    out
}

/// The `peers` table.
pub fn peers_text(list: &Vec<Peer>) -> String {
    if list.is_empty() {
        return "no peers connected\n".into();
    }
    let mut out = format!(
        "{:<52} {:<28} {:<8} {:>9} {:>8} {:>6}  {:<18} CONNECTED\n",
        "PEER", "ADDRESS", "DIR", "LATENCY", "TIP", "SCORE", "AGENT"
    );
    for p in list {
        let latency = p
            .latency_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms"));
        let tip = p
            .tip_height
            .map_or_else(|| "-".to_owned(), |h| h.to_string());
        out += &format!(
            "{:<52} {:<28} {:<8} {:>9} {:>8} {:>6}  {:<18} {}\n",
            p.id,
            p.address,
            p.direction,
            latency,
            tip,
            p.score,
            p.agent.as_deref().unwrap_or("-"),
            fmt_time(p.connected_since)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_hashrate(0.0), "0 H/s");
        assert_eq!(fmt_hashrate(1234.0), "1.23 kH/s");
        assert_eq!(fmt_hashrate(f64::NAN), "0 H/s");
        assert_eq!(fmt_coins(5_000_000_001), "50.00000001");
        assert_eq!(fmt_age(3725), "1h 2m 5s");
        assert_eq!(short(&"a".repeat(64)).len(), 18);
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn on_chain_states_read_as_words() {
        let mut c = OnChain::default();
        assert_eq!(on_chain_text(&c), "pending on chain");
        c.state = OnChainState::Confirmed;
        c.confirmations = 101;
        c.mature = true;
        assert_eq!(
            on_chain_text(&c),
            "confirmed on chain (101 confirmations, mature)"
        );
        c.state = OnChainState::Orphaned;
        c.confirmations = 0;
        c.mature = false;
        c.coinbase_matches = Some(false);
        assert!(on_chain_text(&c).starts_with("orphaned; COINBASE ON CHAIN DIFFERS"));
    }
}
