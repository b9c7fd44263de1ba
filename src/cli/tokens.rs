//! The commands about credentials: `session mint`, `session inspect`,
//! `token mint`, `token inspect`, `token revoke`.

use super::{assemble, load_settings, write_out};
use crate::credentials::api_token::is_token_id;
use crate::crypto::ProviderTokens;
use crate::identity::User;
use crate::startup::KeyInit;
use secrecy::SecretString;
use std::path::PathBuf;

pub(super) fn mint(
    config: Option<&PathBuf>,
    user: User,
    provider: &str,
    ttl: Option<i64>,
    access_token: Option<(String, i64)>,
) -> Result<(), String> {
    user.validate().map_err(|e| e.to_string())?;
    let gateway = assemble(config, KeyInit::CreateInDevelopment)?;
    let codec = &gateway.credentials.codec;
    let ttl = ttl.unwrap_or(codec.lifetimes().idle);
    let now = codec.now();
    let tokens = access_token.map(|(token, token_ttl)| ProviderTokens {
        access_token: SecretString::from(token),
        token_type: "Bearer".into(),
        refresh_token: None,
        id_token: None,
        expires_at: Some(now + token_ttl),
        obtained_at: now,
        scope: None,
    });
    let session = codec.start_with_ttl(user, provider, ttl, tokens.as_ref()).map_err(|e| e.to_string())?;
    let value = codec.seal(&session).map_err(|e| e.to_string())?;
    let parts = gateway.credentials.cookies.split(&value).map_err(|e| e.to_string())?;
    let header: Vec<String> = parts.into_iter().map(|(name, value)| format!("{name}={value}")).collect();
    out!("{}", header.join("; "))?;
    Ok(())
}

/// `token mint`'s lifetime when `--ttl` is not given (if `api_tokens.max_lifetime` allows it).
const DEFAULT_TOKEN_TTL: i64 = 30 * 24 * 3600;

pub(super) fn mint_api_token(
    config: Option<&PathBuf>,
    user: User,
    name: &str,
    scopes: Vec<String>,
    ttl: Option<i64>,
) -> Result<(), String> {
    user.validate().map_err(|e| e.to_string())?;
    let gateway = assemble(config, KeyInit::CreateInDevelopment)?;
    let api_tokens = &gateway.credentials.api_tokens;
    let ttl = ttl.unwrap_or(DEFAULT_TOKEN_TTL.min(api_tokens.max_lifetime));
    if !(1..=api_tokens.max_lifetime).contains(&ttl) {
        return Err(format!(
            "--ttl {ttl} is not between 1 and api_tokens.max_lifetime ({} seconds)",
            api_tokens.max_lifetime
        ));
    }
    let (token, claims) = api_tokens.mint(user, name, scopes, ttl).map_err(|e| e.to_string())?;
    out!("{token}")?;
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
    eprintln!("token id {} (for the deny list), expires {expires}", claims.jti);
    Ok(())
}

/// Accept a bare token, `name=value`, or a whole `Cookie` header.
fn token_from(input: &str, cookie_name: &str) -> String {
    let input = input.trim();
    let input = input.strip_prefix("Cookie:").map(str::trim).unwrap_or(input);
    if !input.contains('=') {
        return input.to_owned();
    }
    let pairs: Vec<(&str, &str)> = input.split(';').filter_map(|p| p.trim().split_once('=')).collect();
    if let Some((_, value)) = pairs.iter().find(|(name, _)| *name == cookie_name) {
        return (*value).to_owned();
    }
    let mut joined = String::new();
    for index in 1.. {
        match pairs.iter().find(|(name, _)| *name == format!("{cookie_name}_{index}")) {
            Some((_, value)) => joined.push_str(value),
            None => break,
        }
    }
    match pairs.as_slice() {
        // One cookie of another name: a flow cookie, say.
        [(_, value)] if joined.is_empty() => (*value).to_owned(),
        _ => joined,
    }
}

pub(super) fn inspect(config: Option<&PathBuf>, input: &str) -> Result<(), String> {
    let gateway = assemble(config, KeyInit::ReadOnly)?;
    let token = token_from(input, &gateway.credentials.cookies.name);
    let json = |value: &dyn erased::Claims| value.to_json().map_err(|e| e.to_string());
    let (kind, mut claims) = match gateway.credentials.codec.open(&token) {
        Ok(session) => ("session", json(&session)?),
        Err(session_error) => {
            if let Ok(api_token) = gateway.credentials.api_tokens.open_uncached(&token) {
                ("api_token", json(&api_token)?)
            } else if let Ok(flow) = gateway.state.flows.open(&token) {
                ("flow", json(&flow)?)
            } else {
                return Err(format!("the session does not open: {} ({session_error})", session_error.code()));
            }
        }
    };
    redact_and_date(&mut claims);
    if let Some(object) = claims.as_object_mut() {
        object.insert("kind".into(), kind.into());
    }
    out!("{}", serde_json::to_string_pretty(&claims).map_err(|e| e.to_string())?)
}

/// `kind` says what the value is (`session`, `api_token`, `flow`).
/// Secrets (provider tokens, a flow's state, nonce and PKCE verifier) are
/// shown as `[redacted]`; each epoch time gets its RFC 3339 form beside it.
fn redact_and_date(claims: &mut serde_json::Value) {
    let Some(object) = claims.as_object_mut() else { return };
    for secret in ["tok", "state", "nonce", "pkce_verifier"] {
        if let Some(value) = object.get_mut(secret) {
            *value = serde_json::Value::String("[redacted]".into());
        }
    }
    for time in ["iat", "exp"] {
        let rfc3339 = object.get(time).and_then(serde_json::Value::as_i64).and_then(|t| {
            chrono::DateTime::from_timestamp(t, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        });
        if let Some(rfc3339) = rfc3339 {
            object.insert(format!("{time}_rfc3339"), serde_json::Value::String(rfc3339));
        }
    }
}

/// Serialize any of the three sealed payloads for `inspect`.
mod erased {
    pub trait Claims {
        fn to_json(&self) -> serde_json::Result<serde_json::Value>;
    }
    impl<T: serde::Serialize> Claims for T {
        fn to_json(&self) -> serde_json::Result<serde_json::Value> {
            serde_json::to_value(self)
        }
    }
}

pub(super) fn revoke_api_token(config: Option<&PathBuf>, id: &str) -> Result<(), String> {
    use std::io::Write;
    let settings = load_settings(config)?;
    let Some(path) = settings.api_tokens.deny_list else {
        return Err("api_tokens.deny_list is not set: there is no deny list to add the token to".into());
    };
    if !is_token_id(id) {
        return Err("that is not a token id (the id `token mint` prints, letters, digits, - and _)".into());
    }
    let listed = std::fs::read_to_string(&path).unwrap_or_default();
    if listed.lines().any(|line| line.split('#').next().unwrap_or_default().trim() == id) {
        return out!("token {id} is already revoked in {}", path.display());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let newline = if listed.is_empty() || listed.ends_with('\n') { "" } else { "\n" };
    writeln!(file, "{newline}{id}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    out!("revoked token {id}: added to {} (running gateways read it within a second)", path.display())
}
