//! One refresh for the whole fleet: replicas sharing a state store agree,
//! through it, on who calls the provider for a (session, refresh token).
//!
//! Within one process, [`Refresher`](super::Refresher) already makes
//! concurrent requests share one flight. Across processes, the flight that
//! reaches here first:
//! 1. reads the outcome another replica may have stored (then uses it);
//! 2. else takes the store's lock for the key, for the provider's timeout
//!    plus a margin, reads once more (a holder may just have finished), asks
//!    the provider, stores the outcome for `tokens.grace_window` and
//!    releases the lock;
//! 3. or, while another replica holds the lock, waits for its outcome,
//!    polling the store, and takes the lock itself if the holder vanished
//!    (its lock expired) without storing one.
//!
//! An outcome stands until the end of its grace window by the injected clock
//! (the one sessions use), written beside it; the store forgets it after
//! `tokens.grace_window` of its own time.
//!
//! The stored outcome of a successful refresh is the new tokens sealed with
//! the provider-token key for this session id alone (the cipher of
//! [`SessionCodec::seal_tokens`]): the store never holds a token in clear.
//! A store that cannot be reached does not stop refreshes: this replica asks
//! the provider alone, and says so in the log (with rotating refresh tokens,
//! two replicas doing so at once may spend one twice, which the provider
//! answers by ending the grant: the session ends, it is not widened).

use super::Outcome;
use crate::clock::SharedClock;
use crate::session::{Session, SessionCodec};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting replica looks for the holder's outcome.
const POLL: Duration = Duration::from_millis(25);
/// The lock outlives the provider's timeout by this much.
const LOCK_MARGIN: Duration = Duration::from_secs(5);

/// The store the replicas share, and how long one refresh may take.
pub(super) struct Fleet {
    store: Store,
    clock: SharedClock,
    lock_ttl: Duration,
}

impl Fleet {
    pub(super) fn new(store: Store, clock: SharedClock, provider_timeout: Duration) -> Fleet {
        Fleet { store, clock, lock_ttl: provider_timeout + LOCK_MARGIN }
    }

    /// The outcome for `key`: another replica's that still stands, or
    /// `ask`'s run here once, kept for `keep_for`.
    pub(super) async fn settle<F>(
        &self,
        codec: &SessionCodec,
        session: &Session,
        key: &[u8; 32],
        keep_for: Duration,
        ask: impl FnOnce() -> F,
    ) -> Outcome
    where
        F: std::future::Future<Output = Outcome>,
    {
        let name: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let (outcome_key, lock_key) = (format!("refresh:outcome:{name}"), format!("refresh:lock:{name}"));
        let give_up = Instant::now() + self.lock_ttl * 2;
        loop {
            match self.stored(codec, session, &outcome_key).await {
                Ok(Some(outcome)) => return outcome,
                Ok(None) => {}
                Err(error) => return alone(error, ask).await,
            }
            match self.store.try_lock(&lock_key, self.lock_ttl).await {
                Ok(Some(lock)) => {
                    // The holder before us may have stored its outcome just now.
                    let outcome = match self.stored(codec, session, &outcome_key).await {
                        Ok(Some(outcome)) => outcome,
                        _ => {
                            let outcome = ask().await;
                            self.share(codec, session, &outcome_key, &outcome, keep_for).await;
                            outcome
                        }
                    };
                    let _ = lock.release().await;
                    return outcome;
                }
                Ok(None) if Instant::now() < give_up => tokio::time::sleep(POLL).await,
                Ok(None) => {
                    tracing::warn!(session = %session.id, "another replica held the refresh lock too long; refresh later");
                    return Outcome::Failed;
                }
                Err(error) => return alone(error, ask).await,
            }
        }
    }

    /// The outcome a replica stored, if it still stands.
    async fn stored(&self, codec: &SessionCodec, session: &Session, key: &str) -> Result<Option<Outcome>, StoreError> {
        let corrupt = || StoreError::Corrupt("a refresh outcome".into());
        let Some(bytes) = self.store.get_outcome(key).await? else { return Ok(None) };
        let text = std::str::from_utf8(&bytes).map_err(|_| corrupt())?;
        let (until, text) = text.split_once(' ').ok_or_else(corrupt)?;
        if self.clock.now() >= until.parse::<i64>().map_err(|_| corrupt())? {
            return Ok(None);
        }
        Ok(Some(match text.split_once(':') {
            Some(("refreshed", blob)) => match codec.open_tokens(session, blob) {
                Ok(tokens) => Outcome::Refreshed(Arc::new(tokens)),
                Err(_) => return Err(StoreError::Corrupt("a refresh outcome that does not open".into())),
            },
            _ if text == "revoked" => Outcome::Revoked,
            _ if text == "failed" => Outcome::Failed,
            _ => return Err(corrupt()),
        }))
    }

    /// Store `outcome` for the other replicas, standing for `ttl`.
    async fn share(&self, codec: &SessionCodec, session: &Session, key: &str, outcome: &Outcome, ttl: Duration) {
        let until = self.clock.now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let text = match outcome {
            Outcome::Refreshed(tokens) => match codec.seal_tokens(session, tokens) {
                Ok(blob) => format!("refreshed:{blob}"),
                Err(_) => return,
            },
            Outcome::Revoked => "revoked".to_owned(),
            Outcome::Failed => "failed".to_owned(),
        };
        let text = format!("{until} {text}");
        if let Err(error) = self.store.put_outcome(key, text.as_bytes(), ttl).await {
            tracing::warn!(%error, session = %session.id, "the refresh outcome could not be shared with the other replicas");
        }
    }
}

/// The store cannot be asked: refresh on this replica alone.
async fn alone<F: std::future::Future<Output = Outcome>>(error: StoreError, ask: impl FnOnce() -> F) -> Outcome {
    tracing::warn!(%error, "the state store cannot be reached; refreshing on this replica alone");
    ask().await
}
