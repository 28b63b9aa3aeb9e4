//! What an xmrig-family client puts in its `login`: the wallet, a worker name and a fixed
//! difficulty, in the shapes P2Pool and xmrig users write (`ADDRESS`, `ADDRESS.worker`,
//! `ADDRESS+DIFF`, `ADDRESS.worker+DIFF`); and the job `target` encoding they read.

use otedama_sharechain::monero::{MoneroAddress, MoneroNetwork, Wallet};
use std::str::FromStr;

/// Longest worker name kept; longer names are cut.
pub const MAX_WORKER: usize = 64;
/// Highest fixed difficulty a login may ask for.
pub const MAX_FIXED_DIFFICULTY: u64 = 1 << 48;

/// A parsed login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The wallet the miner's shares pay.
    pub wallet: Wallet,
    /// The address as the miner wrote it.
    pub address: String,
    /// Worker name: after a `.` in the login, else the `rigid`, else `pass` when it is not
    /// `x`, else empty.
    pub worker: String,
    /// A fixed session difficulty asked for with `+DIFF`.
    pub fixed_difficulty: Option<u64>,
}

impl Login {
    /// The worker's full name: `ADDRESS.worker`, or `ADDRESS` without a worker.
    pub fn worker_name(&self) -> String {
        if self.worker.is_empty() {
            self.address.clone()
        } else {
            format!("{}.{}", self.address, self.worker)
        }
    }
}

/// Why a login was refused; the message is what the client sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Not a Monero address.
    #[error("Invalid address: {0}")]
    Address(String),
    /// An address of another network.
    #[error("Invalid address: not a mainnet address")]
    Network,
    /// A subaddress: P2Pool's outputs pay standard addresses only.
    #[error("Invalid address: subaddresses cannot receive P2Pool payouts, use a primary address")]
    Subaddress,
    /// `+DIFF` that is not a number in range.
    #[error("Invalid difficulty {0:?}")]
    Difficulty(String),
}

/// Parses `login` (with the optional `pass` and `rigid`) into a wallet, a worker and a
/// fixed difficulty.
///
/// # Errors
/// [`LoginError`] for an address that cannot be paid or a bad difficulty.
pub fn parse_login(login: &str, pass: &str, rigid: &str) -> Result<Login, LoginError> {
    let (rest, fixed) = match login.rsplit_once('+') {
        Some((rest, diff)) => {
            let d = diff
                .parse::<u64>()
                .ok()
                .filter(|d| (1..=MAX_FIXED_DIFFICULTY).contains(d))
                .ok_or_else(|| LoginError::Difficulty(diff.chars().take(32).collect()))?;
            (rest, Some(d))
        }
        None => (login, None),
    };
    let (address, worker) = match rest.split_once('.') {
        Some((a, w)) => (a, w),
        None => (rest, ""),
    };
    let parsed =
        MoneroAddress::from_str(address.trim()).map_err(|e| LoginError::Address(e.to_string()))?;
    if parsed.network != MoneroNetwork::Mainnet {
        return Err(LoginError::Network);
    }
    if parsed.subaddress {
        return Err(LoginError::Subaddress);
    }
    let worker = [worker, rigid, if pass == "x" { "" } else { pass }]
        .into_iter()
        .find(|w| !w.is_empty())
        .unwrap_or("");
    Ok(Login {
        wallet: parsed.keys,
        address: address.trim().to_owned(),
        worker: worker.chars().take(MAX_WORKER).collect(),
        fixed_difficulty: fixed,
    })
}

/// The 64-bit target xmrig compares the top 8 bytes of a hash with (little-endian) for a
/// difficulty: `2^64 / difficulty`, rounded down, at most `u64::MAX`.
pub fn target_for(difficulty: u64) -> u64 {
    match difficulty {
        0 | 1 => u64::MAX,
        d => u64::try_from((1u128 << 64) / u128::from(d)).unwrap_or(u64::MAX),
    }
}

/// The job's `target` field: the 64-bit target as 16 hex digits of its little-endian
/// bytes (xmrig also reads the 8-digit form; the long one is exact at any difficulty).
pub fn target_hex(difficulty: u64) -> String {
    hex::encode(target_for(difficulty).to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A mainnet address from Monero's documentation.
    const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    #[test]
    fn logins_in_every_shape() {
        let plain = parse_login(ADDR, "x", "").expect("plain");
        assert_eq!((plain.worker.as_str(), plain.fixed_difficulty), ("", None));
        assert_eq!(plain.address, ADDR);
        let w = parse_login(&format!("{ADDR}.rig1"), "x", "").expect("worker");
        assert_eq!(w.worker, "rig1");
        let d = parse_login(&format!("{ADDR}+50000"), "x", "").expect("diff");
        assert_eq!(d.fixed_difficulty, Some(50_000));
        let both = parse_login(&format!("{ADDR}.rig2+1000"), "x", "").expect("both");
        assert_eq!(
            (both.worker.as_str(), both.fixed_difficulty),
            ("rig2", Some(1000))
        );
        assert_eq!(parse_login(ADDR, "x", "rid").expect("rigid").worker, "rid");
        assert_eq!(
            parse_login(ADDR, "laptop", "").expect("pass").worker,
            "laptop"
        );
        assert_eq!(plain.wallet, w.wallet);
    }

    #[test]
    fn bad_logins_are_refused_with_a_message() {
        assert!(matches!(
            parse_login("nope", "x", ""),
            Err(LoginError::Address(_))
        ));
        assert!(matches!(
            parse_login(&format!("{ADDR}+0"), "x", ""),
            Err(LoginError::Difficulty(_))
        ));
        assert!(matches!(
            parse_login(&format!("{ADDR}+abc"), "x", ""),
            Err(LoginError::Difficulty(_))
        ));
    }

    #[test]
    fn targets_as_xmrig_reads_them() {
        assert_eq!(target_for(1), u64::MAX);
        assert_eq!(target_for(2), 1 << 63);
        assert_eq!(
            target_hex(1000),
            hex::encode((u64::MAX / 1000).to_le_bytes())
        );
        // 2^64 / 3 rounded down.
        assert_eq!(target_for(3), 0x5555_5555_5555_5555);
    }
}
