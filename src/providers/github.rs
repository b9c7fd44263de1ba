//! GitHub (OAuth 2.0): `GET /user` for the profile, `GET /user/emails` for
//! the verified primary email. GitHub issues no refresh token. For GitHub
//! Enterprise, set `base_url` (the API is then `{base_url}/api/v3/`).

use super::http::get_json;
use super::ProviderError;
use crate::domain::User;
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

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
    })
}
