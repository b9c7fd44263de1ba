//! The sign-in hook (`[hooks.signin]`): a real HTTP server (wiremock) that
//! checks each request's `X-Sealgate-Signature` with the shared secret and
//! answers; the answer changes the user, denies the sign-in, or — down,
//! slow, malformed — fails, and `hooks.on_failure` decides. Password
//! sign-in and OIDC sign-in through the test IdP both pass it. And
//! `[hooks.error]`: the app's own page for sign-in errors.

use crate::helpers::{header, location, set_cookies, Spawn, TestApp, ALICE, ALICE_PASSWORD, PUBLIC_URL};
use crate::support::idp::{authorize_at_idp, IdpOptions, TestIdp};
use crate::support::network::free_port;
use crate::support::oidc::{deliver, start, ALICE as IDP_ALICE, CALLBACK};
use hmac::{Hmac, Mac};
use sealgate::clock::Clock;
use sealgate::config::hooks::{HookTarget, OnFailure};
use sealgate::config::{SecretSource, Settings};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "a-hook-secret-of-at-least-32-bytes-for-tests";

/// What the hook checks, as an app would: `t=<unix>,v1=<hex>`, an
/// HMAC-SHA256 of `<t>.<body>` with the shared secret.
fn signature_verifies(header: &str, body: &[u8]) -> Option<i64> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (t, v1) = (t?, v1?);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).ok().map(|()| t)
}

/// Answers `answer` to a correctly signed request, 401 to anything else.
struct SignedOnly(ResponseTemplate);

impl Respond for SignedOnly {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let signature = request.headers.get("x-sealgate-signature").and_then(|v| v.to_str().ok());
        match signature.and_then(|s| signature_verifies(s, &request.body)) {
            Some(_) => self.0.clone(),
            None => ResponseTemplate::new(401),
        }
    }
}

async fn hook_answering(answer: ResponseTemplate) -> MockServer {
    let hook = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(SignedOnly(answer)).mount(&hook).await;
    hook
}

fn json_answer(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn with_hook(settings: &mut Settings, url: &str, on_failure: OnFailure) {
    settings.hooks.secret = Some(SecretSource::Inline(SecretString::from(SECRET)));
    settings.hooks.signin = Some(HookTarget { url: url.into() });
    settings.hooks.on_failure = on_failure;
    // Generous: the machine may be busy; the slow-hook story sets its own.
    settings.hooks.timeout = Duration::from_secs(3);
}

async fn app_with_hook(hook: &MockServer, on_failure: OnFailure) -> TestApp {
    let url = format!("{}/hook", hook.uri());
    Spawn::new().configure(|s| with_hook(s, &url, on_failure)).run().await
}

fn session_cookie_set(response: &reqwest::Response, app: &TestApp) -> bool {
    set_cookies(response.headers()).iter().any(|c| c.name == app.cookie_name() && !c.is_removal())
}

/// The `?error=` of a redirect to the sign-in page.
fn signin_error(response: &reqwest::Response) -> String {
    let url = url::Url::parse(PUBLIC_URL).unwrap().join(&location(response)).unwrap();
    assert_eq!(url.path(), "/auth/signin", "{url}");
    url.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_hook_changes_groups_and_adds_a_claim_for_a_password_sign_in() {
    let hook = hook_answering(json_answer(json!({
        "groups": {"add": ["beta"], "remove": ["staff"]},
        "claims": {"tenant": {"id": "acme", "plan": "pro"}},
    })))
    .await;
    let app = app_with_hook(&hook, OnFailure::Deny).await;
    app.clock.advance(1234);

    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;

    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let session: Value = app.get("/auth/session").await.json().await.unwrap();
    assert_eq!(session["user"]["groups"], json!(["admins", "beta"]));
    assert_eq!(session["user"]["claims"], json!({"tenant": {"id": "acme", "plan": "pro"}}));
    let verified = app.verify().await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-groups"), Some("admins,beta"));
    assert_eq!(header(&verified, "x-auth-user"), Some("alice"));

    // What the hook was sent: signed at the injected clock's time, the
    // profile and the user, and no password.
    let requests = hook.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let signature = request.headers.get("x-sealgate-signature").unwrap().to_str().unwrap();
    assert_eq!(signature_verifies(signature, &request.body), Some(app.clock.now()));
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent["v"], 1);
    assert_eq!(sent["event"], "signin");
    assert_eq!(sent["provider"], "credentials");
    assert_eq!(sent["profile"], Value::Null);
    assert_eq!(sent["user"]["id"], "alice");
    assert_eq!(sent["user"]["email"], "alice@example.com");
    assert!(!String::from_utf8_lossy(&request.body).contains(ALICE_PASSWORD));
}

#[tokio::test]
async fn a_hook_denial_shows_its_code_on_the_sign_in_page_and_sets_no_session() {
    let hook = hook_answering(json_answer(json!({"deny": "not_invited"}))).await;
    let app = app_with_hook(&hook, OnFailure::Deny).await;

    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;

    assert_eq!(response.status(), 303);
    assert_eq!(signin_error(&response), "not_invited");
    assert!(!session_cookie_set(&response, &app), "no session for a denied sign-in");
    assert_eq!(app.verify().await.status(), 401);
    let page = app.get(&location(&response)).await.text().await.unwrap();
    assert!(page.contains("Sign-in was refused.") && page.contains("<code>not_invited</code>"), "{page}");

    // A JSON caller gets the code as JSON.
    let json = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .header("Accept", "application/json")
        .form(&[("username", ALICE), ("password", ALICE_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
    assert!(!session_cookie_set(&json, &app));
    assert_eq!(json.json::<Value>().await.unwrap(), json!({"error": "not_invited"}));
}

#[tokio::test]
async fn without_a_hook_a_made_up_code_on_the_sign_in_page_is_not_echoed() {
    let app = Spawn::new().run().await;
    let page = app.get("/auth/signin?error=call_us_now").await.text().await.unwrap();
    assert!(!page.contains("call_us_now"), "{page}");
    assert!(page.contains("Sign-in failed. Please try again."), "{page}");
}

#[tokio::test]
async fn a_hook_that_is_down_refuses_with_hook_failed_or_lets_through_with_allow() {
    let nowhere = format!("http://127.0.0.1:{}/hook", free_port());
    let denying = Spawn::new().configure(|s| with_hook(s, &nowhere, OnFailure::Deny)).run().await;
    let response = denying.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(signin_error(&response), "hook_failed");
    assert!(!session_cookie_set(&response, &denying));
    assert_eq!(denying.verify().await.status(), 401);

    let allowing = Spawn::new().configure(|s| with_hook(s, &nowhere, OnFailure::Allow)).run().await;
    let response = allowing.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!((response.status().as_u16(), location(&response)), (303, "/".to_owned()));
    let verified = allowing.verify().await;
    assert_eq!(header(&verified, "x-auth-groups"), Some("admins,staff"), "signed in unchanged");
}

#[tokio::test]
async fn a_hook_slower_than_the_timeout_fails() {
    let hook = hook_answering(json_answer(json!({"deny": "too_late"})).set_delay(Duration::from_secs(5))).await;
    let url = format!("{}/hook", hook.uri());
    let app = Spawn::new()
        .configure(|s| {
            with_hook(s, &url, OnFailure::Deny);
            s.hooks.timeout = Duration::from_millis(500);
        })
        .run()
        .await;

    let started = Instant::now();
    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;

    assert_eq!(signin_error(&response), "hook_failed");
    assert!(started.elapsed() < Duration::from_secs(4), "waited {:?} for a 500 ms timeout", started.elapsed());
    assert_eq!(app.verify().await.status(), 401);
}

#[tokio::test]
async fn a_malformed_or_refusing_answer_counts_as_a_failure() {
    let answers = [
        ("not JSON", ResponseTemplate::new(200).set_body_string("yes please")),
        ("an unknown field", json_answer(json!({"allow": true}))),
        ("a wrong type", json_answer(json!({"groups": ["admins"]}))),
        ("a bad deny code", json_answer(json!({"deny": "Not Invited!"}))),
        ("a header-breaking name", json_answer(json!({"user": {"name": "A\r\nX-Auth-User: root"}}))),
        ("a password user's id changed", json_answer(json!({"user": {"id": "root"}}))),
        ("claims over 4 KB", json_answer(json!({"claims": {"big": "x".repeat(5000)}}))),
        ("an answer over 64 KB", json_answer(json!({"claims": {"pad": "x".repeat(70 * 1024)}}))),
        ("a server error", ResponseTemplate::new(500)),
        ("a redirect", ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/")),
    ];
    for (what, answer) in answers {
        let hook = hook_answering(answer).await;
        let app = app_with_hook(&hook, OnFailure::Deny).await;
        let response = app.sign_in(ALICE, ALICE_PASSWORD).await;
        assert_eq!(signin_error(&response), "hook_failed", "{what}");
        assert!(!session_cookie_set(&response, &app), "{what}");
    }
    assert!(!crate::helpers::captured_logs().contains(SECRET), "the hook secret reached a log");
}

#[tokio::test]
async fn the_apps_error_page_gets_sign_in_errors_with_their_code() {
    let hook = hook_answering(json_answer(json!({"deny": "not_invited"}))).await;
    let url = format!("{}/hook", hook.uri());
    let app = Spawn::new()
        .configure(|s| {
            with_hook(s, &url, OnFailure::Deny);
            s.hooks.error = Some(HookTarget { url: "https://app.example.com/oops?lang=en".into() });
        })
        .run()
        .await;

    let denied = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(location(&denied), "https://app.example.com/oops?lang=en&error=not_invited");
    let wrong = app.sign_in(ALICE, "wrong password").await;
    assert_eq!(location(&wrong), "https://app.example.com/oops?lang=en&error=invalid_credentials");
    // A failure_to of the request's own still comes first.
    let own = app
        .post_form("/auth/signin/credentials", &[("username", ALICE), ("password", "nope"), ("failure_to", "/retry")]);
    assert_eq!(location(&own.await), "/retry?error=invalid_credentials");
}

#[tokio::test]
async fn an_error_page_that_is_not_a_url_is_refused_at_start() {
    let mut settings = Settings::from_toml(sealgate::config::DEFAULT_CONFIG).unwrap();
    settings.hooks.error = Some(HookTarget { url: "javascript:alert(1)".into() });
    settings.hooks.signin = Some(HookTarget { url: "http://127.0.0.1:9/hook".into() });
    let problems = settings.validate().unwrap_err().to_string();
    assert!(problems.contains("hooks.error.url"), "{problems}");
    assert!(problems.contains("hooks.secret is required"), "{problems}");
}

async fn oidc_app_with_hook(hook: &MockServer) -> (TestIdp, TestApp) {
    let idp = TestIdp::start(IdpOptions { redirect_uris: vec![CALLBACK.into()], ..IdpOptions::default() }).await;
    let provider = idp.provider();
    let url = format!("{}/hook", hook.uri());
    let app = Spawn::new()
        .configure(|s| {
            s.providers.insert("corp".into(), provider);
            with_hook(s, &url, OnFailure::Deny);
        })
        .ready()
        .run()
        .await;
    (idp, app)
}

#[tokio::test]
async fn an_oidc_sign_in_passes_the_hook_with_the_providers_claims_and_no_tokens() {
    let hook = hook_answering(json_answer(json!({
        "user": {"id": "employee-42"},
        "groups": {"add": ["beta"]},
        "claims": {"tenant": "acme"},
    })))
    .await;
    let (_idp, app) = oidc_app_with_hook(&hook).await;

    let (authorize, _) = start(&app, "/landing").await;
    let response = deliver(&app, &authorize_at_idp(&authorize, IDP_ALICE, CALLBACK).await).await;

    assert_eq!((response.status().as_u16(), location(&response)), (302, "/landing".to_owned()));
    let verified = app.verify().await;
    assert_eq!(header(&verified, "x-auth-user"), Some("employee-42"), "linked to the app's account");
    assert_eq!(header(&verified, "x-auth-groups"), Some("admins,staff,beta"));
    let session: Value = app.get("/auth/session").await.json().await.unwrap();
    assert_eq!(session["user"]["claims"], json!({"tenant": "acme"}));

    let requests = hook.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["provider"], "corp");
    assert_eq!(sent["profile"]["sub"], "alice-sub");
    assert_eq!(sent["user"]["id"], "alice-sub");
    assert!(sent["profile"].get("nonce").is_none(), "the flow's nonce stays here: {sent}");
    let session_cookie = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
    let opened = app.sessions.codec.open(&session_cookie.value).unwrap();
    let tokens = app.sessions.codec.tokens(&opened).unwrap().unwrap();
    let body = String::from_utf8_lossy(&requests[0].body).into_owned();
    use secrecy::ExposeSecret;
    assert!(!body.contains(tokens.access_token.expose_secret()), "no access token sent to the hook");
    assert!(!body.contains(tokens.id_token.as_ref().unwrap().expose_secret()), "no ID token sent to the hook");
}

#[tokio::test]
async fn an_oidc_sign_in_the_hook_denies_ends_on_the_sign_in_page_without_a_session() {
    let hook = hook_answering(json_answer(json!({"deny": "account_suspended"}))).await;
    let (_idp, app) = oidc_app_with_hook(&hook).await;

    let (authorize, _) = start(&app, "/landing").await;
    let callback = authorize_at_idp(&authorize, IDP_ALICE, CALLBACK).await;
    let response = deliver(&app, &callback).await;

    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/auth/signin?error=account_suspended&redirect_to=%2Flanding");
    assert!(!session_cookie_set(&response, &app));
    assert!(
        set_cookies(response.headers()).iter().any(|c| c.name.starts_with("sealgate-flow-") && c.is_removal()),
        "the flow is over"
    );
    assert_eq!(app.verify().await.status(), 401);
}
