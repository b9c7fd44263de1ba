//! GitHub (OAuth 2.0): `GET /user` for the profile, `GET /user/emails` for
//! the verified primary email. GitHub issues no refresh token. For GitHub
//! Enterprise, set `base_url` (the API is then `{base_url}/api/v3/`).

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
    kind: ProviderKind::Github,
    id: "github",
    name: Some("GitHub"),
    scopes: &["read:user", "user:email"],
    client_auth: ClientAuth::ClientSecretPost,
    protocol: Protocol::OAuth2 { endpoints, profile: Profile::Api(ProfileApi { default_api, fetch }) },
};

/// The web side (`base_url`, else github.com) has the OAuth endpoints.
fn endpoints(base_url: Option<&Url>, _api: Option<&Url>) -> Result<Endpoints, String> {
    let web = match base_url {
        Some(base) => base.clone(),
        None => parse_url("https://github.com/", "base_url")?,
    };
    Ok(Endpoints {
        authorize: Some(join(&web, "login/oauth/authorize")?),
        token: Some(join(&web, "login/oauth/access_token")?),
        revocation: None,
    })
}

/// GitHub Enterprise serves its API at `{base_url}/api/v3/`.
fn default_api(base_url: Option<&Url>) -> Result<Url, String> {
    match base_url {
        Some(base) => join(base, "api/v3/"),
        None => parse_url("https://api.github.com/", "api_url"),
    }
}

fn fetch<'a>(
    http: &'a reqwest::Client,
    api: &'a Url,
    token: &'a SecretString,
) -> BoxFuture<'a, Result<User, ProviderError>> {
    Box::pin(profile(http, api, token))
}

const ACCEPT: &str = "application/vnd.github+json";

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

pub async fn profile(http: &reqwest::Client, api: &Url, token: &SecretString) -> Result<User, ProviderError> {
    let endpoint = |path: &str| api.join(path).map_err(|_| ProviderError::Protocol("api_url".into()));
    let user = get_json(http, &endpoint("user")?, Some(token), ACCEPT).await?;
    let id = match user.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ProviderError::Profile("GitHub user has no numeric id".into())),
    };
    let emails = get_json(http, &endpoint("user/emails")?, Some(token), ACCEPT).await?;
    let email = emails.as_array().into_iter().flatten().find_map(|entry| {
        let primary = entry.get("primary") == Some(&Value::Bool(true));
        let verified = entry.get("verified") == Some(&Value::Bool(true));
        (primary && verified).then(|| text(entry, "email")).flatten()
    });
    Ok(User {
        id,
        username: text(&user, "login"),
        email,
        name: text(&user, "name"),
        avatar_url: text(&user, "avatar_url"),
        groups: Vec::new(),
        claims: Default::default(),
    })
}
