//! Plain OAuth 2.0 (GitHub, Discord, X, any OAuth 2.0 server): the
//! authorization-code flow with PKCE, then a profile from userinfo or the
//! provider's API; and the token-endpoint plumbing OpenID Connect shares.

use super::http::{describe, get_json};
use super::preset::FetchProfile;
use super::{Authorization, Provider, ProviderError, SignedInUser};
use crate::config::ClientAuth;
use crate::crypto::ProviderTokens;
use oauth2::basic::BasicClient;
use oauth2::RefreshToken;
use oauth2::{
    AsyncHttpClient, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ErrorResponse, HttpClientError, HttpRequest, HttpResponse, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::SecretString;
use url::Url;

/// Where profile data comes from for a plain OAuth 2.0 provider.
#[derive(Debug, Clone)]
pub enum ProfileSource {
    /// GET the userinfo URL and map its JSON with the provider's claim map.
    Userinfo(Url),
    /// The provider's own API at `api`, read by its preset's fetcher.
    Api { api: Url, fetch: FetchProfile },
}

pub struct OAuth2 {
    pub authorize: Url,
    pub token: Url,
    pub revocation: Option<Url>,
    pub profile: ProfileSource,
}

type OAuth2Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Map a token-endpoint failure to a sign-in error. GitHub answers a bad
/// code with `200 {"error": "bad_verification_code"}`, which arrives here as
/// a parse error; it is recognised as a refused code too. A body that is not
/// JSON at all (a proxy's error page), no body, or an OAuth `server_error` /
/// `temporarily_unavailable` means the provider is unavailable, not that it
/// refused us.
pub fn token_error<T: ErrorResponse + serde::Serialize>(
    error: RequestTokenError<HttpClientError<reqwest::Error>, T>,
) -> ProviderError {
    let classify = |code: &str| match code {
        "invalid_grant" | "bad_verification_code" => ProviderError::CodeRejected,
        "server_error" | "temporarily_unavailable" => ProviderError::Unavailable(format!("token endpoint: {code}")),
        other => ProviderError::Refused(format!("token endpoint: {other}")),
    };
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = serde_json::to_value(&response)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            classify(&code)
        }
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => ProviderError::Unavailable(describe(&e)),
        RequestTokenError::Request(HttpClientError::Other(why)) => ProviderError::Unavailable(why),
        RequestTokenError::Request(_) => ProviderError::Unavailable("request failed".into()),
        RequestTokenError::Parse(_, body) => {
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
            match code {
                Some(code) => classify(&code),
                None => ProviderError::Unavailable("token endpoint answered something that is not JSON".into()),
            }
        }
        RequestTokenError::Other(_) => ProviderError::Unavailable("token endpoint answered unexpectedly".into()),
    }
}

/// A call to a token endpoint where a 5xx is a transport failure (so
/// `Unavailable`, transient) whatever its body says: only a 4xx or a 200
/// carries an OAuth error the provider means.
pub async fn token_endpoint(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, HttpClientError<reqwest::Error>> {
    let response = http.call(request).await?;
    if response.status().is_server_error() {
        return Err(HttpClientError::Other(format!("token endpoint answered {}", response.status())));
    }
    Ok(response)
}

/// The gateway's record of a token response.
pub fn tokens_from<TT: oauth2::TokenType, R: TokenResponse<TokenType = TT>>(
    response: &R,
    now: i64,
    id_token: Option<String>,
) -> ProviderTokens {
    let token_type = serde_json::to_value(response.token_type())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|t| !t.eq_ignore_ascii_case("bearer"))
        .unwrap_or_else(|| "Bearer".into());
    ProviderTokens {
        access_token: SecretString::from(response.access_token().secret().clone()),
        token_type,
        refresh_token: response.refresh_token().map(|t| SecretString::from(t.secret().clone())),
        id_token: id_token.map(SecretString::from),
        expires_at: response.expires_in().map(|d| now.saturating_add(d.as_secs().min(i64::MAX as u64) as i64)),
        obtained_at: now,
        scope: response.scopes().map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
    }
}

impl OAuth2 {
    fn client(&self, provider: &Provider) -> OAuth2Client {
        let client = BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.authorize.clone()))
            .set_token_uri(TokenUrl::from_url(self.token.clone()))
            .set_redirect_uri(RedirectUrl::from_url(provider.redirect_uri.clone()))
            .set_auth_type(match provider.client_auth {
                ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
                ClientAuth::ClientSecretPost => AuthType::RequestBody,
            });
        match &provider.client_secret {
            Some(secret) => {
                client.set_client_secret(ClientSecret::new(secrecy::ExposeSecret::expose_secret(secret).to_owned()))
            }
            None => client,
        }
    }

    pub fn authorize(&self, provider: &Provider) -> Result<Authorization, ProviderError> {
        let client = self.client(provider);
        let mut request = client.authorize_url(CsrfToken::new_random);
        for scope in &provider.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (challenge, pkce_verifier) = provider.new_pkce().unzip();
        if let Some(challenge) = challenge {
            request = request.set_pkce_challenge(challenge);
        }
        let (url, state) = request.url();
        Ok(Authorization { url, state: state.secret().clone(), nonce: None, pkce_verifier })
    }

    pub async fn refresh(
        &self,
        provider: &Provider,
        refresh_token: &SecretString,
    ) -> Result<ProviderTokens, ProviderError> {
        let refresh_token = RefreshToken::new(secrecy::ExposeSecret::expose_secret(refresh_token).to_owned());
        let response = self
            .client(provider)
            .exchange_refresh_token(&refresh_token)
            .request_async(&|request| token_endpoint(&provider.http, request))
            .await
            .map_err(token_error)?;
        Ok(tokens_from(&response, provider.now(), None))
    }

    pub async fn complete(
        &self,
        provider: &Provider,
        code: String,
        pkce_verifier: Option<&str>,
    ) -> Result<SignedInUser, ProviderError> {
        let client = self.client(provider);
        let mut request = client.exchange_code(AuthorizationCode::new(code));
        if let Some(verifier) = pkce_verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
        }
        let response = request.request_async(&provider.http).await.map_err(token_error)?;
        let tokens = tokens_from(&response, provider.now(), None);
        let http = &provider.http;
        let (user, profile) = match &self.profile {
            ProfileSource::Userinfo(url) => {
                let json = get_json(http, url, Some(&tokens.access_token), "application/json").await?;
                (provider.claims.user(&json)?, Some(json))
            }
            ProfileSource::Api { api, fetch } => (fetch(http, api, &tokens.access_token).await?, None),
        };
        Ok(SignedInUser { user, tokens, idp_session: None, profile })
    }
}
