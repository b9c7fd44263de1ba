//! Discord (OAuth 2.0): `GET /users/@me`; the avatar URL is built from the
//! avatar hash on Discord's CDN.

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
    kind: ProviderKind::Discord,
    id: "discord",
    name: Some("Discord"),
    scopes: &["identify", "email"],
    client_auth: ClientAuth::ClientSecretBasic,
    protocol: Protocol::OAuth2 { endpoints, profile: Profile::Api(ProfileApi { default_api, fetch }) },
};

/// Authorization on discord.com; the token endpoints below the API.
fn endpoints(_base_url: Option<&Url>, api: Option<&Url>) -> Result<Endpoints, String> {
    let api = match api {
        Some(api) => api.clone(),
        None => default_api(None)?,
    };
    Ok(Endpoints {
        authorize: Some(parse_url("https://discord.com/oauth2/authorize", "authorize_url")?),
        token: Some(join(&api, "oauth2/token")?),
        revocation: Some(join(&api, "oauth2/token/revoke")?),
    })
}

fn default_api(_base_url: Option<&Url>) -> Result<Url, String> {
    parse_url("https://discord.com/api/", "api_url")
}

fn fetch<'a>(
    http: &'a reqwest::Client,
    api: &'a Url,
    token: &'a SecretString,
) -> BoxFuture<'a, Result<User, ProviderError>> {
    Box::pin(profile(http, api, token))
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `https://cdn.discordapp.com/avatars/{id}/{hash}.png` (`.gif` when animated).
pub fn avatar_url(id: &str, hash: &str) -> String {
    let extension = if hash.starts_with("a_") { "gif" } else { "png" };
    format!("https://cdn.discordapp.com/avatars/{id}/{hash}.{extension}")
}

pub async fn profile(http: &reqwest::Client, api: &Url, token: &SecretString) -> Result<User, ProviderError> {
    let url = api.join("users/@me").map_err(|_| ProviderError::Protocol("api_url".into()))?;
    let me = get_json(http, &url, Some(token), "application/json").await?;
    let id = text(&me, "id").ok_or_else(|| ProviderError::Profile("Discord user has no id".into()))?;
    let verified = me.get("verified") == Some(&Value::Bool(true));
    Ok(User {
        avatar_url: text(&me, "avatar").map(|hash| avatar_url(&id, &hash)),
        username: text(&me, "username"),
        name: text(&me, "global_name").or_else(|| text(&me, "username")),
        email: if verified { text(&me, "email") } else { None },
        groups: Vec::new(),
        claims: Default::default(),
        id,
    })
}
