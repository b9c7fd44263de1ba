//! Building a [`Provider`] from its `[providers.<id>]` table: look the kind's
//! [`Preset`] up, then let config override its defaults, the same way for
//! every kind (any endpoint, the name, scopes, client authentication, claims).

use super::claims::ClaimMap;
use super::oauth2_flow::{OAuth2, ProfileSource};
use super::preset::{self, join, parse_url, Endpoints, Preset, Profile, Protocol};
use super::provider::{Flow, Provider};
use super::{http, jwks, oidc};
use crate::clock::SharedClock;
use crate::config::{ProviderSettings, Settings};
use url::Url;

/// An optional URL from config.
fn setting(value: &Option<String>, what: &str) -> Result<Option<Url>, String> {
    value.as_deref().map(|v| parse_url(v, what)).transpose()
}

/// A URL from config, else the preset's; one of them is needed.
fn required(value: &Option<String>, what: &str, default: Option<Url>) -> Result<Url, String> {
    setting(value, what)?.or(default).ok_or_else(|| format!("{what} is required"))
}

/// The claim map: the OpenID Connect names with `claims.*` applied, for
/// profiles read through it (ID tokens, userinfo). A preset's own API
/// fetcher builds its user itself, so `claims.*` does not apply to it.
fn claims(cfg: &ProviderSettings, configurable: bool) -> ClaimMap {
    let mut claims = ClaimMap::oidc();
    if configurable {
        claims.apply(&cfg.claims);
    }
    claims.keep.clone_from(&cfg.keep_claims);
    claims
}

impl Provider {
    pub(super) fn build(
        id: &str,
        cfg: &ProviderSettings,
        settings: &Settings,
        clock: SharedClock,
    ) -> Result<Provider, String> {
        let preset = preset::find(cfg.kind).ok_or_else(|| format!("kind {:?} has no preset", cfg.kind))?;
        let public_url = settings.public_url().ok_or("server.public_url is invalid")?;
        let redirect_uri = join(&public_url, &format!("auth/callback/{id}"))?;
        let secret = cfg.client_secret.as_ref().map(|s| s.resolve()).transpose()?;
        let http = http::client(settings.oauth.timeout).map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let (flow, claims) = match &preset.protocol {
            Protocol::Oidc { issuer } => (Flow::Oidc(oidc_flow(id, cfg, *issuer, &http, &clock)?), claims(cfg, true)),
            Protocol::OAuth2 { endpoints, profile } => (
                Flow::OAuth2(oauth2_flow(cfg, *endpoints, profile)?),
                claims(cfg, matches!(profile, Profile::Userinfo)),
            ),
        };
        let post_logout_redirect_url = match &cfg.post_logout_redirect_url {
            Some(url) => parse_url(url, "post_logout_redirect_url")?,
            None => public_url.clone(),
        };
        Ok(Provider {
            id: id.to_owned(),
            name: cfg.name.clone().unwrap_or_else(|| preset.name.unwrap_or(id).to_owned()),
            kind: cfg.kind,
            client_id: cfg.client_id.clone(),
            client_secret: secret,
            client_auth: cfg.client_auth.unwrap_or(preset.client_auth),
            redirect_uri,
            scopes: scopes(cfg, preset),
            pkce: cfg.pkce,
            claims,
            revoke_on_signout: cfg.revoke_on_signout,
            rp_initiated_logout: cfg.rp_initiated_logout,
            post_logout_redirect_url,
            pass_access_token: cfg.pass_access_token,
            revalidate: cfg.revalidate,
            bearer: cfg.bearer.clone(),
            introspection_url: setting(&cfg.bearer.introspection_url, "bearer.introspection_url")?,
            flow,
            http,
            clock,
        })
    }
}

fn scopes(cfg: &ProviderSettings, preset: &Preset) -> Vec<String> {
    cfg.scopes.clone().unwrap_or_else(|| preset.scopes.iter().map(|s| (*s).to_owned()).collect())
}

/// OpenID Connect: the issuer (config's, else the preset's), and every
/// endpoint config names, which wins over discovery.
fn oidc_flow(
    id: &str,
    cfg: &ProviderSettings,
    issuer: fn(Option<&Url>) -> Option<String>,
    http: &reqwest::Client,
    clock: &SharedClock,
) -> Result<oidc::Oidc, String> {
    let base = setting(&cfg.base_url, "base_url")?;
    let issuer = cfg.issuer.clone().or_else(|| issuer(base.as_ref())).ok_or("issuer is required")?;
    let endpoints = oidc::Overrides {
        authorize: setting(&cfg.authorize_url, "authorize_url")?,
        token: setting(&cfg.token_url, "token_url")?,
        userinfo: setting(&cfg.userinfo_url, "userinfo_url")?,
        revocation: setting(&cfg.revocation_url, "revocation_url")?,
        end_session: setting(&cfg.end_session_url, "end_session_url")?,
        introspection: setting(&cfg.bearer.introspection_url, "bearer.introspection_url")?,
    };
    let keys = jwks::Jwks::new(id, http.clone(), clock.clone(), cfg.bearer.jwks_lifetime, cfg.bearer.jwks_min_refetch);
    oidc::Oidc::new(&issuer, endpoints, keys)
}

/// Plain OAuth 2.0: the API base (config's `api_url`, else the preset's),
/// then each endpoint config names, else the preset's default.
fn oauth2_flow(
    cfg: &ProviderSettings,
    endpoints: fn(Option<&Url>, Option<&Url>) -> Result<Endpoints, String>,
    profile: &Profile,
) -> Result<OAuth2, String> {
    let base = setting(&cfg.base_url, "base_url")?;
    let profile = match profile {
        // API bases are joined with relative paths: give them a trailing slash,
        // or `Url::join` would drop their last segment (`/api` + `users/@me`).
        Profile::Api(api) => ProfileSource::Api {
            api: match setting(&cfg.api_url, "api_url")? {
                Some(url) => join(&url, "")?,
                None => (api.default_api)(base.as_ref())?,
            },
            fetch: api.fetch,
        },
        Profile::Userinfo => ProfileSource::Userinfo(required(&cfg.userinfo_url, "userinfo_url", None)?),
    };
    let api = match &profile {
        ProfileSource::Api { api, .. } => Some(api),
        ProfileSource::Userinfo(_) => None,
    };
    let defaults = endpoints(base.as_ref(), api)?;
    let authorize = required(&cfg.authorize_url, "authorize_url", defaults.authorize)?;
    let token = required(&cfg.token_url, "token_url", defaults.token)?;
    let revocation = setting(&cfg.revocation_url, "revocation_url")?.or(defaults.revocation);
    Ok(OAuth2 { authorize, token, revocation, profile })
}
