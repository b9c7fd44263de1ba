//! OpenID Connect: discovery (with bounded retries), the authorization-code
//! flow with PKCE and nonce, and full ID token verification (signature
//! against the issuer's JWKS, `iss`, `aud`, `exp`, `nonce`) by openidconnect.
//!
//! Discovery reads the OpenID Provider metadata and, when it lacks the
//! revocation or introspection endpoint, the RFC 8414 authorization server
//! metadata too (Django OAuth Toolkit advertises them only there). The
//! JWKS lives in the provider's one key cache ([`super::jwks`]); an ID token
//! naming a key the cache lacks makes it fetch the set again (rate-limited).

use super::http::get_json;
use super::jwks::{Jwks, KeySet};
use super::{Authorization, Provider, ProviderError, SignedInUser};
use crate::config::ClientAuth;
use crate::crypto::ProviderTokens;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthUrl, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    SignatureVerificationError, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use url::Url;

/// Endpoints given in config, which win over discovery.
#[derive(Debug, Default)]
pub struct Overrides {
    pub authorize: Option<Url>,
    pub token: Option<Url>,
    pub userinfo: Option<Url>,
    pub revocation: Option<Url>,
    pub end_session: Option<Url>,
    pub introspection: Option<Url>,
}

/// What discovery found (with overrides applied).
#[derive(Debug)]
pub struct Discovered {
    pub issuer: String,
    pub authorize: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub revocation: Option<Url>,
    pub end_session: Option<Url>,
    pub jwks_uri: Url,
    /// RFC 7662 token introspection.
    pub introspection: Option<Url>,
    /// RFC 9207: the provider promises `iss` on every authorization response.
    pub iss_parameter_supported: bool,
    signing_algs: Vec<CoreJwsSigningAlgorithm>,
    /// The same algorithms by name, for the JWTs we check ourselves (logout tokens).
    signing_alg_names: Vec<&'static str>,
}

type OidcClient = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointNotSet>;

pub struct Oidc {
    issuer: String,
    overrides: Overrides,
    discovered: RwLock<Option<Arc<Discovered>>>,
    last_attempt: Mutex<Option<Instant>>,
    /// The issuer's signing keys, shared with its Bearer JWTs.
    jwks: Arc<Jwks>,
}

/// On-demand rediscovery is tried at most this often.
const RETRY_GAP: Duration = Duration::from_secs(5);

fn url_field(doc: &Value, key: &str) -> Result<Option<Url>, ProviderError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            Url::parse(s).map(Some).map_err(|_| ProviderError::Protocol(format!("discovery: `{key}` is not a URL")))
        }
        Some(_) => Err(ProviderError::Protocol(format!("discovery: `{key}` is not a string"))),
    }
}

/// The ID token signing algorithms the issuer advertises, by name and as
/// openidconnect names them: asymmetric ones only, never `none`, never HMAC
/// with a public key; RS256 when it advertises none we know.
fn signing_algs(doc: &Value) -> Vec<(&'static str, CoreJwsSigningAlgorithm)> {
    use CoreJwsSigningAlgorithm as A;
    let advertised: Vec<&str> = doc
        .get("id_token_signing_alg_values_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let known = [
        ("RS256", A::RsaSsaPkcs1V15Sha256),
        ("RS384", A::RsaSsaPkcs1V15Sha384),
        ("RS512", A::RsaSsaPkcs1V15Sha512),
        ("PS256", A::RsaSsaPssSha256),
        ("PS384", A::RsaSsaPssSha384),
        ("PS512", A::RsaSsaPssSha512),
        ("ES256", A::EcdsaP256Sha256),
        ("ES384", A::EcdsaP384Sha384),
        ("EdDSA", A::EdDsa),
    ];
    let algs: Vec<_> = known.into_iter().filter(|(name, _)| advertised.contains(name)).collect();
    if algs.is_empty() {
        vec![("RS256", A::RsaSsaPkcs1V15Sha256)]
    } else {
        algs
    }
}

/// The claims of an already verified ID token, as JSON.
fn payload(id_token: &str) -> Result<Value, ProviderError> {
    let bad = || ProviderError::InvalidIdToken("payload is not JSON".into());
    let part = id_token.split('.').nth(1).ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

impl Oidc {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn new(issuer: &str, overrides: Overrides, jwks: Jwks) -> Result<Oidc, String> {
        let parsed = Url::parse(issuer).map_err(|e| format!("issuer `{issuer}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("issuer `{issuer}` is not an http(s) URL"));
        }
        Ok(Oidc {
            issuer: issuer.to_owned(),
            overrides,
            discovered: RwLock::new(None),
            last_attempt: Mutex::new(None),
            jwks: Arc::new(jwks),
        })
    }

    pub fn discovered(&self) -> Option<Arc<Discovered>> {
        self.discovered.read().ok().and_then(|d| d.clone())
    }

    async fn discover_once(&self, http: &reqwest::Client) -> Result<Arc<Discovered>, ProviderError> {
        let discovered = self.discover_uncounted(http).await;
        crate::metrics::provider_fetched(self.jwks.provider(), crate::metrics::Fetch::discovery, discovered.is_ok());
        discovered
    }

    async fn discover_uncounted(&self, http: &reqwest::Client) -> Result<Arc<Discovered>, ProviderError> {
        if let Ok(mut last) = self.last_attempt.lock() {
            *last = Some(Instant::now());
        }
        let well_known = Url::parse(&format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/')))
            .map_err(|_| ProviderError::Protocol("issuer URL".into()))?;
        let doc = get_json(http, &well_known, None, "application/json").await?;
        // The issuer must match exactly, or tokens from another issuer could be accepted.
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(ProviderError::Protocol("discovery: issuer does not match the configured issuer".into()));
        }
        let required = |key: &str, given: &Option<Url>| -> Result<Url, ProviderError> {
            match given {
                Some(url) => Ok(url.clone()),
                None => url_field(&doc, key)?.ok_or_else(|| ProviderError::Protocol(format!("discovery: no `{key}`"))),
            }
        };
        // RFC 8414 metadata, read only for what the OpenID metadata lacks.
        let lacking = [
            ("revocation_endpoint", &self.overrides.revocation),
            ("introspection_endpoint", &self.overrides.introspection),
        ]
        .into_iter()
        .any(|(key, given)| given.is_none() && !matches!(url_field(&doc, key), Ok(Some(_))));
        let oauth_doc = if lacking { self.authorization_server_metadata(http).await } else { None };
        let optional = |key: &str, given: &Option<Url>| -> Result<Option<Url>, ProviderError> {
            match (given, url_field(&doc, key)?, &oauth_doc) {
                (Some(url), _, _) => Ok(Some(url.clone())),
                (None, Some(url), _) => Ok(Some(url)),
                // A malformed entry in the optional document is as good as none.
                (None, None, Some(oauth_doc)) => Ok(url_field(oauth_doc, key).ok().flatten()),
                (None, None, None) => Ok(None),
            }
        };
        let jwks_uri = required("jwks_uri", &None)?;
        let algs = signing_algs(&doc);
        let discovered = Arc::new(Discovered {
            issuer: self.issuer.clone(),
            authorize: required("authorization_endpoint", &self.overrides.authorize)?,
            token: required("token_endpoint", &self.overrides.token)?,
            userinfo: optional("userinfo_endpoint", &self.overrides.userinfo)?,
            revocation: optional("revocation_endpoint", &self.overrides.revocation)?,
            end_session: optional("end_session_endpoint", &self.overrides.end_session)?,
            introspection: optional("introspection_endpoint", &self.overrides.introspection)?,
            jwks_uri,
            iss_parameter_supported: doc.get("authorization_response_iss_parameter_supported")
                == Some(&Value::Bool(true)),
            signing_algs: algs.iter().map(|(_, alg)| alg.clone()).collect(),
            signing_alg_names: algs.iter().map(|(name, _)| *name).collect(),
        });
        if let Ok(mut slot) = self.discovered.write() {
            *slot = Some(discovered.clone());
        }
        if !self.jwks.fetch_now(&discovered.jwks_uri).await {
            return Err(ProviderError::Unavailable("the JWKS holds no usable signing key".into()));
        }
        Ok(discovered)
    }

    /// Where RFC 8414 metadata may be: `/.well-known/oauth-authorization-server`
    /// inserted before the issuer's path (RFC 8414 3.1), else appended to it
    /// (as OpenID discovery does, and as servers mounted under a path serve it).
    fn authorization_server_metadata_urls(&self) -> Vec<Url> {
        const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
        let Ok(issuer) = Url::parse(&self.issuer) else { return Vec::new() };
        let path = issuer.path().trim_end_matches('/').to_owned();
        let mut inserted = issuer.clone();
        inserted.set_path(&format!("{WELL_KNOWN}{path}"));
        let mut urls = vec![inserted];
        if !path.is_empty() {
            let mut appended = issuer.clone();
            appended.set_path(&format!("{path}{WELL_KNOWN}"));
            urls.push(appended);
        }
        urls
    }

    /// The issuer's RFC 8414 metadata, if it serves any for this very issuer.
    async fn authorization_server_metadata(&self, http: &reqwest::Client) -> Option<Value> {
        for url in self.authorization_server_metadata_urls() {
            match get_json(http, &url, None, "application/json").await {
                // RFC 8414 3.3: the issuer must be ours, or the document is not used.
                Ok(doc) if doc.get("issuer").and_then(Value::as_str) == Some(self.issuer.as_str()) => return Some(doc),
                Ok(_) => tracing::warn!(issuer = %self.issuer, "RFC 8414 metadata names another issuer; ignored"),
                Err(error) => tracing::debug!(issuer = %self.issuer, %error, "no RFC 8414 metadata here"),
            }
        }
        None
    }

    /// Whether the issuer signs its ID tokens (and so its logout tokens) with `alg`.
    pub fn signs_with(&self, alg: &str) -> bool {
        self.discovered().is_some_and(|d| d.signing_alg_names.contains(&alg))
    }

    /// Discovered, and the signing keys are at hand.
    pub fn is_ready(&self) -> bool {
        self.discovered().is_some() && self.jwks.has_keys()
    }

    /// The issuer's signing keys, discovering (and fetching them) if needed.
    pub async fn signing_keys(&self, http: &reqwest::Client) -> Result<Arc<KeySet>, ProviderError> {
        let d = self.ensure(http).await?;
        self.jwks
            .keys(&d.jwks_uri)
            .await
            .ok_or_else(|| ProviderError::Unavailable("the issuer's signing keys cannot be had".into()))
    }

    /// A token names a key `seen` lacks: the newer set, if one can be had.
    pub async fn refetch_signing_keys(&self, seen: &Arc<KeySet>) -> Option<Arc<KeySet>> {
        let d = self.discovered()?;
        self.jwks.refetch(&d.jwks_uri, seen).await
    }

    pub async fn discover_with_retries(&self, http: &reqwest::Client, id: &str, attempts: u32) {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=attempts {
            match self.discover_once(http).await {
                Ok(_) => {
                    tracing::info!(provider = id, "OIDC discovery done");
                    return;
                }
                Err(e) => tracing::warn!(provider = id, attempt, error = %e, "OIDC discovery failed"),
            }
            if attempt < attempts {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
        }
        tracing::error!(
            provider = id,
            "OIDC discovery gave up; /readyz reports the provider not ready, sign-ins retry it"
        );
    }

    /// The discovered metadata, discovering now if that has not happened yet.
    pub async fn ensure(&self, http: &reqwest::Client) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self.discovered() {
            return Ok(d);
        }
        let recent = self.last_attempt.lock().ok().and_then(|l| *l).is_some_and(|t| t.elapsed() < RETRY_GAP);
        if recent {
            return Err(ProviderError::Unavailable("discovery has not succeeded yet".into()));
        }
        self.discover_once(http).await
    }

    /// The client; `keys` only matter to its ID token verifier.
    fn client(
        &self,
        provider: &Provider,
        d: &Discovered,
        keys: CoreJsonWebKeySet,
    ) -> Result<OidcClient, ProviderError> {
        let issuer = IssuerUrl::new(d.issuer.clone()).map_err(|_| ProviderError::Protocol("issuer URL".into()))?;
        let client = CoreClient::new(ClientId::new(provider.client_id.clone()), issuer, keys)
            .set_auth_uri(AuthUrl::from_url(d.authorize.clone()))
            .set_token_uri(TokenUrl::from_url(d.token.clone()))
            .set_redirect_uri(RedirectUrl::from_url(provider.redirect_uri.clone()))
            .set_auth_type(match provider.client_auth {
                ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
                ClientAuth::ClientSecretPost => AuthType::RequestBody,
            });
        Ok(match &provider.client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned())),
            None => client,
        })
    }

    pub async fn authorize(&self, provider: &Provider) -> Result<Authorization, ProviderError> {
        let d = self.ensure(&provider.http).await?;
        let client = self.client(provider, &d, CoreJsonWebKeySet::default())?;
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in provider.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (challenge, pkce_verifier) = provider.new_pkce().unzip();
        if let Some(challenge) = challenge {
            request = request.set_pkce_challenge(challenge);
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization { url, state: state.secret().clone(), nonce: Some(nonce.secret().clone()), pkce_verifier })
    }

    pub async fn refresh(
        &self,
        provider: &Provider,
        refresh_token: &SecretString,
    ) -> Result<ProviderTokens, ProviderError> {
        let d = self.ensure(&provider.http).await?;
        let client = self.client(provider, &d, CoreJsonWebKeySet::default())?;
        let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response: CoreTokenResponse = client
            .exchange_refresh_token(&refresh_token)
            .request_async(&|request| super::oauth2_flow::token_endpoint(&provider.http, request))
            .await
            .map_err(super::oauth2_flow::token_error)?;
        let id_token = response.id_token().map(|t| t.to_string());
        Ok(super::oauth2_flow::tokens_from(&response, provider.now(), id_token))
    }

    pub async fn complete(
        &self,
        provider: &Provider,
        code: String,
        nonce: Option<&str>,
        pkce_verifier: Option<&str>,
    ) -> Result<SignedInUser, ProviderError> {
        let d = self.ensure(&provider.http).await?;
        let client = self.client(provider, &d, CoreJsonWebKeySet::default())?;
        let mut request = client.exchange_code(AuthorizationCode::new(code));
        if let Some(verifier) = pkce_verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
        }
        let response: CoreTokenResponse =
            request.request_async(&provider.http).await.map_err(super::oauth2_flow::token_error)?;
        let id_token = response.id_token().ok_or_else(|| ProviderError::InvalidIdToken("no id_token".into()))?;
        let nonce =
            Nonce::new(nonce.ok_or_else(|| ProviderError::InvalidIdToken("no nonce in the flow".into()))?.to_owned());
        let verify = |keys: &KeySet| -> Result<String, ClaimsVerificationError> {
            let client = self
                .client(provider, &d, keys.id_token_keys().clone())
                .map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
            let clock = provider.clock.clone();
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(d.signing_algs.clone())
                .set_time_fn(move || Utc.timestamp_opt(clock.now(), 0).single().unwrap_or_default());
            Ok(id_token.claims(&verifier, &nonce)?.subject().as_str().to_owned())
        };
        let keys = self.signing_keys(&provider.http).await?;
        let subject = match verify(&keys) {
            // The issuer may have rotated its keys (OIDC Core 10.1.1): fetch them again, once.
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                match self.refetch_signing_keys(&keys).await {
                    Some(fresh) => verify(&fresh),
                    None => {
                        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
                    }
                }
            }
            verified => verified,
        }
        .map_err(|e| ProviderError::InvalidIdToken(e.to_string()))?;
        let raw_id_token = id_token.to_string();
        let mut profile = payload(&raw_id_token)?;
        // The IdP's session id, from the ID token only (never from userinfo),
        // for back- and front-channel logout.
        let idp_session = match profile.get("sid") {
            None => None,
            Some(sid) => {
                let sid = sid.as_str().filter(|sid| super::logout_token::is_session_id(sid));
                if sid.is_none() {
                    tracing::warn!(provider = %provider.id, "the ID token's sid is malformed; not kept");
                }
                sid.map(str::to_owned)
            }
        };

        let access_token = SecretString::from(response.access_token().secret().clone());
        let needs_userinfo = [&provider.claims.email, &provider.claims.name, &provider.claims.groups]
            .iter()
            .any(|claim| profile.get(claim.as_str()).is_none());
        if let (true, Some(userinfo_url)) = (needs_userinfo, &d.userinfo) {
            match get_json(&provider.http, userinfo_url, Some(&access_token), "application/json").await {
                Ok(Value::Object(extra)) if extra.get("sub").and_then(Value::as_str) == Some(subject.as_str()) => {
                    if let Value::Object(claims) = &mut profile {
                        for (key, value) in extra {
                            claims.entry(key).or_insert(value);
                        }
                    }
                }
                Ok(_) => return Err(ProviderError::Profile("userinfo `sub` does not match the ID token".into())),
                Err(e) => tracing::warn!(provider = %provider.id, error = %e, "userinfo failed; using ID token claims"),
            }
        }
        let user = provider.claims.user(&profile)?;
        let tokens = super::oauth2_flow::tokens_from(&response, provider.now(), Some(raw_id_token));
        Ok(SignedInUser { user, tokens, idp_session, profile: Some(profile) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn oidc(issuer: &str) -> Oidc {
        let http = super::super::http::client(Duration::from_secs(1)).unwrap();
        let jwks = Jwks::new("p", http, Arc::new(ManualClock::at(0)), Duration::from_secs(60), Duration::from_secs(1));
        Oidc::new(issuer, Overrides::default(), jwks).unwrap()
    }

    #[test]
    fn rfc_8414_metadata_is_looked_for_where_rfc_8414_and_path_mounted_servers_put_it() {
        let urls = |issuer: &str| -> Vec<String> {
            oidc(issuer).authorization_server_metadata_urls().iter().map(Url::to_string).collect()
        };
        assert_eq!(urls("https://idp.example"), ["https://idp.example/.well-known/oauth-authorization-server"]);
        assert_eq!(
            urls("https://idp.example/o/"),
            [
                "https://idp.example/.well-known/oauth-authorization-server/o",
                "https://idp.example/o/.well-known/oauth-authorization-server",
            ]
        );
    }
}
