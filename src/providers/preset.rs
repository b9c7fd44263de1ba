//! What a provider `kind` brings: the [`Preset`] type. Each preset lives in
//! its own file and says everything that sets its kind apart (name, scopes,
//! client authentication, protocol, default endpoints, how its profile is
//! read); `Provider::build` applies the config's overrides to it the same
//! way for every kind. The one list of them is [`PRESETS`].

use super::{ProviderError, PRESETS};
use crate::config::{ClientAuth, ProviderKind};
use crate::identity::User;
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use url::Url;

/// The preset a `kind` selects.
pub fn find(kind: ProviderKind) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.kind == kind)
}

/// One provider kind's defaults and profile fetcher.
#[derive(Debug)]
pub struct Preset {
    /// The kind that selects this preset.
    pub kind: ProviderKind,
    /// How config spells the kind (`kind = "github"`).
    pub id: &'static str,
    /// The sign-in button's default text; `None`: the provider's id.
    pub name: Option<&'static str>,
    /// Scopes requested unless config sets `scopes`.
    pub scopes: &'static [&'static str],
    /// How the client authenticates at the token endpoint unless config sets `client_auth`.
    pub client_auth: ClientAuth,
    pub protocol: Protocol,
}

/// How a preset signs people in.
#[derive(Debug)]
pub enum Protocol {
    /// OpenID Connect: endpoints by discovery from the issuer, the user from
    /// the verified ID token (plus userinfo) through the claim map.
    Oidc {
        /// The issuer unless config sets `issuer`, given `base_url`.
        issuer: fn(base_url: Option<&Url>) -> Option<String>,
    },
    /// Plain OAuth 2.0 with fixed endpoints.
    OAuth2 {
        /// The default endpoints, given `base_url` and the API base (after
        /// `api_url` replaced it); config overrides each.
        endpoints: fn(base_url: Option<&Url>, api: Option<&Url>) -> Result<Endpoints, String>,
        profile: Profile,
    },
}

/// A plain OAuth 2.0 preset's default endpoints; `None`: config must name it
/// (or, for revocation, there is none).
#[derive(Debug, Default)]
pub struct Endpoints {
    pub authorize: Option<Url>,
    pub token: Option<Url>,
    pub revocation: Option<Url>,
}

/// Where a plain OAuth 2.0 provider's profile comes from.
#[derive(Debug, Clone, Copy)]
pub enum Profile {
    /// `GET userinfo_url`, mapped by the claim map (`claims.*`).
    Userinfo,
    /// The provider's own REST API, read by the preset's fetcher.
    Api(ProfileApi),
}

/// A provider's REST API: where it is and how a user is read from it.
#[derive(Debug, Clone, Copy)]
pub struct ProfileApi {
    /// The API base unless config sets `api_url`, given `base_url`.
    pub default_api: fn(base_url: Option<&Url>) -> Result<Url, String>,
    pub fetch: FetchProfile,
}

/// Read the user from the API at `api` with the access token.
pub type FetchProfile =
    for<'a> fn(&'a reqwest::Client, &'a Url, &'a SecretString) -> BoxFuture<'a, Result<User, ProviderError>>;

/// A URL from config or from a preset.
pub fn parse_url(value: &str, what: &str) -> Result<Url, String> {
    Url::parse(value).map_err(|e| format!("{what} `{value}`: {e}"))
}

/// `path` below `base`, whether or not `base` ends with a slash.
pub fn join(base: &Url, path: &str) -> Result<Url, String> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path.trim_start_matches('/')).map_err(|e| format!("{base}{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Settings;
    use crate::providers::Providers;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// Every kind, by a match that stops compiling when a kind is added
    /// without a line here: each with what a minimal table needs beyond
    /// `kind`, `client_id` and `client_secret`.
    fn minimal_table(kind: ProviderKind) -> &'static str {
        match kind {
            ProviderKind::Oidc => "issuer = \"https://idp.example.com\"\n",
            ProviderKind::Oauth2 => {
                "authorize_url = \"https://sso.example.com/authorize\"\n\
                 token_url = \"https://sso.example.com/token\"\n\
                 userinfo_url = \"https://sso.example.com/me\"\n"
            }
            ProviderKind::Google
            | ProviderKind::Gitlab
            | ProviderKind::Github
            | ProviderKind::Discord
            | ProviderKind::X => "",
        }
    }

    #[test]
    fn every_preset_has_a_distinct_kind_and_id_and_its_id_is_the_kind_config_names() {
        let kinds: HashSet<_> = PRESETS.iter().map(|p| format!("{:?}", p.kind)).collect();
        let ids: HashSet<_> = PRESETS.iter().map(|p| p.id).collect();
        assert_eq!((kinds.len(), ids.len()), (PRESETS.len(), PRESETS.len()));
        for preset in PRESETS {
            let named: ProviderKind = serde_json::from_value(serde_json::json!(preset.id)).unwrap();
            assert_eq!(named, preset.kind, "{}", preset.id);
            assert!(std::ptr::eq(find(preset.kind).unwrap(), preset));
        }
    }

    #[test]
    fn every_preset_builds_from_a_minimal_config_with_its_defaults() {
        for preset in PRESETS {
            let text = format!(
                "{}\n[providers.p]\nkind = \"{}\"\nclient_id = \"client\"\nclient_secret = \"secret\"\n{}",
                crate::config::DEFAULT_CONFIG,
                preset.id,
                minimal_table(preset.kind),
            );
            let settings = Settings::from_toml(&text).unwrap();
            assert_eq!(settings.validate().map_err(|e| e.to_string()), Ok(()), "{}", preset.id);
            let providers = Providers::from_settings(&settings, Arc::new(ManualClock::at(0))).unwrap();
            let provider = providers.get("p").unwrap();
            assert_eq!(provider.name, preset.name.unwrap_or("p"), "{}", preset.id);
            assert_eq!(provider.scopes, preset.scopes, "{}", preset.id);
            assert_eq!(provider.client_auth, preset.client_auth, "{}", preset.id);
            assert_eq!(provider.is_oidc(), matches!(preset.protocol, Protocol::Oidc { .. }), "{}", preset.id);
        }
    }

    #[test]
    fn config_overrides_win_over_a_presets_defaults() {
        let text = format!(
            "{}\n[providers.p]\nkind = \"github\"\nclient_id = \"c\"\nclient_secret = \"s\"\nname = \"Code\"\n\
             scopes = [\"read:org\"]\nclient_auth = \"client_secret_basic\"\n",
            crate::config::DEFAULT_CONFIG,
        );
        let settings = Settings::from_toml(&text).unwrap();
        let providers = Providers::from_settings(&settings, Arc::new(ManualClock::at(0))).unwrap();
        let provider = providers.get("p").unwrap();
        assert_eq!(
            (provider.name.as_str(), provider.scopes.as_slice(), provider.client_auth),
            ("Code", ["read:org".to_owned()].as_slice(), ClientAuth::ClientSecretBasic)
        );
    }

    /// A plain OAuth 2.0 provider's (authorize, token, revocation, API) URLs.
    fn endpoints_of(table: &str) -> (String, String, Option<String>, String) {
        let text = format!(
            "{}\n[providers.p]\nclient_id = \"c\"\nclient_secret = \"s\"\n{table}",
            crate::config::DEFAULT_CONFIG,
        );
        let settings = Settings::from_toml(&text).unwrap();
        let providers = Providers::from_settings(&settings, Arc::new(ManualClock::at(0))).unwrap();
        let provider = providers.get("p").unwrap();
        let crate::providers::provider::Flow::OAuth2(flow) = &provider.flow else { panic!("not OAuth 2.0") };
        let crate::providers::oauth2_flow::ProfileSource::Api { api, .. } = &flow.profile else { panic!("no API") };
        (
            flow.authorize.to_string(),
            flow.token.to_string(),
            flow.revocation.as_ref().map(Url::to_string),
            api.to_string(),
        )
    }

    #[test]
    fn configured_endpoints_win_over_a_presets_and_the_api_url_moves_the_ones_below_it() {
        let url = |s: &str| s.to_owned();
        assert_eq!(
            endpoints_of("kind = \"discord\"\n"),
            (
                url("https://discord.com/oauth2/authorize"),
                url("https://discord.com/api/oauth2/token"),
                Some(url("https://discord.com/api/oauth2/token/revoke")),
                url("https://discord.com/api/"),
            )
        );
        assert_eq!(
            endpoints_of("kind = \"discord\"\napi_url = \"http://127.0.0.1:9/api\"\n"),
            (
                url("https://discord.com/oauth2/authorize"),
                url("http://127.0.0.1:9/api/oauth2/token"),
                Some(url("http://127.0.0.1:9/api/oauth2/token/revoke")),
                url("http://127.0.0.1:9/api/"),
            )
        );
        assert_eq!(
            endpoints_of(
                "kind = \"discord\"\nauthorize_url = \"http://127.0.0.1:9/a\"\ntoken_url = \"http://127.0.0.1:9/t\"\n\
                 revocation_url = \"http://127.0.0.1:9/r\"\n"
            ),
            (
                url("http://127.0.0.1:9/a"),
                url("http://127.0.0.1:9/t"),
                Some(url("http://127.0.0.1:9/r")),
                url("https://discord.com/api/"),
            )
        );
    }
}
