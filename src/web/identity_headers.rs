//! The identity headers `/auth/verify` sends upstream: every name, and how
//! each value is built from an [`Identity`], in this one file. Which
//! headers carry which claim is configurable (`[headers]`, see
//! [`IdentityHeaders`]); the defaults are the `X-Auth-*` headers below.
//! Adding a header touches only this file (and the example proxy configs,
//! which set or clear every `X-Auth-*` header).
//!
//! Values come only from the opened credential, never from anything the
//! client sent unsealed. User fields were validated (no control
//! characters) when the session or token was made, so a value is skipped
//! only in the most unlikely of cases. The built headers are kept with the
//! opened credential in the open-cache ([`Identified::headers`]), so the
//! hot path clones them instead of building them; BENCHMARKS.md has what
//! that saves.

use crate::config::Settings;
use crate::credentials::{Headers, Identified};
use crate::identity::Identity;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::Value;
use std::borrow::Cow;

pub const USER: &str = "x-auth-user";
pub const USERNAME: &str = "x-auth-username";
pub const EMAIL: &str = "x-auth-email";
pub const NAME: &str = "x-auth-name";
pub const PROVIDER: &str = "x-auth-provider";
pub const GROUPS: &str = "x-auth-groups";
pub const SOURCE: &str = "x-auth-source";
/// The provider's access token, for providers with `pass_access_token`.
pub const ACCESS_TOKEN: &str = "x-auth-access-token";
/// A linked provider's access token is `x-auth-access-token-{id}`, for
/// linked providers with `pass_access_token`.
pub const LINKED_ACCESS_TOKEN_PREFIX: &str = "x-auth-access-token-";
/// The policy's permissions for the user, when any rule grants some.
pub const PERMISSIONS: &str = "x-auth-permissions";
/// The signed identity (`[assertion]`), see `crate::assertion`.
pub const ASSERTION: &str = "x-auth-assertion";

/// Every `X-Auth-*` header sealgate may send.
pub const ALL: [&str; 10] =
    [USER, USERNAME, EMAIL, NAME, PROVIDER, GROUPS, SOURCE, ACCESS_TOKEN, PERMISSIONS, ASSERTION];

/// The header that carries linked provider `provider`'s access token.
pub fn linked_access_token(provider: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(format!("{LINKED_ACCESS_TOKEN_PREFIX}{provider}").to_ascii_lowercase().as_bytes()).ok()
}

/// What a header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    Sub,
    Username,
    Email,
    Name,
    AvatarUrl,
    Groups,
    Provider,
    Source,
    /// A claim a provider kept (`keep_claims`), by name.
    Kept(String),
}

impl Claim {
    /// A claim as `[headers]` names it (validated at load: see `config::assertion`).
    fn parse(text: &str) -> Option<Claim> {
        Some(match text {
            "sub" => Claim::Sub,
            "username" => Claim::Username,
            "email" => Claim::Email,
            "name" => Claim::Name,
            "avatar_url" => Claim::AvatarUrl,
            "groups" => Claim::Groups,
            "provider" => Claim::Provider,
            "source" => Claim::Source,
            other => Claim::Kept(other.strip_prefix("claims.")?.to_owned()),
        })
    }

    fn value<'i>(&self, identity: &'i Identity, groups: &'i Option<String>) -> Option<Cow<'i, str>> {
        let user = &identity.user;
        let text = match self {
            Claim::Sub => Some(user.id.as_str()),
            Claim::Username => user.username.as_deref(),
            Claim::Email => user.email.as_deref(),
            Claim::Name => user.name.as_deref(),
            Claim::AvatarUrl => user.avatar_url.as_deref(),
            Claim::Groups => groups.as_deref(),
            Claim::Provider => Some(identity.provider.as_str()),
            Claim::Source => Some(identity.source.as_str()),
            // A kept or hook claim: a string as it is, anything else as JSON.
            Claim::Kept(name) => {
                return user.claims.get(name).map(|value| match value {
                    Value::String(text) => Cow::Borrowed(text.as_str()),
                    other => Cow::Owned(other.to_string()),
                })
            }
        };
        text.map(Cow::Borrowed)
    }
}

/// The identity headers in force: a name and a claim each, in order.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    headers: Vec<(HeaderName, Claim)>,
}

impl Default for IdentityHeaders {
    /// The default `X-Auth-*` headers.
    fn default() -> Self {
        IdentityHeaders::from_pairs(
            crate::config::assertion::DEFAULT_HEADERS.map(|(n, c)| (n.to_owned(), c.to_owned())),
        )
    }
}

impl IdentityHeaders {
    /// The headers of validated settings: the defaults with `[headers]` over them.
    pub fn from_settings(settings: &Settings) -> IdentityHeaders {
        IdentityHeaders::from_pairs(settings.identity_headers())
    }

    /// Pairs that do not parse were refused at load; they are skipped here.
    fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> IdentityHeaders {
        let headers = pairs
            .into_iter()
            .filter_map(|(name, claim)| Some((HeaderName::from_bytes(name.as_bytes()).ok()?, Claim::parse(&claim)?)))
            .collect();
        IdentityHeaders { headers }
    }

    /// The identity headers for `identity`, absent fields left out.
    pub fn build(&self, identity: &Identity) -> Headers {
        let user = &identity.user;
        let groups = (!user.groups.is_empty()).then(|| user.groups.join(","));
        self.headers
            .iter()
            .filter_map(|(name, claim)| {
                Some((name.clone(), HeaderValue::from_str(&claim.value(identity, &groups)?).ok()?))
            })
            .collect()
    }

    /// A 200 carrying the identity headers of `identified`, put straight
    /// into the response's header map (`append`: the map is fresh and the
    /// names are distinct).
    pub fn response(&self, identified: &Identified) -> HttpResponse {
        let mut response = HttpResponse::new(StatusCode::OK);
        let headers = response.headers_mut();
        for (name, value) in identified.headers(|identity| self.build(identity)) {
            headers.append(name.clone(), value.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{ProviderId, Source, User};

    fn ivy(name: &str) -> Identity {
        let mut user = User::new("ivy");
        user.email = Some("ivy@example.com".into());
        user.name = Some(name.into());
        user.groups = vec!["admins".into(), "staff".into()];
        Identity {
            id: "sid".into(),
            user,
            provider: ProviderId::parse("credentials").unwrap(),
            source: Source::Cookie,
            scopes: None,
            issued_at: 0,
            expires_at: 10,
        }
    }

    fn as_text(headers: &[(HeaderName, HeaderValue)]) -> Vec<(String, String)> {
        headers.iter().map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned())).collect()
    }

    #[test]
    fn identity_headers_carry_each_field_once_and_skip_absent_and_unsendable_values() {
        // A control character: not sendable, skipped.
        let expected = [
            ("x-auth-user", "ivy"),
            ("x-auth-provider", "credentials"),
            ("x-auth-email", "ivy@example.com"),
            ("x-auth-groups", "admins,staff"),
            ("x-auth-source", "cookie"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(as_text(&IdentityHeaders::default().build(&ivy("Ivy\u{1}"))), expected);
    }

    #[test]
    fn the_response_carries_the_headers_built_once_per_opened_credential() {
        let identified = Identified::new(ivy("Ivy Zoë"), None);
        let headers = IdentityHeaders::default();
        let first = headers.response(&identified);
        let again = headers.response(&identified);
        assert_eq!(first.headers().get(NAME).unwrap().as_bytes(), "Ivy Zoë".as_bytes(), "non-ASCII names are sent");
        assert_eq!(first.headers().len(), 6);
        let built = identified.headers(|_| panic!("built again"));
        assert_eq!(built.len(), 6, "kept with the credential");
        assert_eq!(first.headers().get(USER), again.headers().get(USER));
    }

    #[test]
    fn every_header_name_is_an_x_auth_header() {
        assert!(ALL.iter().all(|name| name.starts_with("x-auth-") && HeaderName::from_static(name) == *name));
        let distinct: std::collections::HashSet<_> = ALL.iter().collect();
        assert_eq!(distinct.len(), ALL.len());
    }

    #[test]
    fn configured_headers_carry_the_claims_they_name_kept_claims_included() {
        let settings = Settings::from_toml(
            "[headers]\nX-User = \"email\"\nX-Team = \"claims.team\"\nX-Level = \"claims.level\"\nX-Auth-Name = \"\"\nX-Missing = \"claims.none\"\n",
        )
        .unwrap();
        let mut identity = ivy("Ivy");
        identity.user.claims.insert("team".into(), "blue".into());
        identity.user.claims.insert("level".into(), serde_json::json!(3));
        let built = as_text(&IdentityHeaders::from_settings(&settings).build(&identity));
        let find = |name: &str| built.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(find("x-user"), Some("ivy@example.com"));
        assert_eq!(find("x-team"), Some("blue"), "a string claim as it is");
        assert_eq!(find("x-level"), Some("3"), "any other claim as JSON");
        assert_eq!(find("x-auth-user"), Some("ivy"), "the defaults stay");
        assert_eq!(find("x-auth-name"), None, "an empty claim drops a default");
        assert_eq!(find("x-missing"), None, "a claim the user lacks sends nothing");
    }
}
