//! The shared, read-only state the routes use, built by
//! [`assemble`](crate::assemble) and handed to every worker.

use crate::accounts::Accounts;
use crate::assertion::Assertions;
use crate::config::AccessLog;
use crate::hooks::Hooks;
use crate::policy::Policy;
use crate::providers::credentials::CredentialsProvider;
use crate::providers::Providers;
use crate::refresh::revalidate::Revalidator;
use crate::refresh::Refresher;
use crate::return_to::RedirectPolicy;
use crate::session::flow::FlowCodec;
use crate::store::{RevocationView, Store};
use crate::verification::Verifier;
use crate::web::identity_headers::IdentityHeaders;
use crate::web::pages::Pages;
use crate::web::{BodyLimits, FailureLimiter, OriginCheck, TrustedProxies};
use std::sync::Arc;
use url::Url;

/// Shared, read-only state for the routes.
#[derive(Debug)]
pub struct AppState {
    pub redirects: RedirectPolicy,
    pub proxies: TrustedProxies,
    /// Which origins may post to us; registered for the [`SameOrigin`](crate::web::SameOrigin) extractor.
    pub origins: actix_web::web::Data<OriginCheck>,
    pub credentials: Option<Arc<CredentialsProvider>>,
    /// Signed-up password users (`credentials.signup`); `None` when sign-up is off.
    pub accounts: Option<Arc<Accounts>>,
    pub limiter: FailureLimiter,
    pub providers: Providers,
    pub flows: FlowCodec,
    pub public_url: Url,
    pub refresher: Refresher,
    /// When signed-in accounts are next checked at their provider (`revalidate`).
    pub revalidator: Revalidator,
    /// The providers that pass their access token on `/auth/verify`
    /// (usually none or one, so a list beats a set).
    pub token_passers: Vec<String>,
    pub policy: Policy,
    /// Whether the policy does more than "signed in, or 401" (the hot path skips it otherwise).
    pub policy_active: bool,
    /// How large and slow a request body may be, on every route.
    pub body_limits: BodyLimits,
    /// The state store (`Store::Off` for `store.kind = "none"`).
    pub store: Store,
    /// What is revoked, kept current from the store; `None` without one.
    pub revocations: Option<Arc<RevocationView>>,
    /// Which identity headers `/auth/verify` sends, from which claims.
    pub identity_headers: IdentityHeaders,
    /// `X-Auth-Assertion` and its keys; `None` unless `assertion.enabled`.
    pub assertions: Option<Arc<Assertions>>,
    /// Which requests get an access log line.
    pub access_log: AccessLog,
    /// Whether `/metrics` is served on `server.metrics_listen` instead.
    pub metrics_elsewhere: bool,
    /// Sign-in verification by e-mailed code; `None` when it is off everywhere.
    pub verification: Option<Arc<Verifier>>,
    /// The sign-in hook and the app's error page (`[hooks]`).
    pub hooks: Hooks,
    /// `Some` on a verify-only replica (`session.role = "verify"`): it
    /// refuses sign-ins, or sends browsers to the sign-in tier.
    pub verify_only: Option<VerifyOnly>,
    /// sealgate's own pages (`[ui]`): templates, stylesheet, headers.
    pub pages: Pages,
}

/// How a verify-only replica answers a request to sign in.
#[derive(Debug, Clone)]
pub struct VerifyOnly {
    /// The sign-in tier's sign-in page (`session.signin_url`), if set.
    pub signin_url: Option<Url>,
}

impl AppState {
    /// Whether `/auth/verify` passes the access token of sessions from `provider`.
    pub fn passes_token(&self, provider: &str) -> bool {
        self.token_passers.iter().any(|id| id == provider)
    }
}
