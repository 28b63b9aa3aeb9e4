//! Stratum V2 for the Bitcoin family: the Noise-encrypted binary protocol of SRI, on its
//! own port beside Stratum v1, serving standard and extended mining channels from the
//! same work and handing shares to the node through the same path.
//!
//! - `codec`: frames and the Common and Mining messages (own code, cross-checked
//!   against SRI's message crates in the tests).
//! - `noise`: the NX handshake and the encrypted transport (SRI's `noise_sv2`), and the
//!   pool's authority key.
//! - `session`: one connection's setup, channels, jobs, targets and shares.
//! - `client`: the mining client's side (handshake, setup, extended channel, jobs),
//!   for the built-in miner and the load bench.

pub mod client;
pub mod codec;
pub mod noise;
pub(crate) mod session;

use std::net::SocketAddr;
use std::time::Duration;

pub use noise::AuthorityKey;

/// Where and how the SV2 server listens.
#[derive(Debug, Clone)]
pub struct Sv2Config {
    /// Listen address (3336 by default, the port SV2 pools use).
    pub listen: SocketAddr,
    /// The key that signs each connection's certificate; clients pin its public half.
    pub authority: AuthorityKey,
    /// How long a certificate is valid from the handshake on.
    pub cert_validity: Duration,
}

impl PartialEq for Sv2Config {
    fn eq(&self, other: &Self) -> bool {
        self.listen == other.listen
            && self.authority.public() == other.authority.public()
            && self.cert_validity == other.cert_validity
    }
}
