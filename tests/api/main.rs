//! sealgate's integration tests: one binary, the gateway started as a real
//! server on a loopback port by `helpers::spawn_app`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod bad_input;
mod bearer;
mod browser;
mod caddy;
mod cli;
mod cookies;
mod fakes;
mod health;
mod helpers;
mod idp;
mod idp_bearer;
mod jose_vectors;
mod keys;
mod nginx;
mod oidc_flow;
mod policy;
mod provider_jwt;
mod providers_presets;
mod proxies;
mod refresh;
mod session_info;
mod signin_credentials;
mod signout;
mod verify;
