//! Integration tests: a real `StratumServer` on 127.0.0.1:0 and raw line clients.

mod conversations;
mod dag;
mod defenses;
mod difficulty;
mod fee;
mod harness;
mod limits;
mod protocol;
mod resume;
mod shares;
mod sv2;
mod sv2_conformance;
mod view;
mod xmrig;
