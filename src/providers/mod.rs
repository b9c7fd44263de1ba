//! Ways to sign in: the credentials provider (passwords, `credentials/`)
//! and OAuth 2.0 / OpenID Connect providers, one preset per file.
//!
//! Every OAuth provider is a [`Provider`]: an id, a protocol (OIDC with
//! discovery, or plain OAuth 2.0 with fixed endpoints) and a way to turn what
//! the provider returns into a [`User`]. What sets a `kind` apart is its
//! [`Preset`], in its own file: name, scopes, client authentication, default
//! endpoints, and the profile fetcher. `build` applies config's overrides to
//! a preset the same way for every kind (any endpoint can be overridden), and
//! [`PRESETS`], below, is the one list of them.
//!
//! Files: `preset` (the type), `generic` (`oidc`, `oauth2`), `google`,
//! `gitlab`, `github`, `discord`, `x` (one preset each), `build` (config to
//! [`Provider`]), `provider` (what a built one does), `oidc` and
//! `oauth2_flow` (the protocols), `claims` (JSON to user), `jwks` (signing
//! keys), `logout_token` (back-channel logout tokens, checked against those
//! keys), `http` (the one HTTP client), `error` ([`ProviderError`], which
//! `routes::signin` turns into the sign-in page's `?error=` code).
//!
//! Adding a provider touches its file and this module's list:
//!
//! 1. `src/providers/acme.rs`, with its preset and, for a plain OAuth 2.0
//!    provider with its own API, its profile fetcher:
//!
//!    ```ignore
//!    pub const PRESET: Preset = Preset {
//!        kind: ProviderKind::Acme,
//!        id: "acme",
//!        name: Some("Acme"),
//!        scopes: &["profile"],
//!        client_auth: ClientAuth::ClientSecretBasic,
//!        protocol: Protocol::OAuth2 { endpoints, profile: Profile::Api(ProfileApi { default_api, fetch }) },
//!    };
//!    ```
//!
//! 2. here, `mod acme;` and `acme::PRESET` in [`PRESETS`].
//!
//! `kind = "acme"` parses into `config::ProviderKind`, so the kind's name is
//! also a variant there: config is a leaf and cannot read this list. The
//! unit tests in `preset` then check that the id is distinct, that it names
//! the kind, and that the preset builds from a minimal config.

mod build;
mod claims;
pub mod credentials;
mod discord;
mod error;
mod generic;
mod github;
mod gitlab;
mod google;
mod http;
pub mod jwks;
mod logout_token;
mod oauth2_flow;
mod oidc;
mod preset;
mod provider;
mod x;

pub use claims::ClaimMap;
pub use error::ProviderError;
/// The one HTTP client's builder, for the other outgoing calls (sign-in hooks).
pub use http::{client as http_client, describe as describe_http_error};
pub use logout_token::{is_session_id, LogoutToken, LogoutTokenError, BACKCHANNEL_LOGOUT_EVENT, REPLAY_WINDOW};
pub use preset::{Endpoints, FetchProfile, Preset, Profile, ProfileApi, Protocol};
pub use provider::{AccountStatus, Provider, SigningKeyError};

/// Every provider kind sealgate knows, one line each.
pub static PRESETS: &[Preset] =
    &[generic::OIDC, google::PRESET, gitlab::PRESET, github::PRESET, discord::PRESET, x::PRESET, generic::OAUTH2];

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::crypto::ProviderTokens;
use crate::identity::User;
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// What to send the browser to the provider with, and what to remember.
#[derive(Debug)]
pub struct Authorization {
    pub url: Url,
    pub state: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
}

/// What a completed sign-in yields.
#[derive(Debug)]
pub struct SignedInUser {
    pub user: User,
    pub tokens: ProviderTokens,
    /// The IdP's session id (the ID token's `sid`), which back- and
    /// front-channel logout name; kept in the store's session record, not
    /// in the cookie.
    pub idp_session: Option<String>,
    /// The provider's claims the user was made from (the ID token's and
    /// userinfo's, or the userinfo answer), for the sign-in hook; `None`
    /// for providers whose profile comes from their own API.
    pub profile: Option<serde_json::Value>,
}

/// Every configured OAuth provider, in configuration order (ids sorted).
#[derive(Debug, Default, Clone)]
pub struct Providers {
    by_id: BTreeMap<String, Arc<Provider>>,
}

impl Providers {
    pub fn from_settings(settings: &Settings, clock: SharedClock) -> Result<Providers, Vec<String>> {
        let mut problems = Vec::new();
        let mut by_id = BTreeMap::new();
        for (id, cfg) in &settings.providers {
            match Provider::build(id, cfg, settings, clock.clone()) {
                Ok(provider) => {
                    by_id.insert(id.clone(), Arc::new(provider));
                }
                Err(e) => problems.push(format!("providers.{id}: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(Providers { by_id })
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
