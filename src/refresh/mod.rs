//! The provider token lifecycle: staleness, refresh, and single flight.
//!
//! - A token is stale when `expires_at` is at or before now + `refresh_skew`,
//!   or, without `expires_at`, once `stale_without_expiry` (1 h) has passed
//!   since it was obtained.
//! - A stale token is refreshed when a request needs it. Concurrent requests
//!   for the same session share one refresh: moka's `try_get_with` runs one
//!   call to the provider per key, where the key is a hash of the session id
//!   and the refresh token (nothing a client can choose freely).
//! - The outcome is kept for `grace_window` (by the injected clock): a
//!   request still carrying the old cookie gets the new tokens (and a new
//!   cookie) without another call, so a rotated refresh token is never sent
//!   twice by this process.
//! - Any OAuth error the token endpoint answers (`invalid_grant`, or another
//!   4xx such as LemonLDAP::NG's `invalid_request` for an expired refresh
//!   session) is final: it ends the session, and is kept too, so the dead
//!   refresh token is not sent again.
//! - A provider that is down, slow or answering 5xx or garbage does not end
//!   the session: the failure is kept for `grace_window`, so the session's
//!   requests meanwhile use the session without fresh tokens, and the first
//!   request after it tries once more.
//! - With a state store, replicas share that flight too ([`fleet`]): one of
//!   them calls the provider and the others read its outcome from the store,
//!   so a rotated refresh token is never sent twice by the fleet either.
//! - Every refresh token the gateway holds (at sign-in, [`Refresher::remember`],
//!   and both sides of each refresh) goes into [`KnownRefreshTokens`], which
//!   the Bearer check refuses.

mod fleet;
pub mod revalidate;

use crate::clock::SharedClock;
use crate::config::{TokenSettings, WithoutRefreshToken};
use crate::credentials::provider_token::refresh_tokens::KnownRefreshTokens;
use crate::crypto::ProviderTokens;
use crate::metrics::{self, RefreshOutcome};
use crate::providers::{Provider, ProviderError};
use crate::session::{Session, SessionCodec};
use crate::store::Store;
use fleet::Fleet;
use moka::future::Cache;
use moka::ops::compute::Op;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// What a request that needs the provider's access token gets.
#[derive(Debug)]
pub enum TokenStatus {
    /// A usable token; `refreshed` is the resealed session when it was refreshed.
    Fresh { tokens: Arc<ProviderTokens>, refreshed: Option<Box<Session>> },
    /// The token has expired and cannot be refreshed; the session stays.
    Expired,
    /// The session must end (the grant was revoked, or policy says so).
    Ended,
    /// Refreshing failed for now (provider down, slow, or garbled); retry later.
    Unavailable,
    /// The session carries no provider tokens (password sign-in).
    NoTokens,
}

#[derive(Debug)]
enum Outcome {
    Refreshed(Arc<ProviderTokens>),
    /// The provider refused the refresh token: the session ends.
    Revoked,
    /// The provider could not be asked; the session waits out the window.
    Failed,
}

/// An outcome, and until when (by the injected clock) it stands.
#[derive(Debug)]
struct Kept {
    outcome: Outcome,
    until: i64,
}

pub struct Refresher {
    settings: TokenSettings,
    clock: SharedClock,
    outcomes: Cache<[u8; 32], Arc<Kept>>,
    known_refresh_tokens: Arc<KnownRefreshTokens>,
    /// The replicas sharing a store, when there is one.
    fleet: Option<Fleet>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher").field("settings", &self.settings).finish()
    }
}

/// The single-flight key: never anything the client chooses freely.
fn flight_key(session: &Session, tokens: &ProviderTokens) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"sealgate/refresh/v1\0");
    hash.update(session.id.as_bytes());
    hash.update(b"\0");
    if let Some(refresh) = &tokens.refresh_token {
        hash.update(refresh.expose_secret().as_bytes());
    }
    hash.finalize().into()
}

impl Refresher {
    pub fn new(settings: TokenSettings, clock: SharedClock) -> Refresher {
        let outcomes = Cache::builder().max_capacity(100_000).time_to_live(settings.grace_window).build();
        Refresher { settings, clock, outcomes, known_refresh_tokens: Arc::default(), fleet: None }
    }

    /// Share each refresh with the replicas on `store` (nothing for a store
    /// that is off); `provider_timeout` bounds how long one refresh may take.
    pub fn sharing(mut self, store: &Store, provider_timeout: std::time::Duration) -> Refresher {
        self.fleet = (!store.is_off()).then(|| Fleet::new(store.clone(), self.clock.clone(), provider_timeout));
        self
    }

    /// Record refresh tokens in `known` (the set the Bearer check refuses).
    pub fn knowing(mut self, known: Arc<KnownRefreshTokens>) -> Refresher {
        self.known_refresh_tokens = known;
        self
    }

    /// Remember a session's refresh token (at sign-in), so it is never a Bearer credential.
    pub fn remember(&self, tokens: &ProviderTokens) {
        if let Some(refresh_token) = &tokens.refresh_token {
            self.known_refresh_tokens.remember(refresh_token);
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Whether `tokens` need refreshing now.
    pub fn is_stale(&self, tokens: &ProviderTokens) -> bool {
        let now = self.clock.now();
        match tokens.expires_at {
            Some(expires_at) => expires_at <= now + self.settings.refresh_skew.as_secs() as i64,
            None => now >= tokens.obtained_at + self.settings.stale_without_expiry.as_secs() as i64,
        }
    }

    /// Fresh tokens for `session`, refreshing them with `provider` if stale.
    pub async fn fresh(&self, codec: &SessionCodec, provider: Option<&Provider>, session: &Session) -> TokenStatus {
        self.tokens(codec, provider, session, false).await
    }

    /// New tokens for `session` from `provider`, stale or not: a refresh
    /// that asks the provider whether the grant (and so the account) still
    /// stands. It shares the flight and the kept outcome with [`fresh`](Self::fresh).
    pub async fn refreshed(&self, codec: &SessionCodec, provider: &Provider, session: &Session) -> TokenStatus {
        self.tokens(codec, Some(provider), session, true).await
    }

    async fn tokens(
        &self,
        codec: &SessionCodec,
        provider: Option<&Provider>,
        session: &Session,
        force: bool,
    ) -> TokenStatus {
        let tokens = match codec.tokens(session) {
            Ok(Some(tokens)) => tokens,
            Ok(None) => return TokenStatus::NoTokens,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "provider tokens do not open");
                return TokenStatus::Ended;
            }
        };
        // A verify-only replica cannot seal refreshed tokens into the
        // session: the tokens stand as they are, stale or not.
        if (!force && !self.is_stale(&tokens)) || !codec.can_mint() {
            return TokenStatus::Fresh { tokens, refreshed: None };
        }
        let (Some(provider), true) = (provider, tokens.refresh_token.is_some()) else {
            return match self.settings.without_refresh_token {
                WithoutRefreshToken::KeepSession => TokenStatus::Expired,
                WithoutRefreshToken::EndSession => {
                    metrics::session_ended_by_refresh();
                    TokenStatus::Ended
                }
            };
        };
        let key = flight_key(session, &tokens);
        let now = self.clock.now();
        if let Some(stale) = self.outcomes.get(&key).await.filter(|kept| now >= kept.until) {
            // Remove only the outcome found stale: a concurrent request may
            // already have replaced it, and removing that would send a
            // rotated refresh token twice.
            self.outcomes
                .entry(key)
                .and_compute_with(|current| {
                    let same = current.is_some_and(|entry| Arc::ptr_eq(entry.value(), &stale));
                    std::future::ready(if same { Op::Remove } else { Op::Nop })
                })
                .await;
        }
        let kept = self
            .outcomes
            .get_with(key, async {
                self.remember(&tokens);
                let ask = || self.ask(provider, session, &tokens);
                let outcome = match &self.fleet {
                    Some(fleet) => fleet.settle(codec, session, &key, self.settings.grace_window, ask).await,
                    None => ask().await,
                };
                if let Outcome::Refreshed(fresh) = &outcome {
                    // Another replica's refresh: its new refresh token is ours to refuse as Bearer too.
                    self.remember(fresh);
                }
                Arc::new(Kept { outcome, until: self.clock.now().saturating_add(self.grace_window()) })
            })
            .await;
        match &kept.outcome {
            Outcome::Refreshed(fresh) => match codec.with_tokens(session, fresh) {
                Ok(refreshed) => TokenStatus::Fresh { tokens: fresh.clone(), refreshed: Some(Box::new(refreshed)) },
                Err(_) => TokenStatus::Unavailable,
            },
            Outcome::Revoked => {
                metrics::session_ended_by_refresh();
                TokenStatus::Ended
            }
            Outcome::Failed => TokenStatus::Unavailable,
        }
    }

    fn grace_window(&self) -> i64 {
        self.settings.grace_window.as_secs().min(i64::MAX as u64) as i64
    }

    /// One call to the provider's token endpoint, and what it means for the session.
    async fn ask(&self, provider: &Provider, session: &Session, tokens: &ProviderTokens) -> Outcome {
        match provider.refresh(tokens).await {
            Ok(fresh) => {
                metrics::refreshed(RefreshOutcome::ok);
                self.remember(&fresh);
                tracing::info!(provider = %provider.id, session = %session.id, "provider tokens refreshed");
                Outcome::Refreshed(Arc::new(fresh))
            }
            Err(ProviderError::CodeRejected) => {
                metrics::refreshed(RefreshOutcome::invalid_grant);
                tracing::warn!(provider = %provider.id, session = %session.id, "refresh token refused (invalid_grant)");
                Outcome::Revoked
            }
            Err(ProviderError::Refused(error)) => {
                metrics::refreshed(RefreshOutcome::refused);
                tracing::warn!(provider = %provider.id, session = %session.id, %error, "refresh token refused");
                Outcome::Revoked
            }
            Err(error) => {
                metrics::refreshed(RefreshOutcome::failed);
                tracing::warn!(provider = %provider.id, session = %session.id, error = %error, "token refresh failed");
                Outcome::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use secrecy::SecretString;

    fn tokens(expires_at: Option<i64>, obtained_at: i64) -> ProviderTokens {
        ProviderTokens {
            access_token: SecretString::from("at".to_owned()),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at,
            obtained_at,
            scope: None,
        }
    }

    #[test]
    fn a_token_without_expiry_is_fresh_at_59_59_and_stale_at_60_00() {
        let clock = ManualClock::at(10_000);
        let refresher = Refresher::new(TokenSettings::default(), Arc::new(clock.clone()));
        let token = tokens(None, 10_000);
        clock.set(10_000 + 59 * 60 + 59);
        assert!(!refresher.is_stale(&token));
        clock.set(10_000 + 60 * 60);
        assert!(refresher.is_stale(&token));
    }

    #[test]
    fn a_token_with_expiry_is_stale_within_the_skew() {
        let clock = ManualClock::at(10_000);
        let refresher = Refresher::new(TokenSettings::default(), Arc::new(clock.clone()));
        let token = tokens(Some(10_100), 10_000);
        clock.set(10_100 - 31);
        assert!(!refresher.is_stale(&token));
        clock.set(10_100 - 30);
        assert!(refresher.is_stale(&token), "at expires_at - skew it is stale");
    }
}
