//! A provider's own tokens as `Authorization: Bearer` credentials.
//!
//! - JWTs signed by a configured OpenID Connect issuer: strict parse
//!   ([`jwt`]), signature against the issuer's JWKS ([`jwks`]), then `iss`,
//!   `aud`, `exp`, `nbf`, `iat`, and the kind of token: access tokens only
//!   (ID tokens where the provider sets `accept_id_tokens`).
//! - Opaque tokens, where the provider offers RFC 7662 introspection
//!   ([`introspection`]).
//! - Never a refresh token the gateway holds for one of its sessions
//!   ([`refresh_tokens`]).
//!
//! A verified JWT becomes an [`Identified`] with its own [`Source`], kept in
//! the open-cache like opened cookies (the outcome per token, times still
//! checked on every use), so a busy API client costs one signature check
//! per token.

pub mod introspection;
pub mod jwks;
pub mod jwt;
pub mod refresh_tokens;

use super::cache::OpenCache;
use super::{Identified, Refusal};
use crate::clock::SharedClock;
use crate::config::ASYMMETRIC_ALGORITHMS;
use crate::crypto::keys;
use crate::identity::{Identity, ProviderId, Source};
use crate::providers::{Provider, Providers};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use introspection::Introspector;
use refresh_tokens::KnownRefreshTokens;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Why a provider token was refused. Every one is a 401 `invalid_token`;
/// the reason is logged (at debug) and never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not allowed")]
    Algorithm,
    #[error("no configured issuer accepts this token")]
    Issuer,
    #[error("the token names a key the issuer does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the token is not for us (aud)")]
    Audience,
    #[error("the token's claims are missing or malformed")]
    Claims,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the provider says the token is not active")]
    Inactive,
    #[error("the provider could not be asked")]
    Unavailable,
    #[error("the token is an ID token, not an access token")]
    IdToken,
    #[error("the token is a refresh token, not an access token")]
    RefreshToken,
    #[error("the introspection answer does not say what kind of token this is (no token_type)")]
    Untyped,
}

impl BearerError {
    /// Whether this refusal holds for the token forever (and can be cached).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BearerError::Malformed
                | BearerError::Algorithm
                | BearerError::Issuer
                | BearerError::Signature
                | BearerError::Audience
                | BearerError::Claims
                | BearerError::Expired
                | BearerError::IdToken
                | BearerError::RefreshToken
        )
    }
}

/// An issuer whose JWTs are accepted.
struct TrustedIssuer {
    issuer: String,
    provider: Arc<Provider>,
    audiences: Vec<String>,
    algorithms: Vec<&'static str>,
}

/// Every provider whose tokens are accepted as Bearer tokens.
pub struct ProviderBearer {
    issuers: Vec<TrustedIssuer>,
    introspector: Option<Introspector>,
    /// Refresh tokens of our own sessions: never a Bearer credential.
    known_refresh_tokens: Arc<KnownRefreshTokens>,
    clock: SharedClock,
}

impl std::fmt::Debug for ProviderBearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderBearer")
            .field("issuers", &self.issuers.iter().map(|i| &i.issuer).collect::<Vec<_>>())
            .field("introspection", &self.introspector.is_some())
            .finish()
    }
}

/// The accepted audiences of a provider: configured, else its client id.
fn audiences(provider: &Provider) -> Vec<String> {
    if provider.bearer.audiences.is_empty() {
        vec![provider.client_id().to_owned()]
    } else {
        provider.bearer.audiences.clone()
    }
}

/// A short stable id for a token without `jti`: its digest, never the token.
fn token_digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The bearer's user: the provider's claim mapping, with the subject taken
/// from `sub`, else `username` (RFC 7662; Django OAuth Toolkit sends no
/// `sub`), and only then `client_id`: a token that names no user at all is a
/// machine token (client credentials), and the client is its subject.
fn user_of(provider: &Provider, claims: &serde_json::Map<String, Value>) -> Result<crate::identity::User, BearerError> {
    let mut claims = claims.clone();
    if !claims.contains_key("sub") {
        let named = |name: &str| claims.get(name).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).cloned();
        if let Some(subject) = named("username").or_else(|| named("client_id")) {
            claims.insert("sub".into(), subject);
        }
    }
    provider.user_from_claims(&Value::Object(claims)).map_err(|_| BearerError::Claims)
}

/// The id of a configured provider, as an identity names it.
fn provider_id(provider: &Provider) -> Result<ProviderId, BearerError> {
    ProviderId::parse(provider.id.clone()).map_err(|_| BearerError::Claims)
}

/// A verified token's identity; no session stands behind it.
fn identified(identity: Identity) -> Arc<Identified> {
    Arc::new(Identified::new(identity, None))
}

impl ProviderBearer {
    pub fn new(providers: &Providers, clock: SharedClock) -> ProviderBearer {
        let issuers = providers
            .iter()
            .filter(|p| p.bearer.jwt)
            .filter_map(|provider| {
                let issuer = provider.issuer()?.to_owned();
                let algorithms: Vec<&'static str> = ASYMMETRIC_ALGORITHMS
                    .iter()
                    .copied()
                    .filter(|alg| provider.bearer.algorithms.iter().any(|a| a == alg))
                    .collect();
                Some(TrustedIssuer {
                    issuer,
                    audiences: audiences(provider),
                    algorithms,
                    provider: Arc::clone(provider),
                })
            })
            .collect();
        let introspector = providers
            .iter()
            .find(|p| p.bearer.introspection)
            .map(|provider| Introspector::new(Arc::clone(provider), clock.clone()));
        ProviderBearer { issuers, introspector, known_refresh_tokens: Arc::default(), clock }
    }

    /// Refuse the refresh tokens in `known` (the set the refresher fills).
    pub fn knowing(mut self, known: Arc<KnownRefreshTokens>) -> ProviderBearer {
        if let Some(introspector) = self.introspector.as_mut() {
            introspector.known_refresh_tokens = Arc::clone(&known);
        }
        self.known_refresh_tokens = known;
        self
    }

    /// No provider's tokens are accepted.
    pub fn none(clock: SharedClock) -> ProviderBearer {
        ProviderBearer::new(&Providers::default(), clock)
    }

    /// Whether any provider's tokens are accepted at all.
    pub fn is_active(&self) -> bool {
        !self.issuers.is_empty() || self.introspector.is_some()
    }

    /// The identity a provider token stands for. Verified JWTs are kept in
    /// `opened`, the credentials' open-cache.
    pub(super) async fn verify(&self, token: &str, opened: &OpenCache) -> Result<Arc<Identified>, BearerError> {
        if !jwt::looks_like_jws(token) {
            return match &self.introspector {
                Some(introspector) => introspector.verify(token).await,
                None => Err(BearerError::Malformed),
            };
        }
        let generation = keys::generation();
        let identified = match opened.get(token.as_bytes(), generation) {
            Some(Ok(identified)) => identified,
            Some(Err(Refusal::ProviderToken(error))) => return Err(error),
            // Another kind's refusal for this exact token: not one of ours.
            Some(Err(_)) => return Err(BearerError::Malformed),
            None if self.known_refresh_tokens.contains(&refresh_tokens::digest(token)) => {
                return Err(BearerError::RefreshToken)
            }
            None => match self.verify_jwt(token).await {
                // A JWT the provider vouched for by introspection keeps to the
                // introspection cache's time bound instead.
                Ok(identified) if identified.identity.source == Source::Introspection => return Ok(identified),
                verified => {
                    opened.keep(token.as_bytes(), generation, &verified.clone().map_err(Refusal::ProviderToken));
                    verified?
                }
            },
        };
        if !identified.identity.is_live_at(self.clock.now()) {
            return Err(BearerError::Expired);
        }
        Ok(identified)
    }

    async fn verify_jwt(&self, token: &str) -> Result<Arc<Identified>, BearerError> {
        let parsed = jwt::parse(token)?;
        let iss = parsed.claims.get("iss").and_then(Value::as_str);
        let Some(trusted) = self.issuers.iter().find(|t| Some(t.issuer.as_str()) == iss) else {
            // A JWT from an issuer we only introspect for (or none): ask the provider.
            return match &self.introspector {
                Some(introspector) if introspector.issuer() == iss => introspector.verify(token).await,
                _ => Err(BearerError::Issuer),
            };
        };
        if !trusted.algorithms.contains(&parsed.alg) {
            return Err(BearerError::Algorithm);
        }
        let verified = jwks::with_verifier(&trusted.provider, parsed.kid.as_deref(), parsed.alg, |verifier| {
            verifier.verify(parsed.signing_input.as_bytes(), &parsed.signature).is_ok()
        })
        .await?;
        if !verified {
            return Err(BearerError::Signature);
        }
        let (issued_at, expires_at) = jwt::check_times(&parsed.claims, self.clock.now())?;
        if !jwt::audience_matches(parsed.claims.get("aud"), &trusted.audiences) {
            return Err(BearerError::Audience);
        }
        jwt::check_kind(&parsed.claims, trusted.provider.bearer.accept_id_tokens)?;
        let id = match parsed.claims.get("jti").and_then(Value::as_str) {
            Some(jti) if !jti.is_empty() && jti.len() <= 128 => jti.to_owned(),
            _ => token_digest(token),
        };
        Ok(identified(Identity {
            id,
            provider: provider_id(&trusted.provider)?,
            user: user_of(&trusted.provider, &parsed.claims)?,
            source: Source::ProviderJwt,
            scopes: Some(jwt::scopes(&parsed.claims)),
            issued_at,
            expires_at,
        }))
    }
}

#[cfg(test)]
mod proptests;
