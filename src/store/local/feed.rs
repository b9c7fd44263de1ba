//! The local store's revocation feed.

use super::{LocalStore, SWEEP_EVERY};
use crate::store::{FeedEvent, Revocation};
use tokio::sync::{broadcast, mpsc};

/// The local feed: a snapshot, then this process's revocations as they are
/// made and other processes' at each poll. A failed read is `Lost`; the
/// next good one starts over with a snapshot.
pub(super) async fn follow(
    store: LocalStore,
    mut own: broadcast::Receiver<Revocation>,
    sender: mpsc::Sender<FeedEvent>,
) {
    let mut poll = tokio::time::interval(store.inner.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = tokio::time::Instant::now();
    // The sequence number read so far; `None` until a snapshot was sent.
    let mut read_up_to: Option<i64> = None;
    let mut lost = false;
    loop {
        if read_up_to.is_none() {
            match store.load_revocations().await {
                Ok((snapshot, last)) => {
                    if sender.send(FeedEvent::Snapshot(snapshot)).await.is_err() {
                        return;
                    }
                    read_up_to = Some(last);
                    lost = false;
                }
                Err(error) if !lost => {
                    tracing::warn!(%error, "cannot read revocations from the local store");
                    lost = true;
                    if sender.send(FeedEvent::Lost).await.is_err() {
                        return;
                    }
                }
                Err(_) => {}
            }
        }
        tokio::select! {
            announced = own.recv() => match announced {
                Ok(revocation) => {
                    if sender.send(FeedEvent::Revoked(revocation)).await.is_err() {
                        return;
                    }
                }
                // Missed some: start over from the file.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    own = own.resubscribe();
                    read_up_to = None;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = poll.tick() => {
                let Some(after) = read_up_to else { continue };
                match store.revocations_since(after).await {
                    Ok((revocations, last)) => {
                        for revocation in revocations {
                            if sender.send(FeedEvent::Revoked(revocation)).await.is_err() {
                                return;
                            }
                        }
                        read_up_to = Some(last);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot read revocations from the local store");
                        read_up_to = None;
                        lost = true;
                        if sender.send(FeedEvent::Lost).await.is_err() {
                            return;
                        }
                    }
                }
                if last_sweep.elapsed() >= SWEEP_EVERY {
                    last_sweep = tokio::time::Instant::now();
                    if let Err(error) = store.sweep().await {
                        tracing::warn!(%error, "cannot delete expired entries from the local store");
                    }
                }
            }
        }
    }
}
