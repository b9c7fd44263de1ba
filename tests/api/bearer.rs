//! `Authorization: Bearer` with sealgate API tokens: accepted wherever a
//! session is, never mixed up with cookies, revocable by a deny list, and
//! every malformed header a clear 401.

use crate::helpers::{header, spawn_app_with, TestApp, ALICE, ALICE_PASSWORD, PUBLIC_URL};
use sealgate::identity::User;
use std::time::Duration;

const INVALID_TOKEN: &str = "Bearer realm=\"sealgate\", error=\"invalid_token\"";

fn mint(app: &TestApp, scopes: &[&str], ttl: i64) -> (String, String) {
    let mut user = User::new("svc-1");
    user.email = Some("svc@example.com".into());
    user.groups = vec!["robots".into()];
    let (token, claims) =
        app.sessions.api_tokens.mint(user, "ci", scopes.iter().map(|s| (*s).to_owned()).collect(), ttl).unwrap();
    (token, claims.jti)
}

async fn with_bearer(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(app.url(path)).header("Authorization", format!("Bearer {token}")).send().await.unwrap()
}

#[tokio::test]
async fn an_api_token_is_accepted_where_a_session_is() {
    let app = spawn_app_with(|_| {}).await;
    let (token, _) = mint(&app, &["reports:read"], 3600);
    let verified = with_bearer(&app, "/auth/verify", &token).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some("svc-1"));
    assert_eq!(header(&verified, "x-auth-email"), Some("svc@example.com"));
    assert_eq!(header(&verified, "x-auth-source"), Some("api_token"));
    let session: serde_json::Value = with_bearer(&app, "/auth/session", &token).await.json().await.unwrap();
    assert_eq!(session["authenticated"], true);
    assert_eq!(session["source"], "api_token");

    app.clock.advance(3600);
    let expired = with_bearer(&app, "/auth/verify", &token).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(header(&expired, "www-authenticate"), Some(INVALID_TOKEN));
}

#[tokio::test]
async fn tokens_and_cookies_are_never_interchangeable_and_there_is_no_fallback() {
    let app = spawn_app_with(|_| {}).await;
    let (token, _) = mint(&app, &[], 3600);
    assert_eq!(
        app.get_with_cookie("/auth/verify", &format!("sealgate={token}")).await.status(),
        401,
        "token as cookie"
    );

    let signed_in = app.sign_in(ALICE, ALICE_PASSWORD).await;
    let cookie = crate::helpers::set_cookies(signed_in.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
    let as_bearer = with_bearer(&app, "/auth/verify", &cookie.value).await;
    assert_eq!(as_bearer.status(), 401, "cookie value as Bearer");
    assert_eq!(header(&as_bearer, "www-authenticate"), Some(INVALID_TOKEN));

    // A bad Bearer token next to a good cookie: refused, not quietly the cookie.
    let both = app.client.get(app.url("/auth/verify")).header("Authorization", "Bearer nope").send().await.unwrap();
    assert_eq!(both.status(), 401);
    assert_eq!(header(&both, "www-authenticate"), Some(INVALID_TOKEN));
    assert_eq!(app.verify().await.status(), 200, "the cookie alone still works");
}

#[tokio::test]
async fn a_revoked_token_id_is_refused_once_the_deny_list_changes() {
    let dir = tempfile::tempdir().unwrap();
    let deny = dir.path().join("deny.txt");
    std::fs::write(&deny, "# revoked tokens\n").unwrap();
    let path = deny.clone();
    let app = spawn_app_with(move |s| s.api_tokens.deny_list = Some(path)).await;
    let (token, jti) = mint(&app, &[], 3600);
    let (other, _) = mint(&app, &[], 3600);
    assert_eq!(with_bearer(&app, "/auth/verify", &token).await.status(), 200);

    tokio::time::sleep(Duration::from_millis(1100)).await; // a new mtime second
    std::fs::write(&deny, format!("# revoked tokens\n{jti}  # leaked in a log\n")).unwrap();
    app.clock.advance(1); // the list is re-checked at most once a second
    let revoked = with_bearer(&app, "/auth/verify", &token).await;
    assert_eq!(revoked.status(), 401);
    assert_eq!(header(&revoked, "www-authenticate"), Some(INVALID_TOKEN));
    assert_eq!(with_bearer(&app, "/auth/verify", &other).await.status(), 200, "only that token");
}

#[tokio::test]
async fn malformed_authorization_headers_get_401_not_500() {
    let app = spawn_app_with(|_| {}).await;
    let client = reqwest::Client::new();
    let huge = format!("Bearer {}", "A".repeat(20_000));
    let values: Vec<reqwest::header::HeaderValue> = [
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "bearer",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer a b",
        "Bearer ....",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        "Token abc",
        "",
        huge.as_str(),
    ]
    .iter()
    .map(|v| reqwest::header::HeaderValue::from_str(v).unwrap())
    .chain([reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap()])
    .collect();
    for value in values {
        let response = client.get(app.url("/auth/verify")).header("Authorization", value.clone()).send().await;
        let status = response.map(|r| r.status().as_u16()).unwrap_or(431);
        assert!((400..500).contains(&status), "{value:?} gave {status}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn scopes_meet_policy_rules() {
    let app = spawn_app_with(|s| {
        s.policy.rules = vec![sealgate::config::RuleSettings {
            paths: vec!["/api/reports".into()],
            scopes: vec!["reports:read".into()],
            ..Default::default()
        }];
    })
    .await;
    let (reader, _) = mint(&app, &["reports:read"], 3600);
    let (other, _) = mint(&app, &["orders:read"], 3600);
    let at = |token: String| {
        reqwest::Client::new()
            .get(app.url("/auth/verify"))
            .header("Authorization", format!("Bearer {token}"))
            .header("X-Forwarded-Uri", "/api/reports/7")
            .send()
    };
    assert_eq!(at(reader).await.unwrap().status(), 200);
    assert_eq!(at(other).await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_browser_session_mints_its_own_token_same_origin_only() {
    let app = spawn_app_with(|s| s.api_tokens.max_lifetime = Duration::from_secs(86_400)).await;
    app.sign_in(ALICE, ALICE_PASSWORD).await;
    let post = |origin: &'static str, body: serde_json::Value| {
        app.client.post(app.url("/auth/tokens")).header("Origin", origin).json(&body).send()
    };
    let cross = post("https://evil.example", serde_json::json!({"name": "x"})).await.unwrap();
    assert_eq!(cross.status(), 403);
    let too_long = post(PUBLIC_URL, serde_json::json!({"name": "x", "ttl": 86_401})).await.unwrap();
    assert_eq!(too_long.status(), 400);
    for bad in [serde_json::json!("25h"), serde_json::json!("soon"), serde_json::json!(-5)] {
        let refused = post(PUBLIC_URL, serde_json::json!({"name": "x", "ttl": bad})).await.unwrap();
        assert_eq!(refused.status(), 400, "ttl {bad}");
    }
    // A ttl may be a duration as well as seconds.
    let now = chrono::Utc::now().timestamp();
    let hour = post(PUBLIC_URL, serde_json::json!({"name": "x", "ttl": "1h"})).await.unwrap();
    assert_eq!(hour.status(), 201);
    let expires_at = hour.json::<serde_json::Value>().await.unwrap()["expires_at"].as_i64().unwrap();
    assert!((expires_at - now - 3600).abs() <= 5, "{expires_at} is an hour from {now}");
    let minted = post(PUBLIC_URL, serde_json::json!({"name": "laptop-cli", "scopes": ["reports:read"], "ttl": 600}))
        .await
        .unwrap();
    assert_eq!(minted.status(), 201);
    let body: serde_json::Value = minted.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["scopes"], serde_json::json!(["reports:read"]));
    let verified = with_bearer(&app, "/auth/verify", &token).await;
    assert_eq!(header(&verified, "x-auth-user"), Some("alice"));

    // A Bearer token cannot mint another.
    let chained = reqwest::Client::new()
        .post(app.url("/auth/tokens"))
        .header("Authorization", format!("Bearer {token}"))
        .json(&serde_json::json!({"name": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(chained.status(), 403);
    let anonymous = reqwest::Client::new()
        .post(app.url("/auth/tokens"))
        .json(&serde_json::json!({"name": "z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
