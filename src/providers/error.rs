//! Why an OAuth step failed: the one error type of the provider boundary.
//! The sign-in page turns it into its `?error=` code (`routes::signin`);
//! token refresh tells final failures from transient ones by its variants.

/// Why an OAuth step failed. Each maps to a documented `?error=` code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, timed out, or answered 5xx.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the authorization code (used, expired, or not ours).
    #[error("the provider refused the authorization code")]
    CodeRejected,
    /// The token endpoint refused the request with an OAuth error other
    /// than `invalid_grant` (a 4xx, or GitHub's 200 with `error`): final.
    #[error("the token endpoint refused the request: {0}")]
    Refused(String),
    /// The provider answered with an OAuth error or something unparseable.
    #[error("the provider answered with an error: {0}")]
    Protocol(String),
    /// The ID token failed verification.
    #[error("the ID token is invalid: {0}")]
    InvalidIdToken(String),
    /// The profile could not be turned into a user.
    #[error("the profile is unusable: {0}")]
    Profile(String),
}
