//! Otedama's Stratum v1 server: line codec, sessions, jobs and submissions. A session
//! emits typed [`Submission`]s and never touches the sharechain; the node turns them
//! into shares and blocks.

mod work;

pub use work::{Submission, Work, WorkError, WorkSource};
