//! GitLab (OpenID Connect): the issuer is `https://gitlab.com`, or a
//! self-hosted GitLab's `base_url`; the user from the verified ID token,
//! plus userinfo when it lacks a claim.

use super::generic::OIDC_SCOPES;
use super::preset::{Preset, Protocol};
use crate::config::{ClientAuth, ProviderKind};
use url::Url;

pub const PRESET: Preset = Preset {
    kind: ProviderKind::Gitlab,
    id: "gitlab",
    name: Some("GitLab"),
    scopes: OIDC_SCOPES,
    client_auth: ClientAuth::ClientSecretBasic,
    protocol: Protocol::Oidc { issuer },
};

fn issuer(base_url: Option<&Url>) -> Option<String> {
    Some(base_url.map_or("https://gitlab.com".to_owned(), |base| base.as_str().trim_end_matches('/').to_owned()))
}
