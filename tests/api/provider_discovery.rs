//! Endpoint discovery beyond the OpenID metadata: servers such as Django
//! OAuth Toolkit advertise revocation and introspection only in their RFC
//! 8414 authorization server metadata. sealgate reads both documents, and
//! says at start-up and in `check-config` when a feature that is on has no
//! endpoint to work with.

use crate::helpers::wait_ready;
use crate::helpers::{captured_logs, spawn_app_with, TestApp};
use crate::support::fakes::DjangoOauthToolkit;
use sealgate::clock::Clock;
use sealgate::crypto::ProviderTokens;
use sealgate::identity::User;
use secrecy::SecretString;
use std::time::Duration;

async fn spawn_for(dot: &DjangoOauthToolkit, id: &str) -> TestApp {
    let mut provider = dot.settings();
    provider.revoke_on_signout = true;
    provider.bearer.introspection = true;
    let app = spawn_app_with(|s| {
        s.providers.insert(id.into(), provider);
    })
    .await;
    wait_ready(&app).await;
    app
}

/// Sign out a session that carries provider tokens from provider `id`.
async fn sign_out_with_tokens(app: &TestApp, id: &str) {
    let now = app.clock.now();
    let tokens = ProviderTokens {
        access_token: SecretString::from("dot-access-token".to_owned()),
        token_type: "Bearer".into(),
        refresh_token: Some(SecretString::from("dot-refresh-token".to_owned())),
        id_token: None,
        expires_at: Some(now + 3600),
        obtained_at: now,
        scope: None,
    };
    let session = app.sessions.codec.start(User::new("alice"), id, true, Some(&tokens)).unwrap();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/auth/signout"))
        .header("Cookie", app.cookie_for(&session))
        .form(&[("redirect_to", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn revocation_and_introspection_endpoints_only_in_rfc_8414_metadata_are_used() {
    let dot = DjangoOauthToolkit::start(true).await;
    let app = spawn_for(&dot, "dot").await;

    // An opaque Bearer token is asked about at DOT's introspection endpoint...
    let verified =
        reqwest::Client::new().get(app.url("/auth/verify")).bearer_auth("an-opaque-dot-token").send().await.unwrap();
    assert_eq!(verified.status(), 401, "DOT says it is not active");
    assert_eq!(dot.requests_to("/o/introspect/").await.len(), 1);

    // ...and sign-out revokes the session's tokens at its revocation endpoint.
    sign_out_with_tokens(&app, "dot").await;
    let revoked: Vec<String> = dot
        .requests_to("/o/revoke_token/")
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert!(revoked.iter().any(|body| body.contains("token=dot-refresh-token")), "{revoked:?}");
}

fn warnings_about(id: &str) -> Vec<String> {
    captured_logs()
        .lines()
        .filter(|line| line.contains("WARN") && line.contains(&format!("provider={id}")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_provider_without_the_endpoints_its_features_need_is_reported_at_start_up() {
    let dot = DjangoOauthToolkit::start(false).await;
    let app = spawn_for(&dot, "dot_without_rfc8414").await;
    let mut warnings = Vec::new();
    for _ in 0..100 {
        warnings = warnings_about("dot_without_rfc8414");
        if warnings.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(warnings.iter().any(|w| w.contains("revoke_on_signout is on, but no revocation endpoint")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("bearer.introspection is on, but no introspection endpoint")));

    // And indeed nothing is revoked (a warning, not a failed sign-out).
    sign_out_with_tokens(&app, "dot_without_rfc8414").await;
    assert!(dot.requests_to("/o/revoke_token/").await.is_empty());

    // With the RFC 8414 metadata, there is nothing to warn about.
    let complete = DjangoOauthToolkit::start(true).await;
    let _app = spawn_for(&complete, "dot_with_rfc8414").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(warnings_about("dot_with_rfc8414"), Vec::<String>::new());
}

async fn check_config(dot: &DjangoOauthToolkit) -> (bool, String) {
    let dir = crate::helpers::new_dir();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("check-config")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SEALGATE_CONFIG")
        .env("SEALGATE__KEYS__PATH", dir.path().join("keys.json"))
        .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.path().join("users.toml"))
        .env("SEALGATE__PROVIDERS__DOT__KIND", "oidc")
        .env("SEALGATE__PROVIDERS__DOT__ISSUER", dot.issuer())
        .env("SEALGATE__PROVIDERS__DOT__CLIENT_ID", "sealgate")
        .env("SEALGATE__PROVIDERS__DOT__CLIENT_SECRET", "a-secret")
        .env("SEALGATE__PROVIDERS__DOT__REVOKE_ON_SIGNOUT", "true")
        .env("SEALGATE__PROVIDERS__DOT__BEARER__INTROSPECTION", "true")
        .output()
        .await
        .unwrap();
    (output.status.success(), String::from_utf8(output.stderr).unwrap())
}

#[tokio::test]
async fn check_config_says_which_switched_on_feature_has_no_endpoint() {
    let bare = DjangoOauthToolkit::start(false).await;
    let (ok, stderr) = check_config(&bare).await;
    assert!(ok, "warnings, not errors: {stderr}");
    assert!(stderr.contains("warning: providers.dot: revoke_on_signout is on, but no revocation endpoint"), "{stderr}");
    assert!(stderr.contains("warning: providers.dot: bearer.introspection is on, but no introspection endpoint"));

    let complete = DjangoOauthToolkit::start(true).await;
    let (ok, stderr) = check_config(&complete).await;
    assert!(ok && !stderr.contains("warning"), "{stderr}");
}
