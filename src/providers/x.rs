//! X (OAuth 2.0 with PKCE): `GET /2/users/me`. X gives no email.

use super::http::get_json;
use super::preset::{join, parse_url, Endpoints, Preset, Profile, ProfileApi, Protocol};
use super::ProviderError;
use crate::config::{ClientAuth, ProviderKind};
use crate::identity::User;
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

pub const PRESET: Preset = Preset {
    kind: ProviderKind::X,
    id: "x",
    name: Some("X"),
    scopes: &["users.read", "tweet.read", "offline.access"],
    client_auth: ClientAuth::ClientSecretBasic,
    protocol: Protocol::OAuth2 { endpoints, profile: Profile::Api(ProfileApi { default_api, fetch }) },
};

/// Authorization on x.com; the token endpoints below the API.
fn endpoints(_base_url: Option<&Url>, api: Option<&Url>) -> Result<Endpoints, String> {
    let api = match api {
        Some(api) => api.clone(),
        None => default_api(None)?,
    };
    Ok(Endpoints {
        authorize: Some(parse_url("https://x.com/i/oauth2/authorize", "authorize_url")?),
        token: Some(join(&api, "2/oauth2/token")?),
        revocation: Some(join(&api, "2/oauth2/revoke")?),
    })
}

fn default_api(_base_url: Option<&Url>) -> Result<Url, String> {
    parse_url("https://api.x.com/", "api_url")
}

fn fetch<'a>(
    http: &'a reqwest::Client,
    api: &'a Url,
    token: &'a SecretString,
) -> BoxFuture<'a, Result<User, ProviderError>> {
    Box::pin(profile(http, api, token))
}

pub async fn profile(http: &reqwest::Client, api: &Url, token: &SecretString) -> Result<User, ProviderError> {
    let mut url = api.join("2/users/me").map_err(|_| ProviderError::Protocol("api_url".into()))?;
    url.query_pairs_mut().append_pair("user.fields", "profile_image_url,name,username");
    let me = get_json(http, &url, Some(token), "application/json").await?;
    let data = me.get("data").ok_or_else(|| ProviderError::Profile("X answered without `data`".into()))?;
    let text = |key: &str| data.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(User {
        id: text("id").ok_or_else(|| ProviderError::Profile("X user has no id".into()))?,
        username: text("username"),
        email: None,
        name: text("name"),
        avatar_url: text("profile_image_url"),
        groups: Vec::new(),
        claims: Default::default(),
    })
}
