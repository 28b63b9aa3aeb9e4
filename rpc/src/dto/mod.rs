//! The API's data: what every endpoint and WebSocket message carries, as JSON.
//!
//! Hashes are lowercase hex in display byte order (as block explorers show them), amounts
//! are integer base units (satoshis or litoshis) in fields ending in `_sat`, times are Unix
//! seconds, and hashrates are hashes per second of the chain's proof of work.
//!
//! Every type is re-exported here (and from the crate root), so the files are only a
//! filing of the types by endpoint.

mod events;
mod history;
mod miner;
mod peers;
mod shares;
mod stats;
mod status;

pub use events::*;
pub use history::*;
pub use miner::*;
pub use peers::*;
pub use shares::*;
pub use stats::*;
pub use status::*;
