//! `sidechain verify`: verifies a dump of Monero P2Pool shares offline and reports the tip,
//! the valid, invalid and unverified counts, the first errors and the next block's payees.

use std::process::ExitCode;

use anyhow::Context as _;
use otedama_sharechain::monero::dump::{DumpReport, permutation, split_dump, verify_dump};
use otedama_sharechain::monero::{FixedDifficulty, MoneroAddress, MoneroView, SidechainParams};

use super::args::SidechainVerifyArgs;
use super::{EXIT_FAILURE, EXIT_ISSUES};

/// A Monero view that knows no difficulty: window shares stay unverified.
struct NoMoneroData;

impl MoneroView for NoMoneroData {
    fn difficulty_at(&self, _height: u64) -> Option<u128> {
        None
    }
}

/// Runs `sidechain verify`. Exits 0 when no share is invalid, 1 otherwise, 2 when the
/// file or the options are unusable.
///
/// # Errors
/// The report could not be encoded as JSON.
pub fn sidechain_verify(args: &SidechainVerifyArgs) -> anyhow::Result<ExitCode> {
    let Some(params) = SidechainParams::by_name(&args.chain) else {
        eprintln!(
            "error: unknown Monero chain {:?} (expected xmr-main, xmr-mini, xmr-nano or xmr-regtest)",
            args.chain
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    };
    let miner = match args.wallet.as_deref().map(str::parse::<MoneroAddress>) {
        None => None,
        Some(Ok(a)) => Some(a.keys),
        Some(Err(e)) => {
            eprintln!("error: --wallet: {e}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    let data = match std::fs::read(&args.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    let data = if data.starts_with(XZ_MAGIC) {
        match decompress_xz(&data) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: cannot decompress {}: {e}", args.file.display());
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
    } else {
        data
    };
    let blobs = match split_dump(&data) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {} is not a share dump: {e}", args.file.display());
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    let order = match args.shuffle {
        Some(seed) => permutation(blobs.len(), seed),
        None => (0..blobs.len()).collect(),
    };
    let monero: Box<dyn MoneroView> = match args.monero_difficulty {
        Some(d) => Box::new(FixedDifficulty(u128::from(d))),
        None => Box::new(NoMoneroData),
    };
    let report = verify_dump(params, &blobs, &order, monero, miner);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("cannot encode the report")?
        );
    } else {
        print!("{}", report_text(&report, blobs.len()));
    }
    Ok(if report.invalid > 0 {
        ExitCode::from(EXIT_ISSUES)
    } else {
        ExitCode::SUCCESS
    })
}

/// The first bytes of an xz stream.
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
/// Largest decompressed dump (P2Pool's full main-sidechain dump is 15 MiB).
const MAX_DUMP_SIZE: usize = 1 << 30;

/// A writer that refuses to grow past [`MAX_DUMP_SIZE`], so a crafted file cannot
/// exhaust memory.
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_DUMP_SIZE {
            return Err(std::io::Error::other("decompressed dump exceeds 1 GiB"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses an xz file in memory.
fn decompress_xz(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Bounded(Vec::new());
    lzma_rs::xz_decompress(&mut &data[..], &mut out).map_err(|e| format!("{e:?}"))?;
    Ok(out.0)
}

/// Renders a report for a terminal.
fn report_text(r: &DumpReport, total: usize) -> String {
    let mut s = String::new();
    match &r.tip {
        Some(t) => s.push_str(&format!(
            "tip: sidechain height {} on Monero height {}, id {}\n",
            t.sidechain_height, t.monero_height, t.id
        )),
        None => s.push_str("tip: none\n"),
    }
    s.push_str(&format!(
        "shares: {total} read, {} valid, {} invalid, {} unverified (proof of work not checked for {})\n",
        r.valid, r.invalid, r.unverified, r.pow_unchecked
    ));
    for e in &r.errors {
        let id = e.id.map_or_else(|| "-".to_owned(), |id| id.to_string());
        s.push_str(&format!(
            "invalid #{} {id}: {}: {}\n",
            e.index, e.rule, e.detail
        ));
    }
    if !r.next_payees.is_empty() {
        s.push_str(&format!(
            "next block pays {} wallets (from the tip's reward):\n",
            r.next_payees.len()
        ));
        for p in &r.next_payees {
            s.push_str(&format!("  {} {}\n", p.address, xmr(p.amount)));
        }
    }
    s
}

/// Formats atomic units as XMR with all 12 decimals.
fn xmr(atomic: u64) -> String {
    format!(
        "{}.{:012}",
        atomic / 1_000_000_000_000,
        atomic % 1_000_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_render_exactly() {
        assert_eq!(xmr(0), "0.000000000000");
        assert_eq!(xmr(17_411_468_548), "0.017411468548");
        assert_eq!(xmr(600_000_000_001), "0.600000000001");
    }
}
