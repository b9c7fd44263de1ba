//! Ways to sign in: the credentials provider (passwords) and OAuth 2.0 /
//! OpenID Connect providers, one preset per file.
//!
//! Every OAuth provider is a [`Provider`]: an id, a protocol (OIDC with
//! discovery, or plain OAuth 2.0 with fixed endpoints) and a way to turn what
//! the provider returns into a [`User`]. Presets (Google, GitLab, GitHub,
//! Discord, X) only choose defaults: endpoints, scopes and profile mapping.
//! Any endpoint can be overridden in config.

mod claims;
pub mod credentials;
mod discord;
mod github;
mod http;
pub mod jwks;
mod oauth2_flow;
mod oidc;
mod x;

pub use claims::ClaimMap;

use crate::clock::SharedClock;
use crate::config::{BearerSettings, ClientAuth, ProviderKind, ProviderSettings, Settings};
use crate::domain::User;
use crate::session::ProviderTokens;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// Why an OAuth step failed. Each maps to a documented `?error=` code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, timed out, or answered 5xx.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the authorization code (used, expired, or not ours).
    #[error("the provider refused the authorization code")]
    CodeRejected,
    /// The token endpoint refused the request with an OAuth error other
    /// than `invalid_grant` (a 4xx, or GitHub's 200 with `error`): final.
    #[error("the token endpoint refused the request: {0}")]
    Refused(String),
    /// The provider answered with an OAuth error or something unparseable.
    #[error("the provider answered with an error: {0}")]
    Protocol(String),
    /// The ID token failed verification.
    #[error("the ID token is invalid: {0}")]
    InvalidIdToken(String),
    /// The profile could not be turned into a user.
    #[error("the profile is unusable: {0}")]
    Profile(String),
}

impl ProviderError {
    /// The sign-in page's error code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Unavailable(_) => "provider_unavailable",
            ProviderError::CodeRejected => "code_rejected",
            ProviderError::Refused(_) | ProviderError::Protocol(_) => "provider_error",
            ProviderError::InvalidIdToken(_) => "invalid_id_token",
            ProviderError::Profile(_) => "profile_error",
        }
    }
}

/// What to send the browser to the provider with, and what to remember.
#[derive(Debug)]
pub struct Authorization {
    pub url: Url,
    pub state: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
}

/// What a completed sign-in yields.
#[derive(Debug)]
pub struct SignedInUser {
    pub user: User,
    pub tokens: ProviderTokens,
}

// One per configured provider, built once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Protocol {
    Oidc(oidc::Oidc),
    OAuth2(oauth2_flow::OAuth2),
}

/// Where profile data comes from for a plain OAuth 2.0 provider.
#[derive(Debug, Clone)]
enum ProfileSource {
    /// GET the userinfo URL and map its JSON with a [`ClaimMap`].
    Userinfo(Url),
    GitHub {
        api: Url,
    },
    Discord {
        api: Url,
    },
    X {
        api: Url,
    },
}

/// One configured OAuth 2.0 / OpenID Connect provider.
pub struct Provider {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    client_id: String,
    client_secret: Option<SecretString>,
    client_auth: ClientAuth,
    redirect_uri: Url,
    scopes: Vec<String>,
    pkce: bool,
    claims: ClaimMap,
    revoke_on_signout: bool,
    rp_initiated_logout: bool,
    post_logout_redirect_url: Url,
    /// Add `X-Auth-Access-Token` to `/auth/verify` answers.
    pub pass_access_token: bool,
    /// Whether (and how) this provider's own tokens are accepted as Bearer tokens.
    pub bearer: BearerSettings,
    introspection_url: Option<Url>,
    protocol: Protocol,
    http: reqwest::Client,
    clock: SharedClock,
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

fn parse_url(value: &str, what: &str) -> Result<Url, String> {
    Url::parse(value).map_err(|e| format!("{what} `{value}`: {e}"))
}

fn join(base: &Url, path: &str) -> Result<Url, String> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path.trim_start_matches('/')).map_err(|e| format!("{base}{path}: {e}"))
}

impl Provider {
    fn build(id: &str, cfg: &ProviderSettings, settings: &Settings, clock: SharedClock) -> Result<Provider, String> {
        let public_url = settings.public_url().ok_or("server.public_url is invalid")?;
        let redirect_uri = join(&public_url, &format!("auth/callback/{id}"))?;
        let secret = cfg.client_secret.as_ref().map(|s| s.resolve()).transpose()?;
        let override_url =
            |value: &Option<String>, what: &str| value.as_deref().map(|v| parse_url(v, what)).transpose();
        // API bases are joined with relative paths: give them a trailing slash,
        // or `Url::join` would drop their last segment (`/api` + `users/@me`).
        let api_url = override_url(&cfg.api_url, "api_url")?.map(|u| join(&u, "")).transpose()?;
        let http = http::client(settings.oauth.timeout).map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let base = override_url(&cfg.base_url, "base_url")?;

        let (default_name, default_scopes, default_auth, protocol, claims): (
            &str,
            &[&str],
            ClientAuth,
            Protocol,
            ClaimMap,
        ) = match cfg.kind {
            ProviderKind::Oidc | ProviderKind::Google | ProviderKind::Gitlab => {
                let (name, issuer) = match cfg.kind {
                    ProviderKind::Google => ("Google", "https://accounts.google.com".to_owned()),
                    ProviderKind::Gitlab => (
                        "GitLab",
                        base.as_ref()
                            .map_or("https://gitlab.com".to_owned(), |b| b.as_str().trim_end_matches('/').to_owned()),
                    ),
                    _ => (id, String::new()),
                };
                let issuer = cfg.issuer.clone().unwrap_or(issuer);
                let endpoints = oidc::Overrides {
                    authorize: override_url(&cfg.authorize_url, "authorize_url")?,
                    token: override_url(&cfg.token_url, "token_url")?,
                    userinfo: override_url(&cfg.userinfo_url, "userinfo_url")?,
                    revocation: override_url(&cfg.revocation_url, "revocation_url")?,
                    end_session: override_url(&cfg.end_session_url, "end_session_url")?,
                    introspection: override_url(&cfg.bearer.introspection_url, "bearer.introspection_url")?,
                };
                let scopes: &[&str] = &["openid", "email", "profile"];
                let mut claims = ClaimMap::oidc();
                claims.apply(&cfg.claims);
                let keys = jwks::Jwks::new(
                    id,
                    http.clone(),
                    clock.clone(),
                    cfg.bearer.jwks_lifetime,
                    cfg.bearer.jwks_min_refetch,
                );
                (
                    name,
                    scopes,
                    ClientAuth::ClientSecretBasic,
                    Protocol::Oidc(oidc::Oidc::new(&issuer, endpoints, keys)?),
                    claims,
                )
            }
            ProviderKind::Github => {
                let (web, api) = match &base {
                    Some(base) => (base.clone(), join(base, "api/v3/")?),
                    None => (
                        parse_url("https://github.com/", "base_url")?,
                        parse_url("https://api.github.com/", "api_url")?,
                    ),
                };
                let api = api_url.clone().unwrap_or(api);
                let flow = oauth2_flow::OAuth2 {
                    authorize: override_url(&cfg.authorize_url, "authorize_url")?
                        .map_or_else(|| join(&web, "login/oauth/authorize"), Ok)?,
                    token: override_url(&cfg.token_url, "token_url")?
                        .map_or_else(|| join(&web, "login/oauth/access_token"), Ok)?,
                    revocation: override_url(&cfg.revocation_url, "revocation_url")?,
                    profile: ProfileSource::GitHub { api },
                };
                (
                    "GitHub",
                    &["read:user", "user:email"],
                    ClientAuth::ClientSecretPost,
                    Protocol::OAuth2(flow),
                    ClaimMap::default(),
                )
            }
            ProviderKind::Discord => {
                let api = api_url.clone().unwrap_or(parse_url("https://discord.com/api/", "api_url")?);
                let flow = oauth2_flow::OAuth2 {
                    authorize: override_url(&cfg.authorize_url, "authorize_url")?
                        .unwrap_or(parse_url("https://discord.com/oauth2/authorize", "authorize_url")?),
                    token: override_url(&cfg.token_url, "token_url")?.map_or_else(|| join(&api, "oauth2/token"), Ok)?,
                    revocation: override_url(&cfg.revocation_url, "revocation_url")?
                        .map_or_else(|| join(&api, "oauth2/token/revoke").map(Some), |u| Ok(Some(u)))?,
                    profile: ProfileSource::Discord { api },
                };
                (
                    "Discord",
                    &["identify", "email"],
                    ClientAuth::ClientSecretBasic,
                    Protocol::OAuth2(flow),
                    ClaimMap::default(),
                )
            }
            ProviderKind::X => {
                let api = api_url.clone().unwrap_or(parse_url("https://api.x.com/", "api_url")?);
                let flow = oauth2_flow::OAuth2 {
                    authorize: override_url(&cfg.authorize_url, "authorize_url")?
                        .unwrap_or(parse_url("https://x.com/i/oauth2/authorize", "authorize_url")?),
                    token: override_url(&cfg.token_url, "token_url")?
                        .map_or_else(|| join(&api, "2/oauth2/token"), Ok)?,
                    revocation: override_url(&cfg.revocation_url, "revocation_url")?
                        .map_or_else(|| join(&api, "2/oauth2/revoke").map(Some), |u| Ok(Some(u)))?,
                    profile: ProfileSource::X { api },
                };
                let scopes: &[&str] = &["users.read", "tweet.read", "offline.access"];
                ("X", scopes, ClientAuth::ClientSecretBasic, Protocol::OAuth2(flow), ClaimMap::default())
            }
            ProviderKind::Oauth2 => {
                let required = |value: &Option<String>, what: &str| {
                    override_url(value, what)?.ok_or_else(|| format!("{what} is required"))
                };
                let flow = oauth2_flow::OAuth2 {
                    authorize: required(&cfg.authorize_url, "authorize_url")?,
                    token: required(&cfg.token_url, "token_url")?,
                    revocation: override_url(&cfg.revocation_url, "revocation_url")?,
                    profile: ProfileSource::Userinfo(required(&cfg.userinfo_url, "userinfo_url")?),
                };
                let mut claims = ClaimMap::oidc();
                claims.apply(&cfg.claims);
                (id, &[], ClientAuth::ClientSecretBasic, Protocol::OAuth2(flow), claims)
            }
        };
        let post_logout_redirect_url = match &cfg.post_logout_redirect_url {
            Some(url) => parse_url(url, "post_logout_redirect_url")?,
            None => public_url.clone(),
        };
        Ok(Provider {
            id: id.to_owned(),
            name: cfg.name.clone().unwrap_or_else(|| default_name.to_owned()),
            kind: cfg.kind,
            client_id: cfg.client_id.clone(),
            client_secret: secret,
            client_auth: cfg.client_auth.unwrap_or(default_auth),
            redirect_uri,
            scopes: cfg.scopes.clone().unwrap_or_else(|| default_scopes.iter().map(|s| (*s).to_owned()).collect()),
            pkce: cfg.pkce,
            claims,
            revoke_on_signout: cfg.revoke_on_signout,
            rp_initiated_logout: cfg.rp_initiated_logout,
            post_logout_redirect_url,
            pass_access_token: cfg.pass_access_token,
            bearer: cfg.bearer.clone(),
            introspection_url: override_url(&cfg.bearer.introspection_url, "bearer.introspection_url")?,
            protocol,
            http,
            clock,
        })
    }

    pub fn is_oidc(&self) -> bool {
        matches!(self.protocol, Protocol::Oidc(_))
    }

    /// Whether the provider is ready to sign people in (OIDC: discovered,
    /// and its signing keys at hand).
    pub fn is_ready(&self) -> bool {
        match &self.protocol {
            Protocol::Oidc(oidc) => oidc.is_ready(),
            Protocol::OAuth2(_) => true,
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
        if let Protocol::Oidc(oidc) = &self.protocol {
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
        let (revocation, introspection) = match &self.protocol {
            Protocol::Oidc(oidc) => {
                let d = oidc.discovered()?;
                (d.revocation.is_some(), self.introspection_url.is_some() || d.introspection.is_some())
            }
            Protocol::OAuth2(flow) => (flow.revocation.is_some(), self.introspection_url.is_some()),
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
        match &self.protocol {
            Protocol::Oidc(oidc) => oidc.authorize(self).await,
            Protocol::OAuth2(flow) => flow.authorize(self),
        }
    }

    /// The issuer that must appear in the callback's `iss` parameter, and
    /// whether the provider promised to send it (RFC 9207).
    pub fn expected_issuer(&self) -> Option<(String, bool)> {
        match &self.protocol {
            Protocol::Oidc(oidc) => oidc.discovered().map(|d| (d.issuer.clone(), d.iss_parameter_supported)),
            Protocol::OAuth2(_) => None,
        }
    }

    /// Exchange the code and build the user.
    pub async fn complete(
        &self,
        code: String,
        nonce: Option<&str>,
        pkce_verifier: Option<&str>,
    ) -> Result<SignedInUser, ProviderError> {
        let signed_in = match &self.protocol {
            Protocol::Oidc(oidc) => oidc.complete(self, code, nonce, pkce_verifier).await?,
            Protocol::OAuth2(flow) => flow.complete(self, code, pkce_verifier).await?,
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
        let mut tokens = match &self.protocol {
            Protocol::Oidc(oidc) => oidc.refresh(self, refresh_token).await?,
            Protocol::OAuth2(flow) => flow.refresh(self, refresh_token).await?,
        };
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        if tokens.id_token.is_none() {
            tokens.id_token.clone_from(&previous.id_token);
        }
        Ok(tokens)
    }

    /// Best-effort RFC 7009 revocation of a session's tokens on sign-out.
    pub async fn revoke(&self, tokens: &ProviderTokens) {
        if !self.revoke_on_signout {
            return;
        }
        let endpoint = match &self.protocol {
            Protocol::Oidc(oidc) => oidc.discovered().and_then(|d| d.revocation.clone()),
            Protocol::OAuth2(flow) => flow.revocation.clone(),
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
    fn token_endpoint_request(&self, endpoint: &Url, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
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
        let Protocol::Oidc(oidc) = &self.protocol else { return None };
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

    fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The configured issuer (OpenID Connect providers only).
    pub fn issuer(&self) -> Option<&str> {
        match &self.protocol {
            Protocol::Oidc(oidc) => Some(oidc.issuer()),
            Protocol::OAuth2(_) => None,
        }
    }

    /// The issuer's signing keys (one cache for ID tokens and Bearer JWTs),
    /// discovering and fetching them now if needed.
    pub async fn signing_keys(&self) -> Result<Arc<jwks::KeySet>, ProviderError> {
        match &self.protocol {
            Protocol::Oidc(oidc) => oidc.signing_keys(&self.http).await,
            Protocol::OAuth2(_) => Err(ProviderError::Protocol("not an OpenID Connect provider".into())),
        }
    }

    /// A token names a key `seen` lacks: fetch the keys again (rate-limited;
    /// the keys we have stay if that fails) and give the newer set.
    pub async fn refetch_signing_keys(&self, seen: &Arc<jwks::KeySet>) -> Option<Arc<jwks::KeySet>> {
        match &self.protocol {
            Protocol::Oidc(oidc) => oidc.refetch_signing_keys(seen).await,
            Protocol::OAuth2(_) => None,
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
        let endpoint = match (&self.introspection_url, &self.protocol) {
            (Some(url), _) => url.clone(),
            (None, Protocol::Oidc(oidc)) => oidc
                .ensure(&self.http)
                .await?
                .introspection
                .clone()
                .ok_or_else(|| ProviderError::Protocol("the provider has no introspection endpoint".into()))?,
            (None, Protocol::OAuth2(_)) => {
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
    fn new_pkce(&self) -> Option<(openidconnect::PkceCodeChallenge, String)> {
        self.pkce.then(|| {
            let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
            (challenge, verifier.secret().clone())
        })
    }
}

/// Every configured OAuth provider, in configuration order (ids sorted).
#[derive(Debug, Default, Clone)]
pub struct Providers {
    by_id: BTreeMap<String, Arc<Provider>>,
}

impl Providers {
    pub fn from_settings(settings: &Settings, clock: SharedClock) -> Result<Providers, Vec<String>> {
        let mut problems = Vec::new();
        let mut by_id = BTreeMap::new();
        for (id, cfg) in &settings.providers {
            match Provider::build(id, cfg, settings, clock.clone()) {
                Ok(provider) => {
                    by_id.insert(id.clone(), Arc::new(provider));
                }
                Err(e) => problems.push(format!("providers.{id}: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(Providers { by_id })
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
