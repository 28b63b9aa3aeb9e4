//! The task that polls the parent daemons for block templates and hands them to the
//! coordinator.

use super::NodeEvent;
use crate::parent::{ParentClient, ParentTip, TemplateUpdate};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::warn;

/// Fetches templates: immediately, then by longpoll; retries with backoff when the
/// daemons are down, in initial sync or without peers. Each template's parent block is
/// published on `tip` (watchers wake only when it changes).
pub(super) async fn poll_templates(
    parent: ParentClient,
    out: mpsc::Sender<TemplateUpdate>,
    tip: watch::Sender<Option<ParentTip>>,
    events: broadcast::Sender<NodeEvent>,
    reachable: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut longpoll: Option<String> = None;
    let mut backoff = Duration::from_millis(250);
    loop {
        let fetch = parent.block_template(longpoll.as_deref());
        let result = tokio::select! {
            _ = shutdown.changed() => return,
            r = fetch => r,
        };
        match result {
            Ok(update) => {
                reachable.store(true, Ordering::Relaxed);
                backoff = Duration::from_millis(250);
                longpoll = update.longpoll_id.clone();
                let now = Some(ParentTip::of(&update.template));
                tip.send_if_modified(|t| std::mem::replace(t, now) != now);
                if out.send(update).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                reachable.store(false, Ordering::Relaxed);
                warn!(target: "otedama::parent", error = %e, "no block template; retrying");
                let _ = events.send(NodeEvent::ParentUnavailable(e.to_string()));
                longpoll = None;
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
