//! API token lifetimes and the deny list: a token minted from a session ends
//! with the session unless the operator allows longer, the CLI keeps to
//! `api_tokens.max_lifetime`, and revoked tokens never work again because
//! the deny-list file went missing.

use crate::helpers::{new_dir, spawn_app_with, test_settings, try_spawn_in, TestApp, PUBLIC_URL};
use sealgate::clock::{Clock, ManualClock};
use sealgate::identity::User;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const HOUR: u64 = 3600;

async fn mint_from_session(app: &TestApp) -> (String, i64) {
    app.sign_in_as_alice().await;
    let response = app
        .client
        .post(app.url("/auth/tokens"))
        .header("Origin", PUBLIC_URL)
        .json(&serde_json::json!({"name": "laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    (body["token"].as_str().unwrap().to_owned(), body["expires_at"].as_i64().unwrap())
}

async fn verify_bearer(app: &TestApp, token: &str) -> u16 {
    let response = reqwest::Client::new().get(app.url("/auth/verify")).bearer_auth(token).send().await.unwrap();
    response.status().as_u16()
}

fn short_sessions(s: &mut sealgate::config::Settings) {
    s.session.idle_lifetime = Duration::from_secs(HOUR);
    s.session.absolute_lifetime = Duration::from_secs(2 * HOUR);
    s.api_tokens.max_lifetime = Duration::from_secs(90 * 24 * HOUR);
}

#[tokio::test]
async fn a_token_minted_from_a_session_ends_when_the_session_must() {
    let app = spawn_app_with(short_sessions).await;
    let signed_in_at = app.clock.now();
    let (token, expires_at) = mint_from_session(&app).await;
    assert_eq!(expires_at, signed_in_at + 2 * HOUR as i64, "capped at the session's absolute expiry");
    assert_eq!(verify_bearer(&app, &token).await, 200);
    app.clock.advance(2 * HOUR as i64);
    assert_eq!(verify_bearer(&app, &token).await, 401, "the token outlived the session");
}

#[tokio::test]
async fn an_operator_may_let_tokens_outlive_sessions() {
    let app = spawn_app_with(|s| {
        short_sessions(s);
        s.api_tokens.outlive_session = true;
    })
    .await;
    let now = app.clock.now();
    let (token, expires_at) = mint_from_session(&app).await;
    assert_eq!(expires_at, now + 90 * 24 * HOUR as i64);
    app.clock.advance(2 * HOUR as i64);
    assert_eq!(verify_bearer(&app, &token).await, 200);
}

#[tokio::test]
async fn a_missing_deny_list_file_stops_the_start() {
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    settings.api_tokens.deny_list = Some(dir.path().join("no-such-deny-list.txt"));
    let error = try_spawn_in(dir, settings, ManualClock::at(chrono::Utc::now().timestamp())).await.err().unwrap();
    assert!(error.contains("api_tokens.deny_list") && error.contains("no-such-deny-list.txt"), "{error}");
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_when_the_deny_list_disappears() {
    let dir = tempfile::tempdir().unwrap();
    let deny = dir.path().join("deny.txt");
    std::fs::write(&deny, "").unwrap();
    let path = deny.clone();
    let app = spawn_app_with(move |s| s.api_tokens.deny_list = Some(path)).await;
    let (token, claims) = app.sessions.api_tokens.mint(User::new("svc"), "ci", Vec::new(), 3600).unwrap();
    assert_eq!(verify_bearer(&app, &token).await, 200);

    tokio::time::sleep(Duration::from_millis(1100)).await; // a new mtime second
    std::fs::write(&deny, format!("{}\n", claims.jti)).unwrap();
    app.clock.advance(1);
    assert_eq!(verify_bearer(&app, &token).await, 401);

    // Deployed by a tool that deletes and rewrites the file, or lost on a bad mount.
    std::fs::remove_file(&deny).unwrap();
    app.clock.advance(1);
    assert_eq!(verify_bearer(&app, &token).await, 401, "revoked again once the file went missing");
    assert!(crate::helpers::captured_logs().contains("API token deny list cannot be read"));
}

#[test]
fn the_cli_keeps_to_the_maximum_token_lifetime() {
    let dir = new_dir();
    let mint = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .args(["token", "mint", "--user", "deploy-bot", "--name", "ci"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
            .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.path().join("users.toml"))
            .env("SEALGATE__API_TOKENS__MAX_LIFETIME", "1h")
            .env_remove("SEALGATE_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let too_long = mint(&["--ttl", "3601"]);
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("api_tokens.max_lifetime"));

    // Without --ttl: the default (30 days) cut to the maximum.
    let default = mint(&[]);
    assert!(default.status.success(), "{}", String::from_utf8_lossy(&default.stderr));
    let token = String::from_utf8(default.stdout).unwrap().trim().to_owned();
    let settings = test_settings(&dir);
    let keys = sealgate::crypto::keys::read_key_set(&settings.keys.path).unwrap();
    let tokens = sealgate::credentials::ApiTokens::new(&keys, Arc::new(ManualClock::at(0)), None, 1).unwrap();
    let claims = tokens.open_uncached(&token).unwrap();
    assert_eq!(claims.exp - claims.iat, HOUR as i64);
}
