//! Who is asking: the leaf every other module describes a person with.
//!
//! - [`Identity`]: what a request proved, whichever way it proved it (a
//!   session cookie, an API token, a provider's token): the user, the
//!   provider, the [`Source`], scopes and times. Built by `credentials`,
//!   read by `policy`, `web` (identity headers) and `routes`.
//! - [`User`]: the person, with a validating constructor (every field ends
//!   up in a header).
//! - [`ProviderId`]: a provider's id, parsed (short, plain, lowercase).
//! - [`HostPattern`]: `host` or `.example.com`, shared by redirects and policy.
//!
//! Nothing here knows about HTTP, cookies or keys.

mod host_pattern;
mod provider_id;
mod user;

pub use host_pattern::HostPattern;
pub use provider_id::{ProviderId, ProviderIdError};
pub use user::{comparable, User, UserError, MAX_CLAIMS_BYTES};

/// Where an identity came from, as `X-Auth-Source` and `/auth/session` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// A sealgate session cookie.
    #[default]
    Cookie,
    /// A sealgate API token.
    ApiToken,
    /// A JWT signed by a provider's issuer.
    ProviderJwt,
    /// An opaque provider token that the provider vouched for (RFC 7662).
    Introspection,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cookie => "cookie",
            Source::ApiToken => "api_token",
            Source::ProviderJwt => "provider_jwt",
            Source::Introspection => "introspection",
        }
    }
}

/// What a request proved about who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The session id, the API token's id (`jti`), or a provider token's
    /// `jti` (else its digest): never the credential itself.
    pub id: String,
    pub user: User,
    /// The provider that vouches for the user (`credentials`, `api-token`, ...).
    pub provider: ProviderId,
    pub source: Source,
    /// What the credential may be used for; `None` for sessions, which are
    /// not scope-limited.
    pub scopes: Option<Vec<String>>,
    /// When the person signed in, or the token was issued.
    pub issued_at: i64,
    /// When the credential stops being accepted (seconds since the epoch).
    pub expires_at: i64,
}

impl Identity {
    /// Whether the credential is still accepted at `now`.
    pub fn is_live_at(&self, now: i64) -> bool {
        now < self.expires_at
    }
}
