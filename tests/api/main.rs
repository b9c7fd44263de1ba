//! sealgate's integration tests: one binary, the gateway started as a real
//! server on a loopback port by `helpers::spawn_app`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod api_tokens;
mod assertion;
mod backchannel_logout;
mod bad_input;
mod bearer;
mod bodies;
mod browser;
mod cli;
mod cookies;
mod deprovisioning;
mod flow_cookies;
mod forwarded;
mod health;
mod helpers;
mod hooks;
mod idp_bearer;
mod jose_vectors;
mod keys;
mod linked_providers;
mod managed_sessions;
mod monitoring;
mod nested;
mod oidc_flow;
mod open_cache;
mod operator;
mod pages;
mod policy;
mod provider_discovery;
mod provider_jwt;
mod providers_presets;
mod proxies;
mod refresh;
mod replicas;
mod revalidate;
mod revocation;
mod session_info;
mod shared_rate_limits;
mod sign_out_everywhere;
mod signin_credentials;
mod signin_targets;
mod signin_verification;
mod signout;
mod support;
mod verify;
