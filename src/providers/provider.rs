//! One configured OAuth 2.0 / OpenID Connect provider ([`Provider`]): what
//! it does once built (start and finish a sign-in, refresh, revoke,
//! introspect, its signing keys, readiness). Building one from config is in
//! `build`; the protocols themselves in `oidc` and `oauth2_flow`.

use super::claims::ClaimMap;
use super::{http, jwks, oauth2_flow, oidc, Authorization, ProviderError, SignedInUser};
use crate::clock::SharedClock;
use crate::config::{BearerSettings, ClientAuth, ProviderKind};
use crate::crypto::ProviderTokens;
use crate::identity::User;
use josekit::jws::JwsVerifier;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use url::Url;

/// What the provider says about a signed-in person's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// It answered userinfo for the session's access token.
    Present,
    /// It refused the access token (401 or 403): deprovisioned, or revoked.
    Gone,
}

/// Why [`Provider::with_signing_key`] found no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyError {
    /// The issuer's keys cannot be had (not discovered, JWKS unreachable).
    Unavailable,
    /// The key exists, but not for the token's algorithm.
    WrongAlgorithm,
    /// The issuer publishes no such key, even after fetching its keys again.
    Unknown,
}

// One per configured provider, built once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Flow {
    Oidc(oidc::Oidc),
    OAuth2(oauth2_flow::OAuth2),
}

/// One configured OAuth 2.0 / OpenID Connect provider.
pub struct Provider {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub(super) client_id: String,
    pub(super) client_secret: Option<SecretString>,
    pub(super) client_auth: ClientAuth,
    pub(super) redirect_uri: Url,
    pub(super) scopes: Vec<String>,
    pub(super) pkce: bool,
    pub(super) claims: ClaimMap,
    pub(super) revoke_on_signout: bool,
    pub(super) rp_initiated_logout: bool,
    pub(super) post_logout_redirect_url: Url,
    /// Add `X-Auth-Access-Token` to `/auth/verify` answers.
    pub pass_access_token: bool,
    /// How often a signed-in person's account is checked here (`None`: never).
    pub revalidate: Option<std::time::Duration>,
    /// Whether (and how) this provider's own tokens are accepted as Bearer tokens.
    pub bearer: BearerSettings,
    pub(super) introspection_url: Option<Url>,
    pub(super) flow: Flow,
    pub(super) http: reqwest::Client,
    pub(super) clock: SharedClock,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Provider {
    pub fn is_oidc(&self) -> bool {
        matches!(self.flow, Flow::Oidc(_))
    }

    /// Whether the provider is ready to sign people in (OIDC: discovered,
    /// and its signing keys at hand).
    pub fn is_ready(&self) -> bool {
        match &self.flow {
            Flow::Oidc(oidc) => oidc.is_ready(),
            Flow::OAuth2(_) => true,
        }
    }

    /// Try again, in the background, to become ready (OIDC: discovery and
    /// the signing keys; both rate-limited, so a readiness probe may call
    /// this each time it finds the provider not ready).
    pub fn prepare_in_background(self: &Arc<Self>) {
        if self.is_oidc() {
            let provider = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(error) = provider.signing_keys().await {
                    tracing::debug!(provider = %provider.id, %error, "still not ready");
                }
            });
        }
    }

    /// Run OIDC discovery until it succeeds or `attempts` are used up; then
    /// say what is switched on but has no endpoint to work with.
    pub async fn discover(&self, attempts: u32) {
        if let Flow::Oidc(oidc) = &self.flow {
            oidc.discover_with_retries(&self.http, &self.id, attempts).await;
        }
        for missing in self.missing_endpoints().unwrap_or_default() {
            tracing::warn!(provider = %self.id, "{missing}");
        }
    }

    /// Whether a feature that needs an endpoint discovery may not give is on
    /// (`revoke_on_signout`, `bearer.introspection`).
    pub fn needs_endpoints(&self) -> bool {
        self.revoke_on_signout || self.bearer.introspection
    }

    /// What is switched on but has no endpoint, as far as is known: `None`
    /// while an OpenID Connect provider is not discovered yet.
    pub fn missing_endpoints(&self) -> Option<Vec<String>> {
        let (revocation, introspection) = match &self.flow {
            Flow::Oidc(oidc) => {
                let d = oidc.discovered()?;
                (d.revocation.is_some(), self.introspection_url.is_some() || d.introspection.is_some())
            }
            Flow::OAuth2(flow) => (flow.revocation.is_some(), self.introspection_url.is_some()),
        };
        let mut missing = Vec::new();
        if self.revoke_on_signout && !revocation {
            missing.push(
                "revoke_on_signout is on, but no revocation endpoint is known (the provider's OpenID and \
                 RFC 8414 metadata name none): sign-out revokes nothing; set revocation_url"
                    .to_owned(),
            );
        }
        if self.bearer.introspection && !introspection {
            missing.push(
                "bearer.introspection is on, but no introspection endpoint is known (the provider's OpenID \
                 and RFC 8414 metadata name none): opaque tokens are refused; set bearer.introspection_url"
                    .to_owned(),
            );
        }
        Some(missing)
    }

    /// The URL to send the browser to, with a fresh state, nonce and PKCE verifier.
    pub async fn authorize(&self) -> Result<Authorization, ProviderError> {
        match &self.flow {
            Flow::Oidc(oidc) => oidc.authorize(self).await,
            Flow::OAuth2(flow) => flow.authorize(self),
        }
    }

    /// The issuer that must appear in the callback's `iss` parameter, and
    /// whether the provider promised to send it (RFC 9207).
    pub fn expected_issuer(&self) -> Option<(String, bool)> {
        match &self.flow {
            Flow::Oidc(oidc) => oidc.discovered().map(|d| (d.issuer.clone(), d.iss_parameter_supported)),
            Flow::OAuth2(_) => None,
        }
    }

    /// Exchange the code and build the user.
    pub async fn complete(
        &self,
        code: String,
        nonce: Option<&str>,
        pkce_verifier: Option<&str>,
    ) -> Result<SignedInUser, ProviderError> {
        let signed_in = match &self.flow {
            Flow::Oidc(oidc) => oidc.complete(self, code, nonce, pkce_verifier).await?,
            Flow::OAuth2(flow) => flow.complete(self, code, pkce_verifier).await?,
        };
        signed_in.user.validate().map_err(|e| ProviderError::Profile(e.to_string()))?;
        Ok(signed_in)
    }

    /// Spend a refresh token at the token endpoint. The result keeps the old
    /// refresh token when the provider does not rotate it, and the old ID
    /// token when it sends no new one. `CodeRejected` means `invalid_grant`,
    /// `Refused` another OAuth error (both final); `Unavailable` is a
    /// network error, a timeout or a 5xx (transient).
    pub async fn refresh(&self, previous: &ProviderTokens) -> Result<ProviderTokens, ProviderError> {
        let refresh_token = previous.refresh_token.as_ref().ok_or(ProviderError::CodeRejected)?;
        let mut tokens = match &self.flow {
            Flow::Oidc(oidc) => oidc.refresh(self, refresh_token).await?,
            Flow::OAuth2(flow) => flow.refresh(self, refresh_token).await?,
        };
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        if tokens.id_token.is_none() {
            tokens.id_token.clone_from(&previous.id_token);
        }
        Ok(tokens)
    }

    /// Whether the provider has a userinfo endpoint to ask about accounts
    /// (OpenID Connect, once discovered; discovering now if need be).
    pub async fn has_userinfo(&self) -> Result<bool, ProviderError> {
        match &self.flow {
            Flow::Oidc(oidc) => Ok(oidc.ensure(&self.http).await?.userinfo.is_some()),
            Flow::OAuth2(_) => Ok(false),
        }
    }

    /// Ask the userinfo endpoint whether the account behind `access_token`
    /// still exists: `Gone` for a 401 or 403 (the token, or the account
    /// behind it, is no more), `Unavailable` for a network error, a timeout
    /// or any other answer (transient).
    #[tracing::instrument(skip_all, fields(provider = %self.id))]
    pub async fn account_status(&self, access_token: &SecretString) -> Result<AccountStatus, ProviderError> {
        let Flow::Oidc(oidc) = &self.flow else {
            return Err(ProviderError::Protocol("not an OpenID Connect provider".into()));
        };
        let endpoint = oidc
            .ensure(&self.http)
            .await?
            .userinfo
            .clone()
            .ok_or_else(|| ProviderError::Protocol("the provider has no userinfo endpoint".into()))?;
        let response = self
            .http
            .get(endpoint)
            .header("Accept", "application/json")
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(http::describe(&e)))?;
        let status = response.status();
        match status.as_u16() {
            200..=299 => Ok(AccountStatus::Present),
            401 | 403 => Ok(AccountStatus::Gone),
            _ => Err(ProviderError::Unavailable(format!("userinfo answered {status}"))),
        }
    }

    /// Best-effort RFC 7009 revocation of a session's tokens on sign-out.
    pub async fn revoke(&self, tokens: &ProviderTokens) {
        if !self.revoke_on_signout {
            return;
        }
        let endpoint = match &self.flow {
            Flow::Oidc(oidc) => oidc.discovered().and_then(|d| d.revocation.clone()),
            Flow::OAuth2(flow) => flow.revocation.clone(),
        };
        let Some(endpoint) = endpoint else { return };
        let mut targets = vec![(tokens.access_token.expose_secret().to_owned(), "access_token")];
        if let Some(refresh) = &tokens.refresh_token {
            // Revoking the refresh token ends the whole grant at most providers.
            targets.insert(0, (refresh.expose_secret().to_owned(), "refresh_token"));
        }
        for (token, hint) in targets {
            let request =
                self.token_endpoint_request(&endpoint, &[("token", token.as_str()), ("token_type_hint", hint)]);
            match request.send().await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(provider = %self.id, status = %response.status(), "token revocation refused")
                }
                Err(e) => tracing::warn!(provider = %self.id, error = %http::describe(&e), "token revocation failed"),
            }
        }
    }

    /// A POST to one of the provider's token-family endpoints, authenticated as the client.
    pub(super) fn token_endpoint_request(&self, endpoint: &Url, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let request = self.http.post(endpoint.clone()).header("Accept", "application/json");
        let request = match (self.client_auth, &self.client_secret) {
            (ClientAuth::ClientSecretBasic, Some(secret)) => {
                request.basic_auth(&self.client_id, Some(secret.expose_secret()))
            }
            (ClientAuth::ClientSecretPost, Some(secret)) => {
                fields.push(("client_id", &self.client_id));
                fields.push(("client_secret", secret.expose_secret()));
                request
            }
            (_, None) => {
                fields.push(("client_id", &self.client_id));
                request
            }
        };
        request.form(&fields)
    }

    /// Where to send the browser after sign-out, when RP-initiated logout is on.
    pub fn end_session_url(&self, id_token: Option<&SecretString>) -> Option<Url> {
        if !self.rp_initiated_logout {
            return None;
        }
        let Flow::Oidc(oidc) = &self.flow else { return None };
        let mut url = oidc.discovered()?.end_session.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(token) = id_token {
                query.append_pair("id_token_hint", token.expose_secret());
            }
            query.append_pair("client_id", &self.client_id);
            query.append_pair("post_logout_redirect_uri", self.post_logout_redirect_url.as_str());
        }
        Some(url)
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The configured issuer (OpenID Connect providers only).
    pub fn issuer(&self) -> Option<&str> {
        match &self.flow {
            Flow::Oidc(oidc) => Some(oidc.issuer()),
            Flow::OAuth2(_) => None,
        }
    }

    /// The issuer's signing keys (one cache for ID tokens and Bearer JWTs),
    /// discovering and fetching them now if needed.
    pub async fn signing_keys(&self) -> Result<Arc<jwks::KeySet>, ProviderError> {
        match &self.flow {
            Flow::Oidc(oidc) => oidc.signing_keys(&self.http).await,
            Flow::OAuth2(_) => Err(ProviderError::Protocol("not an OpenID Connect provider".into())),
        }
    }

    /// A token names a key `seen` lacks: fetch the keys again (rate-limited;
    /// the keys we have stay if that fails) and give the newer set.
    pub async fn refetch_signing_keys(&self, seen: &Arc<jwks::KeySet>) -> Option<Arc<jwks::KeySet>> {
        match &self.flow {
            Flow::Oidc(oidc) => oidc.refetch_signing_keys(seen).await,
            Flow::OAuth2(_) => None,
        }
    }

    /// Run `check` with the issuer's key for `kid` and `alg`, fetching the
    /// JWKS again once (as the rate limit allows) when the key is unknown:
    /// the one way every JWT this provider signs finds its key.
    pub async fn with_signing_key<T>(
        &self,
        kid: Option<&str>,
        alg: &str,
        check: impl FnOnce(&dyn JwsVerifier) -> T,
    ) -> Result<T, SigningKeyError> {
        let keys = self.signing_keys().await.map_err(|_| SigningKeyError::Unavailable)?;
        match keys.find(kid, alg) {
            jwks::Lookup::Found(verifier) => return Ok(check(verifier)),
            jwks::Lookup::WrongAlgorithm => return Err(SigningKeyError::WrongAlgorithm),
            jwks::Lookup::Unknown => {}
        }
        let Some(keys) = self.refetch_signing_keys(&keys).await else {
            return Err(SigningKeyError::Unknown);
        };
        match keys.find(kid, alg) {
            jwks::Lookup::Found(verifier) => Ok(check(verifier)),
            jwks::Lookup::WrongAlgorithm => Err(SigningKeyError::WrongAlgorithm),
            jwks::Lookup::Unknown => Err(SigningKeyError::Unknown),
        }
    }

    /// The user that a set of claims (a verified JWT, an introspection answer) describes.
    pub fn user_from_claims(&self, claims: &serde_json::Value) -> Result<User, ProviderError> {
        let user = self.claims.user(claims)?;
        user.validate().map_err(|e| ProviderError::Profile(e.to_string()))?;
        Ok(user)
    }

    /// RFC 7662: ask the provider about a token, authenticated as the client.
    pub async fn introspect(&self, token: &str) -> Result<serde_json::Value, ProviderError> {
        let endpoint = match (&self.introspection_url, &self.flow) {
            (Some(url), _) => url.clone(),
            (None, Flow::Oidc(oidc)) => oidc
                .ensure(&self.http)
                .await?
                .introspection
                .clone()
                .ok_or_else(|| ProviderError::Protocol("the provider has no introspection endpoint".into()))?,
            (None, Flow::OAuth2(_)) => {
                return Err(ProviderError::Protocol("no introspection endpoint is configured".into()))
            }
        };
        let request = self.token_endpoint_request(&endpoint, &[("token", token), ("token_type_hint", "access_token")]);
        let response = request.send().await.map_err(|e| ProviderError::Unavailable(http::describe(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(format!("introspection answered {status}")));
        }
        if !status.is_success() {
            return Err(ProviderError::Protocol(format!("introspection answered {status}")));
        }
        let body = http::read_limited(response).await?;
        serde_json::from_slice(&body).map_err(|_| ProviderError::Protocol("introspection did not answer JSON".into()))
    }

    /// A fresh PKCE S256 challenge and its verifier, when this provider uses PKCE.
    pub(super) fn new_pkce(&self) -> Option<(openidconnect::PkceCodeChallenge, String)> {
        self.pkce.then(|| {
            let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
            (challenge, verifier.secret().clone())
        })
    }
}
