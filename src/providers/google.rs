//! Google (OpenID Connect): the issuer `https://accounts.google.com`; the
//! user from the verified ID token, plus userinfo when it lacks a claim.

use super::generic::OIDC_SCOPES;
use super::preset::{Preset, Protocol};
use crate::config::{ClientAuth, ProviderKind};

pub const PRESET: Preset = Preset {
    kind: ProviderKind::Google,
    id: "google",
    name: Some("Google"),
    scopes: OIDC_SCOPES,
    client_auth: ClientAuth::ClientSecretBasic,
    protocol: Protocol::Oidc { issuer: |_| Some("https://accounts.google.com".to_owned()) },
};
