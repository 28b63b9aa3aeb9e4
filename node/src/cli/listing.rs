//! `chains` and `devices`: what this build and this machine offer.

use anyhow::Context as _;
use otedama_sharechain::ChainSpec;
use serde::Serialize;

/// One row of `chains --json`.
#[derive(Serialize)]
struct ChainRow {
    name: String,
    algorithm: String,
    share_period_secs: u64,
    window_max_shares: u32,
    consensus_id: String,
}

/// Runs `chains`: prints the built-in chain specs as a table or JSON.
///
/// # Errors
/// The JSON could not be encoded.
pub fn chains(json: bool) -> anyhow::Result<()> {
    let rows: Vec<ChainRow> = ChainSpec::all()
        .iter()
        .map(|spec| ChainRow {
            name: spec.name.to_owned(),
            algorithm: spec.pow_name().to_owned(),
            share_period_secs: spec.share_period_secs,
            window_max_shares: spec.window_max_shares,
            consensus_id: spec.consensus_id().to_string(),
        })
        // Monero sidechains: P2Pool's parameters (and consensus ids) and Otedama's regtest.
        .chain(
            otedama_sharechain::monero::SidechainParams::all()
                .into_iter()
                .map(|p| ChainRow {
                    algorithm: "randomx".into(),
                    share_period_secs: p.block_time,
                    window_max_shares: u32::try_from(p.window).unwrap_or(u32::MAX),
                    consensus_id: p.consensus_id.to_string(),
                    name: p.name,
                }),
        )
        // Ethereum Classic, solo: no sharechain, so no window and no consensus id.
        .chain(crate::etc::EtcChain::all().iter().map(|c| ChainRow {
            name: c.name.to_owned(),
            algorithm: "etchash".into(),
            share_period_secs: c.block_time,
            window_max_shares: 0,
            consensus_id: "solo".into(),
        }))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string(&rows).context("cannot encode the chain list")?
        );
        return Ok(());
    }
    println!(
        "{:<12} {:<9} {:>12} {:>10}  CONSENSUS ID",
        "NAME", "ALGORITHM", "SHARE PERIOD", "WINDOW CAP"
    );
    for row in &rows {
        println!(
            "{:<12} {:<9} {:>12} {:>10}  {}",
            row.name,
            row.algorithm,
            format!("{}s", row.share_period_secs),
            row.window_max_shares,
            row.consensus_id
        );
    }
    Ok(())
}

/// Runs `devices`: prints this machine's mining hardware as a table or JSON.
///
/// # Errors
/// The JSON could not be encoded.
pub fn devices(json: bool) -> anyhow::Result<()> {
    let report = crate::devices::report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::devices::render(&report));
    }
    Ok(())
}
