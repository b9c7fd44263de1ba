//! RFC 7662: opaque provider tokens, vouched for by the provider's
//! introspection endpoint.
//!
//! Answers are cached by the token's SHA-256 (the token itself is never a
//! cache key or a log field), for at most `introspection_cache` and never
//! past the token's own `exp`. Concurrent requests with one token share one
//! call (moka single-flight). A token the provider calls inactive stays
//! refused for the cache time; a failed call is not cached.
//!
//! Only access tokens pass: the answer must carry a `token_type` (unless the
//! provider sets `insecure_introspection_without_token_type`), must not
//! describe a refresh token or (unless accepted) an ID token, and a refresh
//! token the gateway holds is refused on every use, cached answer or not.
//! The subject is `sub`, else `username`, else `client_id`.

use super::refresh_tokens::{self, KnownRefreshTokens};
use super::{identified, jwt, provider_id, token_digest, user_of, BearerError};
use crate::clock::SharedClock;
use crate::credentials::Identified;
use crate::identity::{Identity, Source};
use crate::providers::Provider;
use moka::future::Cache;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A cached answer: the identity (or a refusal) and until when it may be used.
#[derive(Clone)]
struct Answer {
    outcome: Result<Arc<Identified>, BearerError>,
    until: i64,
}

pub struct Introspector {
    provider: Arc<Provider>,
    cache: Cache<[u8; 32], Answer>,
    max_age: i64,
    pub(super) known_refresh_tokens: Arc<KnownRefreshTokens>,
    clock: SharedClock,
}

impl Introspector {
    pub fn new(provider: Arc<Provider>, clock: SharedClock) -> Introspector {
        let max_age = provider.bearer.introspection_cache;
        Introspector {
            cache: Cache::builder().max_capacity(100_000).time_to_live(max_age.max(Duration::from_secs(1))).build(),
            max_age: max_age.as_secs() as i64,
            known_refresh_tokens: Arc::default(),
            provider,
            clock,
        }
    }

    /// The issuer of the provider this introspects for.
    pub fn issuer(&self) -> Option<&str> {
        self.provider.issuer()
    }

    pub async fn verify(&self, token: &str) -> Result<Arc<Identified>, BearerError> {
        let key = refresh_tokens::digest(token);
        // Checked on every use: a token may become known after its answer was cached.
        if self.known_refresh_tokens.contains(&key) {
            return Err(BearerError::RefreshToken);
        }
        let now = self.clock.now();
        if let Some(answer) = self.cache.get(&key).await {
            if now < answer.until {
                return Self::still_valid(answer.outcome, now);
            }
            self.cache.invalidate(&key).await;
        }
        let answer = self
            .cache
            .try_get_with(key, async {
                let outcome = self.ask(token).await;
                let until = match &outcome {
                    Ok(identified) => identified.identity.expires_at.min(now.saturating_add(self.max_age)),
                    Err(BearerError::Unavailable) => return Err(BearerError::Unavailable),
                    Err(_) => now.saturating_add(self.max_age),
                };
                Ok::<_, BearerError>(Answer { outcome, until })
            })
            .await
            .map_err(|e| *e)?;
        Self::still_valid(answer.outcome, self.clock.now())
    }

    fn still_valid(outcome: Result<Arc<Identified>, BearerError>, now: i64) -> Result<Arc<Identified>, BearerError> {
        let identified = outcome?;
        if !identified.identity.is_live_at(now) {
            return Err(BearerError::Expired);
        }
        Ok(identified)
    }

    async fn ask(&self, token: &str) -> Result<Arc<Identified>, BearerError> {
        let answer = match self.provider.introspect(token).await {
            Ok(Value::Object(answer)) => answer,
            Ok(_) => return Err(BearerError::Unavailable),
            Err(error) => {
                tracing::warn!(provider = %self.provider.id, %error, "token introspection failed");
                return Err(BearerError::Unavailable);
            }
        };
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(BearerError::Inactive);
        }
        // Only access tokens are credentials. oidc-provider answers for a
        // refresh token without `token_type` (and with one for access
        // tokens), so an answer that does not say is refused too, unless the
        // provider never says (`insecure_introspection_without_token_type`).
        let bearer = &self.provider.bearer;
        jwt::check_kind(&answer, bearer.accept_id_tokens)?;
        match answer.get("token_type") {
            Some(Value::String(token_type)) if !token_type.is_empty() => {}
            None if bearer.insecure_introspection_without_token_type => {}
            _ => return Err(BearerError::Untyped),
        }
        if let (Some(expected), Some(iss)) = (self.issuer(), answer.get("iss")) {
            if iss.as_str() != Some(expected) {
                return Err(BearerError::Issuer);
            }
        }
        let configured = &self.provider.bearer.audiences;
        if !configured.is_empty() && !jwt::audience_matches(answer.get("aud"), configured) {
            return Err(BearerError::Audience);
        }
        let now = self.clock.now();
        let mut times = answer.clone();
        // `exp` is optional in RFC 7662; without one, the cache time bounds the answer.
        times.entry("exp").or_insert_with(|| Value::from(now.saturating_add(self.max_age.max(1))));
        let (issued_at, expires_at) = jwt::check_times(&times, now)?;
        Ok(identified(Identity {
            id: token_digest(token),
            provider: provider_id(&self.provider)?,
            user: user_of(&self.provider, &answer)?,
            source: Source::Introspection,
            scopes: Some(jwt::scopes(&answer)),
            issued_at,
            expires_at,
        }))
    }
}
