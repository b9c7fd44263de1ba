//! Where a sign-in ends: `success_to` and `failure_to` on every sign-in
//! start (allow-listed, or 400 `invalid_redirect`), `GET
//! /auth/signin/{id}/url` and JSON answers for single-page apps, and
//! usernames compared without case (sign-in, rate limits, the admin API).

use crate::helpers::{header, location, set_cookies, spawn_app, spawn_app_with, Spawn, TestApp};
use crate::helpers::{ALICE, ALICE_PASSWORD};
use crate::support::idp::{authorize_at_idp, Answer, IdpOptions, TestIdp};
use crate::support::oidc::{deliver, ALICE as IDP_ALICE, CALLBACK};
use sealgate::identity::User;
use serde_json::{json, Value};

fn allowing_app_test(s: &mut sealgate::config::Settings) {
    s.redirects.allowed_hosts = vec!["app.test".into()];
}

async fn sign_in_with(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.post_form("/auth/signin/credentials", form).await
}

#[tokio::test]
async fn a_password_sign_in_goes_to_success_to_or_to_failure_to_with_the_code() {
    let app = spawn_app_with(allowing_app_test).await;

    let wrong = sign_in_with(
        &app,
        &[("username", ALICE), ("password", "wrong"), ("failure_to", "https://app.test/login?lang=en#form")],
    )
    .await;
    assert_eq!(wrong.status(), 303);
    assert_eq!(location(&wrong), "https://app.test/login?lang=en&error=invalid_credentials#form");

    let good = sign_in_with(
        &app,
        &[
            ("username", ALICE),
            ("password", ALICE_PASSWORD),
            ("redirect_to", "/ignored"),
            ("success_to", "https://app.test/welcome"),
            ("failure_to", "/login"),
        ],
    )
    .await;
    assert_eq!(good.status(), 303);
    assert_eq!(location(&good), "https://app.test/welcome", "success_to wins over redirect_to");
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn an_unlisted_success_to_or_failure_to_is_refused_with_invalid_redirect() {
    let app = spawn_app().await;
    for (key, target) in [
        ("success_to", "https://evil.example/"),
        ("failure_to", "https://evil.example/"),
        ("failure_to", "//evil.example/x"),
        ("success_to", "javascript:alert(1)"),
    ] {
        let posted = sign_in_with(&app, &[("username", ALICE), ("password", ALICE_PASSWORD), (key, target)]).await;
        assert_eq!(posted.status(), 400, "{key}={target}");
        assert_eq!(posted.json::<Value>().await.unwrap(), json!({"error": "invalid_redirect"}));
        let query = url::form_urlencoded::Serializer::new(String::new()).append_pair(key, target).finish();
        let page = app.get(&format!("/auth/signin?{query}")).await;
        assert_eq!(page.status(), 400, "the page, {key}={target}");
    }
    assert_eq!(app.verify().await.status(), 401, "nobody was signed in by a refused request");
    // redirect_to keeps falling back to `/`, as it always has.
    let fallback = sign_in_with(
        &app,
        &[("username", ALICE), ("password", ALICE_PASSWORD), ("redirect_to", "https://evil.example/")],
    )
    .await;
    assert_eq!(location(&fallback), "/");
}

#[tokio::test]
async fn the_sign_in_page_carries_failure_to_into_its_form_and_provider_links() {
    let app = spawn_app_with(allowing_app_test).await;
    let html = app
        .get("/auth/signin?success_to=https%3A%2F%2Fapp.test%2Fin&failure_to=https%3A%2F%2Fapp.test%2Fout")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"redirect_to\" value=\"https://app.test/in\""), "{html}");
    assert!(html.contains("name=\"failure_to\" value=\"https://app.test/out\""), "{html}");
}

#[tokio::test]
async fn a_json_password_sign_in_answers_json_both_ways() {
    let app = spawn_app().await;
    let post = |password: &'static str| {
        app.client
            .post(app.url("/auth/signin/credentials"))
            .header("Accept", "application/json")
            .json(&json!({"username": ALICE, "password": password, "success_to": "/spa"}))
            .send()
    };
    let wrong = post("wrong").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap(), json!({"error": "invalid_credentials"}));
    let good = post(ALICE_PASSWORD).await.unwrap();
    assert_eq!(good.status(), 200);
    assert!(set_cookies(good.headers()).iter().any(|c| c.name == "sealgate" && !c.is_removal()));
    assert_eq!(good.json::<Value>().await.unwrap(), json!({"authenticated": true, "redirect_to": "/spa"}));
    assert_eq!(app.verify().await.status(), 200);
}

async fn oidc_app() -> (TestIdp, TestApp) {
    let idp = TestIdp::start(IdpOptions { redirect_uris: vec![CALLBACK.into()], ..IdpOptions::default() }).await;
    let provider = idp.provider();
    let app = Spawn::new()
        .configure(|s| {
            s.providers.insert("corp".into(), provider);
            allowing_app_test(s);
        })
        .ready()
        .run()
        .await;
    (idp, app)
}

#[tokio::test]
async fn the_url_endpoint_gives_a_single_page_app_the_authorize_url_and_the_flow_cookie() {
    let (idp, app) = oidc_app().await;

    let response = app.get("/auth/signin/corp/url?success_to=https%3A%2F%2Fapp.test%2Fdone").await;

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let flow = set_cookies(response.headers()).into_iter().find(|c| c.name.starts_with("sealgate-flow-"));
    assert!(flow.is_some(), "the flow cookie comes with the URL");
    let body: Value = response.json().await.unwrap();
    let authorize = body["url"].as_str().unwrap().to_owned();
    assert!(authorize.starts_with(&idp.issuer), "{authorize}");

    let done = deliver(&app, &authorize_at_idp(&authorize, IDP_ALICE, CALLBACK).await).await;
    assert_eq!((done.status().as_u16(), location(&done)), (302, "https://app.test/done".to_owned()));
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn a_json_start_gets_json_errors() {
    let (_idp, app) = oidc_app().await;
    let unknown = app.get("/auth/signin/nope/url").await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(unknown.json::<Value>().await.unwrap(), json!({"error": "unknown_provider"}));
    let accept = app.client.get(app.url("/auth/signin/nope")).header("Accept", "application/json").send();
    let accept = accept.await.unwrap();
    assert_eq!(accept.json::<Value>().await.unwrap(), json!({"error": "unknown_provider"}));
    let unlisted = app.get("/auth/signin/corp/url?failure_to=https%3A%2F%2Fevil.example%2F").await;
    assert_eq!(unlisted.status(), 400);
    assert!(set_cookies(unlisted.headers()).is_empty(), "no flow is started for a refused target");
    assert_eq!(unlisted.json::<Value>().await.unwrap(), json!({"error": "invalid_redirect"}));
    // A browser is sent on instead.
    let browser = app.get("/auth/signin/nope?failure_to=%2Flogin").await;
    assert_eq!((browser.status().as_u16(), location(&browser)), (302, "/login?error=unknown_provider".to_owned()));
}

#[tokio::test]
async fn a_provider_sign_in_that_fails_goes_to_its_failure_to() {
    let (_idp, app) = oidc_app().await;
    let started =
        app.get("/auth/signin/corp?redirect_to=%2Fapp&failure_to=https%3A%2F%2Fapp.test%2Flogin%3Fx%3D1").await;
    assert_eq!(started.status(), 302);
    let callback = authorize_at_idp(&location(&started), Answer::Deny, CALLBACK).await;
    let response = deliver(&app, &callback).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "https://app.test/login?x=1&error=access_denied");
    assert_eq!(app.verify().await.status(), 401);
}

#[tokio::test]
async fn usernames_sign_in_and_are_rate_limited_whatever_their_case() {
    let app = spawn_app_with(|s| s.store.kind = sealgate::config::store::StoreKind::None).await;
    let response = app.sign_in(" ALICE ", ALICE_PASSWORD).await;
    assert_eq!(response.status(), 303);
    let verified = app.verify().await;
    assert_eq!(header(&verified, "x-auth-user"), Some("alice"), "the account's own spelling");

    for typed in ["Alice", "ALICE", " alice", "aLiCe", "alice "] {
        assert_eq!(app.sign_in(typed, "guess").await.status(), 303);
    }
    assert_eq!(app.sign_in("alice", ALICE_PASSWORD).await.status(), 429, "five failures, however typed");
}

#[tokio::test]
async fn the_admin_api_revokes_a_users_file_account_named_in_any_case() {
    let app = spawn_app().await;
    let cookie = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let scopes = vec!["sealgate:admin".to_owned()];
    let token = app.sessions.api_tokens.mint(User::new("ops"), "ops-tool", scopes, 600).unwrap().0;

    let response = reqwest::Client::new()
        .post(app.url("/auth/admin/users/ALICE/revoke"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["user"], "alice");
    assert_eq!(app.verify_cookie(&cookie).await, 401);
}
