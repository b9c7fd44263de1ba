//! X (OAuth 2.0 with PKCE): `GET /2/users/me`. X gives no email.

use super::http::get_json;
use super::ProviderError;
use crate::domain::User;
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

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
    })
}
