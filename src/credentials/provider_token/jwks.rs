//! Where a Bearer JWT's key comes from: its issuer's JWKS cache, the same
//! one its ID tokens and logout tokens are checked with
//! ([`Provider::with_signing_key`]), so a rotated key is fetched once for
//! all and rate-limited alike.

use super::BearerError;
use crate::providers::{Provider, SigningKeyError};
use josekit::jws::JwsVerifier;

/// Run `check` with the verifier for `kid`/`alg`, fetching the JWKS again
/// once (if the rate limit allows) when the key is unknown.
pub async fn with_verifier<T>(
    provider: &Provider,
    kid: Option<&str>,
    alg: &str,
    check: impl FnOnce(&dyn JwsVerifier) -> T,
) -> Result<T, BearerError> {
    provider.with_signing_key(kid, alg, check).await.map_err(|error| match error {
        SigningKeyError::Unavailable => BearerError::Unavailable,
        SigningKeyError::WrongAlgorithm => BearerError::Algorithm,
        SigningKeyError::Unknown => BearerError::UnknownKey,
    })
}
