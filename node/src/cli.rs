//! The `otedama-node` commands that talk to a running node over its REST API
//! (`status`, `workers`, `shares`, `payouts`, `peers` and its actions), the `token`
//! commands that manage API tokens in the data directory, and `keygen`. `main.rs`
//! parses; this module does the work.

use crate::config::Config;
use crate::unix_now;
use clap::{Args, Subcommand};
use otedama_rpc::{
    ApiClient, AuditLog, AuditRecord, ClientError, Payouts, Peer, SharePage, Status, TokenStore,
    Worker,
};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

/// Exit code when the node answered with an error.
pub const EXIT_API_ERROR: u8 = 1;
/// Exit code for a usage or local error.
pub const EXIT_FAILURE: u8 = 2;
/// Exit code when no node answers at the API URL.
pub const EXIT_NOT_RUNNING: u8 = 3;

/// Where the node's API is, and the output format.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Base URL of the node's API (its `api.address`).
    #[arg(
        long,
        global = true,
        env = "OTEDAMA_API",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub api: String,
    /// Prints the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Options of `shares`.
#[derive(Debug, Args)]
pub struct SharesArgs {
    /// API and format.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Page number, from 1 (newest shares first).
    #[arg(long, default_value_t = 1)]
    pub page: u64,
    /// Shares per page, 1 to 100.
    #[arg(long, default_value_t = 20)]
    pub per_page: u64,
}

/// Where the token store is: the data directory of a config, or one given directly.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The node's config file (its `app.data_dir` holds the tokens).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    pub config: Option<PathBuf>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates an API token and prints it once; only its SHA-256 is stored.
    Create {
        /// Where the tokens are.
        #[command(flatten)]
        store: StoreArgs,
        /// How long it stays valid, e.g. 24h, 30d (default: the config's
        /// api.auth.token_expiry, or 24h).
        #[arg(long, value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        expiry: Option<Duration>,
        /// A note to recognise it by in `token list`.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists tokens: id, label, creation, expiry, state.
    List {
        /// Where the tokens are.
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token; the running node refuses it from the next request on.
    Revoke {
        /// Where the tokens are.
        #[command(flatten)]
        store: StoreArgs,
        /// The token's id (from `token list`).
        id: String,
    },
}

/// What to ask the node.
#[derive(Debug, Clone, Copy)]
pub enum Query {
    /// `GET /api/status`.
    Status,
    /// `GET /api/workers`.
    Workers,
    /// `GET /api/shares`.
    Shares {
        /// Page from 1.
        page: u64,
        /// Page size.
        per_page: u64,
    },
    /// `GET /api/payouts`.
    Payouts,
    /// `GET /api/peers`.
    Peers,
}

fn fmt_time(unix: u64) -> String {
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

/// Runs a query against the node at `args.api` and prints the answer.
pub fn query(what: Query, args: &RemoteArgs) -> ExitCode {
    remote(&args.api, None, |client| async move {
        let out = match what {
            Query::Status => print(args.json, &client.status().await?, status_text),
            Query::Workers => print(args.json, &client.workers().await?, workers_text),
            Query::Shares { page, per_page } => print(
                args.json,
                &client.shares(page, per_page).await?,
                shares_text,
            ),
            Query::Payouts => print(args.json, &client.payouts().await?, payouts_text),
            Query::Peers => print(args.json, &client.peers().await?, peers_text),
        };
        Ok(out)
    })
}

/// Options of `peers`: the listing, or an action on one peer.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// API and format.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// API token for the actions (`otedama-node token create`); not needed when the
    /// node runs with `api.auth.enabled: false`.
    #[arg(
        long,
        env = "OTEDAMA_TOKEN",
        hide_env_values = true,
        global = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// What to do; lists the connected peers when omitted.
    #[command(subcommand)]
    pub action: Option<PeerCommand>,
}

/// The `peers` actions.
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Dials a peer at a multiaddr (`/ip4/192.0.2.7/tcp/9333/p2p/12D3Koo...`).
    Dial {
        /// The peer's address.
        address: String,
    },
    /// Disconnects a peer and refuses it for a while.
    Ban {
        /// The peer id.
        peer: String,
        /// How long, e.g. 10m, 24h (default 10m, at most 30d).
        #[arg(long, value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// Lifts a ban.
    Unban {
        /// The peer id.
        peer: String,
    },
}

/// Runs `peers`: the listing, or the action, against the node at `args.remote.api`.
pub fn peers(args: &PeersArgs) -> ExitCode {
    let Some(action) = &args.action else {
        return query(Query::Peers, &args.remote);
    };
    let json = args.remote.json;
    remote(&args.remote.api, args.token.clone(), |client| async move {
        let done = match action {
            PeerCommand::Dial { address } => client.dial_peer(address).await?,
            PeerCommand::Ban { peer, duration } => client.ban_peer(peer, *duration).await?,
            PeerCommand::Unban { peer } => client.unban_peer(peer).await?,
        };
        Ok(print(json, &done, |d| {
            format!("{}: {}\n", d.action, d.subject)
        }))
    })
}

/// Runs `call` with a client of the API at `api` and prints what it returns; maps the
/// failures to the exit codes.
fn remote<F, Fut>(api: &str, token: Option<String>, call: F) -> ExitCode
where
    F: FnOnce(ApiClient) -> Fut,
    Fut: std::future::Future<Output = Result<String, ClientError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        let client = ApiClient::new(api)?.with_token(token);
        call(client).await
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                ClientError::NotRunning { .. } => EXIT_NOT_RUNNING,
                ClientError::BadUrl(_) => EXIT_FAILURE,
                ClientError::Api { .. } | ClientError::Decode { .. } => EXIT_API_ERROR,
            })
        }
    }
}

fn print<T: Serialize>(json: bool, value: &T, text: fn(&T) -> String) -> String {
    if json {
        serde_json::to_string_pretty(value)
            .map_or_else(|e| format!("{{\"error\":\"{e}\"}}\n"), |s| s + "\n")
    } else {
        text(value)
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
    format!(
        "node        {} v{}\n\
         chain       {} (consensus {})\n\
         uptime      {}\n\
         sharechain  {height} {tip} ({} shares held)\n\
         parent      {parent}, {}{template}\n\
         stratum     {}, {} connections\n\
         hashrate    pool {}, local {}, miner {}\n\
         mining      {mining}\n\
         peers       {}\n\
         sync        {:.1}%\n",
        s.name,
        s.version,
        s.chain,
        short(&s.consensus_id),
        fmt_age(s.uptime_secs),
        s.sharechain.shares,
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
    )
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
            "  {:>8}  {}  {:<8}  {}\n",
            b.height,
            short(&b.hash),
            format!("{:?}", b.status).to_lowercase(),
            fmt_time(b.time)
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

/// The data directory and default expiry of `store`.
fn locate(store: &StoreArgs) -> Result<(PathBuf, Duration), String> {
    let default_expiry = Duration::from_secs(24 * 3600);
    match (&store.config, &store.data_dir) {
        (_, Some(dir)) => Ok((dir.clone(), default_expiry)),
        (Some(file), None) => {
            let config = Config::load(file).map_err(|e| e.to_string())?;
            Ok((config.app.data_dir, config.api.auth.token_expiry))
        }
        (None, None) => Err("give --config FILE or --data-dir DIR".into()),
    }
}

#[derive(Serialize)]
struct CreatedToken<'a> {
    id: &'a str,
    token: &'a str,
    label: Option<&'a str>,
    expires: u64,
}

#[derive(Serialize)]
struct ListedToken<'a> {
    id: &'a str,
    label: Option<&'a str>,
    created: u64,
    expires: u64,
    revoked: Option<u64>,
    state: &'a str,
}

/// Runs a `token` command.
pub fn token(cmd: TokenCommand) -> ExitCode {
    match token_inner(cmd) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn audit(dir: &std::path::Path, action: &str, id: &str) -> Result<(), String> {
    AuditLog::in_dir(dir)
        .append(&AuditRecord {
            time: unix_now(),
            action: action.to_owned(),
            actor: "cli".to_owned(),
            remote: None,
            subject: Some(id.to_owned()),
        })
        .map_err(|e| format!("cannot write the audit log in {}: {e}", dir.display()))
}

fn token_inner(cmd: TokenCommand) -> Result<String, String> {
    let now = unix_now();
    match cmd {
        TokenCommand::Create {
            store,
            expiry,
            label,
            json,
        } => {
            let (dir, default_expiry) = locate(&store)?;
            let tokens = TokenStore::in_dir(&dir);
            let new = tokens
                .create(expiry.unwrap_or(default_expiry), label, now)
                .map_err(|e| e.to_string())?;
            audit(&dir, "token_create", &new.info.id)?;
            if json {
                let out = CreatedToken {
                    id: &new.info.id,
                    token: &new.secret,
                    label: new.info.label.as_deref(),
                    expires: new.info.expires,
                };
                return serde_json::to_string(&out)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string());
            }
            Ok(format!(
                "token    {}\nid       {}\nlabel    {}\nexpires  {}\n\n\
                 Store the token now: it is shown only this once. Use it as\n  \
                 Authorization: Bearer {}\n",
                new.secret,
                new.info.id,
                new.info.label.as_deref().unwrap_or("-"),
                fmt_time(new.info.expires),
                new.secret
            ))
        }
        TokenCommand::List { store, json } => {
            let (dir, _) = locate(&store)?;
            let list = TokenStore::in_dir(&dir).list().map_err(|e| e.to_string())?;
            if json {
                let rows: Vec<ListedToken<'_>> = list
                    .iter()
                    .map(|t| ListedToken {
                        id: &t.id,
                        label: t.label.as_deref(),
                        created: t.created,
                        expires: t.expires,
                        revoked: t.revoked,
                        state: t.state(now),
                    })
                    .collect();
                return serde_json::to_string(&rows)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string());
            }
            if list.is_empty() {
                return Ok("no tokens\n".into());
            }
            let mut out = format!(
                "{:<10} {:<24} {:<21} {:<21} STATE\n",
                "ID", "LABEL", "CREATED", "EXPIRES"
            );
            for t in &list {
                out += &format!(
                    "{:<10} {:<24} {:<21} {:<21} {}\n",
                    t.id,
                    t.label.as_deref().unwrap_or("-"),
                    fmt_time(t.created),
                    fmt_time(t.expires),
                    t.state(now)
                );
            }
            Ok(out)
        }
        TokenCommand::Revoke { store, id } => {
            let (dir, _) = locate(&store)?;
            let revoked = TokenStore::in_dir(&dir)
                .revoke(&id, now)
                .map_err(|e| e.to_string())?;
            audit(&dir, "token_revoke", &revoked.id)?;
            Ok(format!("revoked {}\n", revoked.id))
        }
    }
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
}

/// Options of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where the key is kept.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Prints `{"peer_id":..,"path":..,"created":bool}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct KeyReport {
    peer_id: String,
    path: PathBuf,
    created: bool,
}

/// Runs `keygen`: creates `<data_dir>/node.key` if there is none (never replacing one)
/// and prints the peer id other nodes will know this node by.
pub fn keygen(args: &KeygenArgs) -> ExitCode {
    let result = locate(&args.store).and_then(|(dir, _)| {
        let (key, created) = crate::p2p::key::load_or_create(&dir).map_err(|e| e.to_string())?;
        Ok(KeyReport {
            peer_id: key.public().to_peer_id().to_string(),
            path: dir.join(crate::p2p::key::KEY_FILE),
            created,
        })
    });
    match result {
        Ok(r) => {
            if args.json {
                match serde_json::to_string(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                }
            } else {
                let state = if r.created { "created" } else { "existing" };
                println!(
                    "peer id  {}\nkey      {} ({state})",
                    r.peer_id,
                    r.path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
