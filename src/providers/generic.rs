//! The generic presets: any OpenID Connect issuer (`kind = "oidc"`, which
//! needs `issuer`), and any OAuth 2.0 server (`kind = "oauth2"`, which needs
//! `authorize_url`, `token_url` and `userinfo_url`, its userinfo JSON mapped
//! by `claims.*`). Neither has a name of its own: the button shows the id.

use super::preset::{Endpoints, Preset, Profile, Protocol};
use crate::config::{ClientAuth, ProviderKind};

/// The scopes of every OpenID Connect preset.
pub const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];

pub const OIDC: Preset = Preset {
    kind: ProviderKind::Oidc,
    id: "oidc",
    name: None,
    scopes: OIDC_SCOPES,
    client_auth: ClientAuth::ClientSecretBasic,
    protocol: Protocol::Oidc { issuer: |_| None },
};

pub const OAUTH2: Preset = Preset {
    kind: ProviderKind::Oauth2,
    id: "oauth2",
    name: None,
    scopes: &[],
    client_auth: ClientAuth::ClientSecretBasic,
    protocol: Protocol::OAuth2 { endpoints: |_, _| Ok(Endpoints::default()), profile: Profile::Userinfo },
};
