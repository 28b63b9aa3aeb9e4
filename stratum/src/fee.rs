//! The node operator's fee on other miners' work, as public P2Pool nodes charged it:
//! a fraction of the jobs sent to miners other than the operator's own carries the
//! operator's payout script instead of the miner's, so the shares found on those jobs
//! are credited to the operator by the sharechain's ordinary PPLNS split.
//!
//! No consensus rule changes: such a share is a share like any other, paying whoever
//! its job named. A job's payout is fixed when the job is cut (its coinbase commits to
//! it), so the choice is made per job: a deterministic hash of the job id against the
//! fee's fraction. Job ids are unique per server, and over many jobs the fraction of
//! fee jobs, and so of the shares found on them, converges to the fee.

use otedama_sharechain::PayoutScript;
use std::net::IpAddr;

/// The most the operator may take, percent.
pub const MAX_FEE_PERCENT: f64 = 10.0;

/// Parts per million in one percent.
const PPM_PER_PERCENT: f64 = 10_000.0;

/// Why a fee was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("fee must be between 0 and {MAX_FEE_PERCENT} percent, got {0}")]
pub struct FeeError(pub f64);

/// An operator's fee: who is charged, how much, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorFee {
    ppm: u32,
    script: PayoutScript,
    address: String,
    exempt: Vec<PayoutScript>,
    exempt_loopback: bool,
}

impl OperatorFee {
    /// Returns a fee of `percent` (0 to [`MAX_FEE_PERCENT`]) paid to `script`, written
    /// `address` in messages to miners. Miners paying to `script` itself are exempt, and
    /// so are connections from loopback (the built-in miner, the operator's own tools).
    ///
    /// # Errors
    /// [`FeeError`] for a percentage out of range or not a number.
    pub fn new(percent: f64, script: PayoutScript, address: String) -> Result<Self, FeeError> {
        if !(0.0..=MAX_FEE_PERCENT).contains(&percent) {
            return Err(FeeError(percent));
        }
        Ok(Self {
            ppm: (percent * PPM_PER_PERCENT).round() as u32,
            script,
            address,
            exempt: Vec::new(),
            exempt_loopback: true,
        })
    }

    /// Exempts miners paying to `script` (the operator's other addresses).
    #[must_use]
    pub fn exempting(mut self, script: PayoutScript) -> Self {
        if script != self.script && !self.exempt.contains(&script) {
            self.exempt.push(script);
        }
        self
    }

    /// Charges loopback connections too (for tests, whose miners connect over loopback).
    #[must_use]
    pub fn charging_loopback(mut self) -> Self {
        self.exempt_loopback = false;
        self
    }

    /// Returns the fee in percent.
    pub fn percent(&self) -> f64 {
        f64::from(self.ppm) / PPM_PER_PERCENT
    }

    /// Returns the address the fee is paid to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Returns the script the fee is paid to.
    pub fn script(&self) -> &PayoutScript {
        &self.script
    }

    /// Returns whether a miner at `ip` paying to `payout` is charged: it is not the
    /// operator's own.
    pub fn charges(&self, ip: IpAddr, payout: &PayoutScript) -> bool {
        self.ppm > 0
            && !(self.exempt_loopback && ip.is_loopback())
            && *payout != self.script
            && !self.exempt.contains(payout)
    }

    /// Returns whether the job `job_id` of a charged miner pays the operator.
    pub fn takes(&self, job_id: u64) -> bool {
        splitmix64(job_id) % 1_000_000 < u64::from(self.ppm)
    }

    /// Returns the `client.show_message` line telling a charged miner about the fee.
    pub fn message_line(&self) -> Vec<u8> {
        let text = format!(
            "This node charges a {}% fee: that share of your jobs pays {}; the rest pay you.",
            self.percent(),
            self.address
        );
        let line = serde_json::json!({
            "id": null,
            "method": "client.show_message",
            "params": [text],
        });
        format!("{line}\n").into_bytes()
    }
}

/// A bijective mixer: consecutive job ids give uncorrelated values (Steele, Lea and
/// Flood, "Fast splittable pseudorandom number generators", 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_sharechain::test_utils::script;
    use std::net::Ipv4Addr;

    fn fee(percent: f64) -> OperatorFee {
        OperatorFee::new(percent, script(1), "op".into()).expect("valid fee")
    }

    /// Over `n` consecutive jobs, the count taken lies within 5 standard deviations
    /// of the binomial mean (a false failure about once in 3.5 million).
    fn within_bounds(percent: f64, n: u64) {
        let f = fee(percent);
        let taken = (1..=n).filter(|&id| f.takes(id)).count() as f64;
        let p = percent / 100.0;
        let mean = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (taken - mean).abs() <= 5.0 * sd.max(1.0),
            "{percent}%: {taken} of {n}, expected {mean} +- {}",
            5.0 * sd
        );
    }

    #[test]
    fn the_fraction_of_jobs_taken_is_the_fee() {
        for percent in [0.5, 1.0, 2.5, 10.0] {
            within_bounds(percent, 100_000);
        }
        within_bounds(1.0, 1_000);
    }

    #[test]
    fn zero_percent_takes_nothing_and_charges_no_one() {
        let f = fee(0.0);
        assert!((1..=100_000).all(|id| !f.takes(id)));
        assert!(!f.charges(Ipv4Addr::new(203, 0, 113, 7).into(), &script(2)));
    }

    #[test]
    fn the_operators_own_miners_are_exempt() {
        let f = fee(2.0).exempting(script(3));
        let outside = Ipv4Addr::new(203, 0, 113, 7).into();
        assert!(f.charges(outside, &script(2)));
        assert!(!f.charges(outside, &script(1)), "the fee address");
        assert!(!f.charges(outside, &script(3)), "another own address");
        assert!(
            !f.charges(Ipv4Addr::LOCALHOST.into(), &script(2)),
            "loopback"
        );
        assert!(
            f.charging_loopback()
                .charges(Ipv4Addr::LOCALHOST.into(), &script(2))
        );
    }

    #[test]
    fn out_of_range_fees_are_refused() {
        for bad in [-0.1, 10.01, f64::NAN, f64::INFINITY] {
            assert!(
                OperatorFee::new(bad, script(1), "op".into()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(fee(10.0).percent(), 10.0);
        assert_eq!(fee(1.25).percent(), 1.25);
    }

    #[test]
    fn the_message_names_the_fee_and_the_address() {
        let line = String::from_utf8(fee(1.0).message_line()).expect("utf-8");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["method"], "client.show_message");
        assert_eq!(
            v["params"][0],
            "This node charges a 1% fee: that share of your jobs pays op; the rest pay you."
        );
    }
}
