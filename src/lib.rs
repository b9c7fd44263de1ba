//! sealgate: a stateless session gateway.
//!
//! People sign in (with a password, or later an OAuth 2.0 / OpenID Connect
//! provider); sealgate seals who they are into a JWE cookie; reverse proxies
//! ask `/auth/verify` who is behind each request. There is no database: any
//! replica holding the keys opens any session.
//!
//! Layout: `config/` (settings and validation), `keys/` (JWK Set, purpose
//! keys), `jwe/` (strict compact JWE), `session/` (payload, cookies, the
//! per-request session), `domain/` (parsed-at-the-edge types), `providers/`
//! (ways to sign in), `security/` (proxies, origins, rate limits), `routes/`
//! (endpoints), `errors` (the one error-to-HTTP mapping), `startup`, `cli`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod api_tokens;
pub mod bearer;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod errors;
pub mod jwe;
pub mod keys;
pub mod metrics;
pub mod policy;
pub mod providers;
pub mod refresh;
pub mod reload;
pub mod routes;
pub mod security;
pub mod session;
pub mod startup;
pub mod telemetry;
