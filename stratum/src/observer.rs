//! [`SubmitObserver`]: what a node learns of every share its Stratum sessions judge.

/// Told of every share a session judged, pseudo-shares included (most never reach the
/// node): what a node needs to track its workers' hashrates. Called on the session's
/// task; implementations must not block.
pub trait SubmitObserver: Send + Sync + 'static {
    /// `worker` (`ADDRESS` or `ADDRESS.worker`) sent a result worth `work`, the number
    /// of hashes its difficulty takes on average.
    fn accepted(&self, worker: &str, work: u64);
    /// `worker` sent a result that was refused.
    fn rejected(&self, worker: &str);
}
