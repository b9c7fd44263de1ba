//! The one HTTP client sealgate uses to talk to providers: bounded timeouts,
//! no redirects (a token or userinfo call that redirects is an error, not
//! something to follow), a bounded response size.

use super::ProviderError;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use url::Url;

/// Largest provider response read (userinfo, discovery, JWKS).
const MAX_BODY: usize = 1024 * 1024;

pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("sealgate/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A transport error, without the URL (which may carry query parameters).
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() || error.is_body() {
        "unreadable response"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// GET a JSON document, optionally with a bearer token.
pub async fn get_json(
    http: &reqwest::Client,
    url: &Url,
    bearer: Option<&SecretString>,
    accept: &str,
) -> Result<serde_json::Value, ProviderError> {
    let mut request = http.get(url.clone()).header("Accept", accept);
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose_secret());
    }
    let response = request.send().await.map_err(|e| ProviderError::Unavailable(describe(&e)))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(ProviderError::Unavailable(format!("{} answered {status}", url.path())));
    }
    if !status.is_success() {
        return Err(ProviderError::Protocol(format!("{} answered {status}", url.path())));
    }
    let body = read_limited(response).await?;
    serde_json::from_slice(&body).map_err(|_| ProviderError::Protocol(format!("{} did not answer JSON", url.path())))
}

/// A response body, refused past `MAX_BODY` bytes (read in chunks, so a
/// body without a length cannot grow past the bound either).
pub async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let too_large = || ProviderError::Protocol("response too large".into());
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ProviderError::Unavailable(describe(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
