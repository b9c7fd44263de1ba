//! Where a Bearer JWT's key comes from: its issuer's JWKS cache, the same
//! one its ID tokens are checked with ([`crate::providers::jwks`]), so a
//! rotated key is fetched once for both and rate-limited alike.

use super::BearerError;
use crate::providers::jwks::Lookup;
use crate::providers::Provider;
use josekit::jws::JwsVerifier;

/// Run `check` with the verifier for `kid`/`alg`, fetching the JWKS again
/// once (if the rate limit allows) when the key is unknown.
pub async fn with_verifier<T>(
    provider: &Provider,
    kid: Option<&str>,
    alg: &str,
    check: impl FnOnce(&dyn JwsVerifier) -> T,
) -> Result<T, BearerError> {
    let keys = provider.signing_keys().await.map_err(|_| BearerError::Unavailable)?;
    match keys.find(kid, alg) {
        Lookup::Found(verifier) => return Ok(check(verifier)),
        Lookup::WrongAlgorithm => return Err(BearerError::Algorithm),
        Lookup::Unknown => {}
    }
    let Some(keys) = provider.refetch_signing_keys(&keys).await else {
        return Err(BearerError::UnknownKey);
    };
    match keys.find(kid, alg) {
        Lookup::Found(verifier) => Ok(check(verifier)),
        Lookup::WrongAlgorithm => Err(BearerError::Algorithm),
        Lookup::Unknown => Err(BearerError::UnknownKey),
    }
}
