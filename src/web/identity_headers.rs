//! The identity headers `/auth/verify` sends upstream: every name, and how
//! each value is built from an [`Identity`], in this one file. Adding a
//! header touches only this file (and the example proxy configs, which set
//! or clear every `X-Auth-*` header).
//!
//! Values come only from the opened credential, never from anything the
//! client sent unsealed. User fields were validated (no control
//! characters) when the session or token was made, so a value is skipped
//! only in the most unlikely of cases. The built headers are kept with the
//! opened credential in the open-cache ([`Identified::headers`]), so the
//! hot path clones them instead of building them; BENCHMARKS.md has what
//! that saves.

use crate::credentials::{Headers, Identified};
use crate::identity::Identity;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

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

/// Every `X-Auth-*` header sealgate may send.
pub const ALL: [&str; 9] = [USER, USERNAME, EMAIL, NAME, PROVIDER, GROUPS, SOURCE, ACCESS_TOKEN, PERMISSIONS];

/// The header that carries linked provider `provider`'s access token.
pub fn linked_access_token(provider: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(format!("{LINKED_ACCESS_TOKEN_PREFIX}{provider}").to_ascii_lowercase().as_bytes()).ok()
}

/// The identity headers for `identity`, absent fields left out.
pub fn build(identity: &Identity) -> Headers {
    let user = &identity.user;
    let groups = (!user.groups.is_empty()).then(|| user.groups.join(","));
    let fields = [
        (USER, Some(user.id.as_str())),
        (PROVIDER, Some(identity.provider.as_str())),
        (USERNAME, user.username.as_deref()),
        (EMAIL, user.email.as_deref()),
        (NAME, user.name.as_deref()),
        (GROUPS, groups.as_deref()),
        (SOURCE, Some(identity.source.as_str())),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| Some((HeaderName::from_static(name), HeaderValue::from_str(value?).ok()?)))
        .collect()
}

/// A 200 carrying the identity headers of `identified`, put straight into
/// the response's header map (`append`: the map is fresh and the names are
/// distinct).
pub fn response(identified: &Identified) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in identified.headers(build) {
        headers.append(name.clone(), value.clone());
    }
    response
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
        assert_eq!(as_text(&build(&ivy("Ivy\u{1}"))), expected);
    }

    #[test]
    fn the_response_carries_the_headers_built_once_per_opened_credential() {
        let identified = Identified::new(ivy("Ivy Zoë"), None);
        let first = response(&identified);
        let again = response(&identified);
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
}
