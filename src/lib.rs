//! sealgate: a stateless session gateway.
//!
//! People sign in (with a password, or later an OAuth 2.0 / OpenID Connect
//! provider); sealgate seals who they are into a JWE cookie; reverse proxies
//! ask `/auth/verify` who is behind each request. There is no database: any
//! replica holding the keys opens any session.
//!
//! Layout (leaves first; dependencies point down only):
//!
//! ```text
//! config/  identity/  crypto/  clock  heap  templates leaves
//! assertion/                                  the signed identity for upstreams
//! session/  providers/  policy/  store/         the cookie, sign-in, access, state
//! accounts/                                     signed-up password users, in the store
//! email/  verification/                         e-mailed codes for unusual sign-ins
//! credentials/  hooks/                          who is asking: one identify(); the app's say in sign-in
//! web/                                          middleware, extractors, headers
//! routes/  errors                               endpoints, the one error mapping
//! state  assemble  startup  cli                 wiring and serving
//! ```
//!
//! `credentials/` opens every kind of credential (session cookie, sealgate
//! API token, provider JWT, introspected token) through one open-cache;
//! `web/identity_headers.rs` is the one place that names and builds the
//! `X-Auth-*` headers; `store/` is the state store (revocations, session
//! records, counters, locks) and the in-memory revocation view that
//! `credentials/` consults on every request.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod accounts;
pub mod assemble;
pub mod assertion;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod email;
pub mod errors;
pub mod heap;
pub mod hooks;
pub mod identity;
pub mod metrics;
pub mod policy;
pub mod providers;
pub mod refresh;
pub mod reload;
pub mod return_to;
pub mod routes;
pub mod session;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod verification;
pub mod web;
