//! Deprovisioning: for providers with `revalidate`, a signed-in person's
//! account is checked at the provider at most that often, and the session
//! ends when the account is gone.
//!
//! - When a check is due is kept per replica, in memory: a bounded cache of
//!   session id -> the time (by the injected clock) the next check is due.
//!   A session without an entry is due `revalidate` after it was created.
//!   Looking that up ([`Revalidator::due`]) is all a request pays while no
//!   check is due; sessions of other providers pay nothing.
//! - The check: the provider's userinfo endpoint with the session's access
//!   token (fresh first, through the [`Refresher`]); without a userinfo
//!   endpoint, a forced refresh. A 401 or 403 from userinfo, or a refused
//!   refresh, means the account is gone. A network error, a timeout, or
//!   any other answer is transient: the session stays, and is checked again
//!   after [`BACK_OFF`], not on every request.
//! - Concurrent requests for one session share one check (moka's
//!   `get_with`, keyed by the session id and the due time the check
//!   settles, so a later check is a new flight).
//! - A gone session stays known as gone here (the caller also revokes it in
//!   the store, when there is one).

use super::{Refresher, TokenStatus};
use crate::clock::SharedClock;
use crate::crypto::ProviderTokens;
use crate::providers::{AccountStatus, Provider};
use crate::session::{Session, SessionCodec};
use moka::future::Cache as FlightCache;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// How long after a check that could not be made the next one is tried.
pub const BACK_OFF: i64 = 60;
/// How many sessions' next check times a replica keeps.
const MAX_SESSIONS: u64 = 200_000;
/// How many checks may be in flight (or just settled) at once.
const MAX_FLIGHTS: u64 = 10_000;

/// What is known about one session's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Checked (or not checkable); the next check is due at this time.
    NextAt(i64),
    /// The provider said the account is gone.
    Gone,
}

/// Whether a request must wait for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// No check is due (or the provider does not revalidate).
    No,
    /// A check is due; `at` is the due time it settles.
    Yes { at: i64 },
    /// The account was found gone: the session is over.
    Gone,
}

/// What a check found about the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The account is there (or there is no way to ask).
    Present,
    /// The account is gone: end the session.
    Gone,
    /// The provider could not say; the session stays until the next try.
    Unknown,
}

/// A check's outcome, shared by the requests that waited for it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub found: Found,
    /// New tokens, when the check refreshed them (whatever it found): the
    /// session must be resealed with them, or a rotated refresh token is lost.
    pub tokens: Option<Arc<ProviderTokens>>,
}

impl Checked {
    fn found(found: Found) -> Checked {
        Checked { found, tokens: None }
    }
}

pub struct Revalidator {
    clock: SharedClock,
    /// Providers with `revalidate`, and how often (usually none or one).
    every: Vec<(String, i64)>,
    marks: Cache<String, Mark>,
    flights: FlightCache<(String, i64), Arc<Checked>>,
}

impl std::fmt::Debug for Revalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revalidator").field("every", &self.every).finish()
    }
}

impl Revalidator {
    /// `providers`: each provider's id and `revalidate`; `provider_timeout`
    /// bounds one check (a refresh and a userinfo call).
    pub fn new<'a>(
        clock: SharedClock,
        providers: impl IntoIterator<Item = (&'a str, Option<Duration>)>,
        provider_timeout: Duration,
    ) -> Revalidator {
        let every = providers
            .into_iter()
            .filter_map(|(id, every)| Some((id.to_owned(), i64::try_from(every?.as_secs()).unwrap_or(i64::MAX))))
            .collect();
        let marks = Cache::builder().max_capacity(MAX_SESSIONS).time_to_idle(Duration::from_secs(24 * 3600)).build();
        let flights = FlightCache::builder()
            .max_capacity(MAX_FLIGHTS)
            .time_to_live(provider_timeout.saturating_mul(2) + Duration::from_secs(60))
            .build();
        Revalidator { clock, every, marks, flights }
    }

    /// Whether any provider revalidates.
    pub fn is_off(&self) -> bool {
        self.every.is_empty()
    }

    fn every(&self, provider: &str) -> Option<i64> {
        self.every.iter().find(|(id, _)| id == provider).map(|(_, every)| *every)
    }

    /// Whether `session` must be checked before it is used: a memory lookup.
    pub fn due(&self, session: &Session) -> Due {
        let Some(every) = self.every(&session.provider) else {
            return Due::No;
        };
        let at = match self.marks.get(&session.id) {
            Some(Mark::Gone) => return Due::Gone,
            Some(Mark::NextAt(at)) => at,
            None => session.created_at.saturating_add(every),
        };
        if self.clock.now() >= at {
            Due::Yes { at }
        } else {
            Due::No
        }
    }

    /// Check `session`'s account at `provider` (the check due at `at`),
    /// sharing the check with every concurrent request for the session;
    /// `true` for the one request that made it (and so acts on it once).
    pub async fn check(
        &self,
        refresher: &Refresher,
        codec: &SessionCodec,
        provider: &Provider,
        session: &Session,
        at: i64,
    ) -> (Arc<Checked>, bool) {
        let key = (session.id.clone(), at);
        let entry = self
            .flights
            .entry(key)
            .or_insert_with(async {
                let checked = ask(refresher, codec, provider, session).await;
                let every = self.every(&session.provider).unwrap_or(BACK_OFF);
                let now = self.clock.now();
                let mark = match checked.found {
                    Found::Present => Mark::NextAt(now.saturating_add(every)),
                    Found::Unknown => Mark::NextAt(now.saturating_add(BACK_OFF.min(every))),
                    Found::Gone => {
                        tracing::info!(
                            provider = %provider.id, session = %session.id, user = %session.user.id,
                            "the account is gone at the provider; the session ends"
                        );
                        Mark::Gone
                    }
                };
                self.marks.insert(session.id.clone(), mark);
                Arc::new(checked)
            })
            .await;
        let made_it = entry.is_fresh();
        (entry.into_value(), made_it)
    }
}

/// One check at the provider.
async fn ask(refresher: &Refresher, codec: &SessionCodec, provider: &Provider, session: &Session) -> Checked {
    let has_userinfo = match provider.has_userinfo().await {
        Ok(has) => has,
        Err(error) => {
            tracing::warn!(provider = %provider.id, session = %session.id, %error, "account check: provider unavailable");
            return Checked::found(Found::Unknown);
        }
    };
    if !has_userinfo {
        // A forced refresh is the check; without a refresh token there is none to make.
        let refreshable = matches!(codec.tokens(session), Ok(Some(tokens)) if tokens.refresh_token.is_some());
        if !refreshable {
            return Checked::found(Found::Present);
        }
        return match refresher.refreshed(codec, provider, session).await {
            TokenStatus::Fresh { tokens, .. } => Checked { found: Found::Present, tokens: Some(tokens) },
            TokenStatus::Ended => Checked::found(Found::Gone),
            TokenStatus::Unavailable => Checked::found(Found::Unknown),
            TokenStatus::Expired | TokenStatus::NoTokens => Checked::found(Found::Present),
        };
    }
    let (tokens, refreshed) = match refresher.fresh(codec, Some(provider), session).await {
        TokenStatus::Fresh { tokens, refreshed } => (tokens, refreshed.is_some()),
        TokenStatus::Ended => return Checked::found(Found::Gone),
        TokenStatus::Unavailable => return Checked::found(Found::Unknown),
        // An expired token that cannot be refreshed proves nothing either way.
        TokenStatus::Expired | TokenStatus::NoTokens => return Checked::found(Found::Present),
    };
    let found = match provider.account_status(&tokens.access_token).await {
        Ok(AccountStatus::Present) => Found::Present,
        Ok(AccountStatus::Gone) => Found::Gone,
        Err(error) => {
            tracing::warn!(provider = %provider.id, session = %session.id, %error, "account check failed; retried later");
            Found::Unknown
        }
    };
    Checked { found, tokens: refreshed.then_some(tokens) }
}
