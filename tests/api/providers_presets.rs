//! The provider presets (GitHub, GitHub Enterprise, Discord, X, Google,
//! GitLab, generic OAuth 2.0) driven end to end against fakes of each
//! provider (`fakes.rs`), and every documented callback failure.
//!
//! Each sign-in goes the way a browser takes it: `GET /auth/signin/{id}` →
//! 302 to the provider's authorize URL (the fake "consents" and redirects
//! back with a code) → `GET /auth/callback/{id}?code&state` → 302 to
//! `redirect_to` with a session cookie → `/auth/verify` and `/auth/session`.

use crate::helpers::{header, location, set_cookies, spawn_app_with, wait_ready, SetCookie, TestApp, PUBLIC_URL};
use crate::support::fakes::{
    basic_credentials, form, redirect_uri, s256, ClientAuth, FakeOptions, FakeProvider, IdTokenTweak, Preset,
    CLIENT_ID, CLIENT_SECRET,
};
use reqwest::Response;
use sealgate::config::ProviderSettings;
use serde_json::{json, Value};
use std::collections::HashMap;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

// ---------------------------------------------------------------------------
// Helpers

/// An app with these providers (by id), ready to start sign-ins.
pub(crate) async fn app_with_tables(tables: Vec<(&str, ProviderSettings)>) -> TestApp {
    let app = spawn_app_with(|settings| {
        for (id, table) in tables {
            settings.providers.insert(id.into(), table);
        }
    })
    .await;
    wait_ready(&app).await;
    app
}

async fn app_with(fakes: &[(&str, &FakeProvider)]) -> TestApp {
    let app = app_with_tables(fakes.iter().map(|(id, fake)| (*id, fake.settings())).collect()).await;
    for (_, fake) in fakes {
        fake.use_clock(&app.clock);
    }
    app
}

/// A fake of `preset` and an app with it as provider `id`.
async fn setup(preset: Preset, id: &str) -> (FakeProvider, TestApp) {
    let fake = FakeProvider::start(preset).await;
    let app = app_with(&[(id, &fake)]).await;
    (fake, app)
}

fn param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// `url` with the query parameter `key` replaced (or removed, for `None`).
fn with_param(url: &Url, key: &str, value: Option<&str>) -> Url {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != key).collect();
    let mut out = url.clone();
    out.set_query(None);
    {
        let mut query = out.query_pairs_mut();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    out
}

/// A started sign-in: where the browser was sent, and the flow cookie it got.
pub(crate) struct Started {
    id: String,
    authorize: Url,
    state: String,
    flow: SetCookie,
}

impl Started {
    fn param(&self, key: &str) -> Option<String> {
        param(&self.authorize, key)
    }
}

fn flow_cookie(headers: &reqwest::header::HeaderMap) -> SetCookie {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.name.starts_with("sealgate-flow-") && !c.is_removal())
        .expect("the sign-in sets a flow cookie")
}

pub(crate) async fn start(app: &TestApp, id: &str, redirect_to: &str) -> Started {
    let response = app.get(&format!("/auth/signin/{id}?redirect_to={redirect_to}")).await;
    assert_eq!(response.status(), 302, "GET /auth/signin/{id}");
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let flow = flow_cookie(response.headers());
    let authorize = Url::parse(&location(&response)).expect("an absolute authorize URL");
    let state = param(&authorize, "state").expect("the authorize URL carries a state");
    Started { id: id.into(), authorize, state, flow }
}

/// The authorize URL is the fake's, with everything RFC 6749 / 7636 (and
/// OIDC Core, for OIDC) require, and the flow cookie is the one for it.
fn assert_authorization_request(started: &Started, fake: &FakeProvider, scopes: &[&str]) {
    let url = &started.authorize;
    let fake_url = Url::parse(&fake.uri()).unwrap();
    assert_eq!((url.scheme(), url.host_str(), url.port()), ("http", fake_url.host_str(), fake_url.port()), "{url}");
    assert_eq!(url.path(), fake.preset.authorize_path());
    assert_eq!(started.param("response_type").as_deref(), Some("code"));
    assert_eq!(started.param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(started.param("redirect_uri"), Some(redirect_uri(&started.id)));
    assert!(started.state.len() >= 16, "state is too short to be unguessable: {}", started.state);
    assert_eq!(started.param("code_challenge_method").as_deref(), Some("S256"));
    let challenge = started.param("code_challenge").expect("a PKCE challenge");
    assert_eq!(challenge.len(), 43, "an S256 challenge is 32 bytes base64url: {challenge}");
    let mut asked: Vec<String> =
        started.param("scope").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).map(String::from).collect();
    asked.sort();
    let mut expected: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(asked, expected, "scopes in {url}");
    if fake.preset.is_oidc() {
        let nonce = started.param("nonce").expect("an OIDC sign-in carries a nonce");
        assert!(nonce.len() >= 16, "nonce {nonce}");
    } else {
        assert_eq!(started.param("nonce"), None);
    }

    let slots = ["sealgate-flow-1", "sealgate-flow-2", "sealgate-flow-3"];
    assert!(slots.contains(&started.flow.name.as_str()), "{}", started.flow.name);
    assert!(started.flow.attributes.contains("httponly"), "{}", started.flow.raw);
    assert!(started.flow.attributes.contains("path=/"), "{}", started.flow.raw);
    assert!(started.flow.attributes.contains("max-age=600"), "{}", started.flow.raw);
}

/// Consent at the fake; returns the callback URL it redirects to.
pub(crate) async fn consent(fake: &FakeProvider, started: &Started) -> Url {
    let callback = fake.consent(started.authorize.as_str()).await;
    assert!(callback.as_str().starts_with(&redirect_uri(&started.id)), "{callback}");
    assert_eq!(param(&callback, "state").as_ref(), Some(&started.state));
    callback
}

/// What the browser requests at sealgate when the provider redirects back.
pub(crate) async fn deliver(app: &TestApp, callback: &Url) -> Response {
    let base = Url::parse(PUBLIC_URL).unwrap();
    assert_eq!(callback.host_str(), base.host_str(), "the provider must send the browser back to sealgate");
    app.get(&format!("{}?{}", callback.path(), callback.query().unwrap_or(""))).await
}

/// Consent and deliver; returns sealgate's answer and the code used.
pub(crate) async fn finish(app: &TestApp, fake: &FakeProvider, started: &Started) -> (Response, String) {
    let callback = consent(fake, started).await;
    let code = param(&callback, "code").unwrap();
    (deliver(app, &callback).await, code)
}

/// The callback signed the person in: 302 to `redirect_to`, a session
/// cookie, and the flow cookie gone.
fn assert_signed_in(response: &Response, started: &Started, redirect_to: &str) {
    assert_eq!(response.status(), 302);
    assert_eq!(location(response), redirect_to);
    let cookies = set_cookies(response.headers());
    assert!(
        cookies.iter().any(|c| (c.name == "sealgate" || c.name == "sealgate_1") && !c.is_removal()),
        "no session cookie in {cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.name == started.flow.name && c.is_removal()),
        "the flow cookie is not removed: {cookies:?}"
    );
}

/// The callback failed: 302 to the sign-in page with exactly `error`, and
/// `redirect_to` carried through when the flow was known.
fn assert_signin_error(response: &Response, error: &str, redirect_to: Option<&str>) {
    assert_eq!(response.status(), 302, "expected a redirect to the sign-in page, not {}", response.status());
    let target = Url::parse(PUBLIC_URL).unwrap().join(&location(response)).unwrap();
    assert_eq!(target.path(), "/auth/signin", "{target}");
    assert_eq!(param(&target, "error").as_deref(), Some(error), "{target}");
    assert_eq!(param(&target, "redirect_to").as_deref(), redirect_to, "{target}");
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

fn signin_error(response: &Response) -> String {
    assert_eq!(response.status(), 302);
    let target = Url::parse(PUBLIC_URL).unwrap().join(&location(response)).unwrap();
    assert_eq!(target.path(), "/auth/signin", "{target}");
    param(&target, "error").unwrap()
}

fn removes_flow_cookie(response: &Response, started: &Started) -> bool {
    set_cookies(response.headers()).iter().any(|c| c.name == started.flow.name && c.is_removal())
}

/// The token endpoint got exactly one well-formed authorization-code grant
/// for `code`, with the PKCE verifier matching the challenge sent, and the
/// client authenticated the way the preset does.
async fn assert_token_request(fake: &FakeProvider, started: &Started, code: &str) {
    let requests = fake.token_requests().await;
    let matching: Vec<_> = requests.iter().filter(|r| form(r).get("code").map(String::as_str) == Some(code)).collect();
    assert_eq!(matching.len(), 1, "token requests for {code}: {}", requests.len());
    let request = matching[0];
    let fields = form(request);
    let content_type = request.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/x-www-form-urlencoded"), "{content_type}");
    assert_eq!(fields.get("grant_type").map(String::as_str), Some("authorization_code"));
    assert_eq!(fields.get("redirect_uri"), Some(&redirect_uri(&started.id)));
    let verifier = fields.get("code_verifier").expect("a PKCE verifier");
    assert!((43..=128).contains(&verifier.len()), "verifier length {}", verifier.len());
    assert_eq!(Some(s256(verifier)), started.param("code_challenge"), "S256(code_verifier) != code_challenge");
    match fake.preset.client_auth() {
        ClientAuth::Post => {
            assert_eq!(fields.get("client_id").map(String::as_str), Some(CLIENT_ID));
            assert_eq!(fields.get("client_secret").map(String::as_str), Some(CLIENT_SECRET));
            assert!(request.headers.get("authorization").is_none());
        }
        ClientAuth::Basic => {
            assert_eq!(basic_credentials(request), Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())));
            assert!(!fields.contains_key("client_secret"), "the secret must not also go in the body");
        }
    }
}

/// The identity headers `/auth/verify` answers with.
async fn identity(app: &TestApp) -> HashMap<&'static str, Option<String>> {
    let response = app.verify().await;
    assert_eq!(response.status(), 200, "/auth/verify after sign-in");
    ["x-auth-user", "x-auth-username", "x-auth-email", "x-auth-name", "x-auth-provider", "x-auth-groups"]
        .into_iter()
        .map(|name| (name, header(&response, name).map(str::to_owned)))
        .collect()
}

fn expect(pairs: &[(&'static str, Option<&str>)]) -> HashMap<&'static str, Option<String>> {
    pairs.iter().map(|(k, v)| (*k, v.map(str::to_owned))).collect()
}

/// `/auth/session`'s JSON; also checks that no provider token is in it.
async fn session_json(app: &TestApp, fake: &FakeProvider) -> Value {
    let response = app.get("/auth/session").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let tokens = fake.access_tokens();
    assert!(!tokens.is_empty());
    for token in tokens {
        assert!(!body.contains(&token), "/auth/session leaks the provider's access token: {body}");
    }
    assert!(!body.contains("access_token") && !body.contains("refresh_token") && !body.contains("id_token"), "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["authenticated"], true, "{json}");
    json
}

/// A full, successful sign-in with `fake` as provider `id`; returns the
/// session JSON after checking every step of the protocol.
async fn sign_in(app: &TestApp, fake: &FakeProvider, id: &str, scopes: &[&str]) -> Value {
    let started = start(app, id, "/landing").await;
    assert_authorization_request(&started, fake, scopes);
    let (response, code) = finish(app, fake, &started).await;
    assert_signed_in(&response, &started, "/landing");
    assert_token_request(fake, &started, &code).await;
    session_json(app, fake).await
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// GitHub

#[tokio::test]
async fn github_sign_in_uses_the_verified_primary_email() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let session = sign_in(&app, &fake, "github", &["read:user", "user:email"]).await;

    assert_eq!(
        identity(&app).await,
        expect(&[
            ("x-auth-user", Some("583231")),
            ("x-auth-username", Some("octocat")),
            ("x-auth-email", Some("octocat@github.com")),
            ("x-auth-name", Some("The Octocat")),
            ("x-auth-provider", Some("github")),
            ("x-auth-groups", None),
        ])
    );
    assert_eq!(session["provider"], "github");
    assert_eq!(session["user"]["avatar_url"], "https://avatars.githubusercontent.com/u/583231?v=4");

    // The REST API was called as GitHub documents it: bearer token, its media type, a User-Agent.
    let token = fake.access_tokens().pop().unwrap();
    for route in ["/user", "/user/emails"] {
        let requests = fake.requests_to(route).await;
        assert_eq!(requests.len(), 1, "{route}");
        let request = &requests[0];
        let h = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(h("authorization"), Some(format!("Bearer {token}")), "{route}");
        assert_eq!(h("accept").as_deref(), Some("application/vnd.github+json"), "{route}");
        assert!(h("user-agent").is_some_and(|ua| ua.starts_with("sealgate/")), "{route}");
    }
}

#[tokio::test]
async fn github_unverified_primary_email_is_not_used_even_with_another_verified_one() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    fake.set_emails(json!([
        { "email": "octocat@github.com", "verified": false, "primary": true, "visibility": "public" },
        { "email": "octocat@example.com", "verified": true, "primary": false, "visibility": null }
    ]));
    let session = sign_in(&app, &fake, "github", &["read:user", "user:email"]).await;

    let headers = identity(&app).await;
    assert_eq!(headers["x-auth-user"].as_deref(), Some("583231"));
    assert_eq!(headers["x-auth-email"], None, "an unverified primary email must not be used");
    assert!(session["user"].get("email").is_none(), "{session}");
}

#[tokio::test]
async fn github_replayed_code_is_code_rejected() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let first = start(&app, "github", "/landing").await;
    let (response, code) = finish(&app, &fake, &first).await;
    assert_signed_in(&response, &first, "/landing");

    // A second sign-in, whose callback carries the already used code.
    let second = start(&app, "github", "/again").await;
    let response = app.get(&format!("/auth/callback/github?code={code}&state={}", second.state)).await;
    assert_signin_error(&response, "code_rejected", Some("/again"));
    assert!(removes_flow_cookie(&response, &second));

    // GitHub said so with 200 and `bad_verification_code`, which sealgate recognised.
    let requests = fake.token_requests().await;
    assert_eq!(requests.len(), 2);
    assert_eq!(form(&requests[1]).get("code"), Some(&code));
    // A failed sign-in leaves the session the browser had (from the first).
    assert_eq!(identity(&app).await["x-auth-user"].as_deref(), Some("583231"));
}

#[tokio::test]
async fn github_enterprise_endpoints_derive_from_base_url() {
    let (fake, app) = setup(Preset::GitHubEnterprise, "ghe").await;
    sign_in(&app, &fake, "ghe", &["read:user", "user:email"]).await;
    assert_eq!(identity(&app).await["x-auth-username"].as_deref(), Some("octocat"));
    assert_eq!(fake.requests_to("/api/v3/user").await.len(), 1);
    assert_eq!(fake.requests_to("/api/v3/user/emails").await.len(), 1);
}

#[tokio::test]
async fn github_api_failing_is_provider_unavailable() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>Unicorn!</html>"))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let started = start(&app, "github", "/landing").await;
    let (response, _) = finish(&app, &fake, &started).await;
    assert_signin_error(&response, "provider_unavailable", Some("/landing"));
    assert_eq!(app.verify().await.status(), 401);
}

// ---------------------------------------------------------------------------
// Discord

#[tokio::test]
async fn discord_sign_in_builds_the_cdn_avatar_and_uses_the_verified_email() {
    let (fake, app) = setup(Preset::Discord, "discord").await;
    let session = sign_in(&app, &fake, "discord", &["identify", "email"]).await;

    assert_eq!(
        identity(&app).await,
        expect(&[
            ("x-auth-user", Some("80351110224678912")),
            ("x-auth-username", Some("nelly")),
            ("x-auth-email", Some("nelly@discord.com")),
            ("x-auth-name", Some("Nelly")),
            ("x-auth-provider", Some("discord")),
            ("x-auth-groups", None),
        ])
    );
    assert_eq!(
        session["user"]["avatar_url"],
        "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
    );
    let me = fake.requests_to("/api/users/@me").await;
    assert_eq!(me.len(), 1);
    let token = fake.access_tokens().pop().unwrap();
    assert_eq!(me[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {token}"));
}

#[tokio::test]
async fn discord_animated_avatar_is_a_gif_and_an_unverified_email_is_not_used() {
    let (fake, app) = setup(Preset::Discord, "discord").await;
    fake.set_profile(json!({
        "id": "613425648685547541",
        "username": "shay",
        "discriminator": "0",
        "global_name": null,
        "avatar": "a_1269e74af4df7417b13759eae50c83dc",
        "mfa_enabled": false,
        "locale": "en-GB",
        "verified": false,
        "email": "shay@example.com",
        "flags": 0,
        "premium_type": 2,
        "public_flags": 0
    }));
    let session = sign_in(&app, &fake, "discord", &["identify", "email"]).await;

    let headers = identity(&app).await;
    assert_eq!(headers["x-auth-user"].as_deref(), Some("613425648685547541"));
    assert_eq!(headers["x-auth-email"], None, "an unverified Discord email must not be used");
    // No global_name: the display name falls back to the username.
    assert_eq!(headers["x-auth-name"].as_deref(), Some("shay"));
    assert_eq!(
        session["user"]["avatar_url"],
        "https://cdn.discordapp.com/avatars/613425648685547541/a_1269e74af4df7417b13759eae50c83dc.gif"
    );
}

/// `api_url` is a base URL; given without a trailing slash it must still
/// reach `{api_url}/users/@me`, as the token endpoint reaches `{api_url}/oauth2/token`.
#[tokio::test]
async fn discord_api_url_without_a_trailing_slash_still_reaches_the_api() {
    let fake = FakeProvider::start(Preset::Discord).await;
    let mut table = fake.settings();
    table.api_url = Some(format!("{}/api", fake.uri()));
    let app = app_with_tables(vec![("discord", table)]).await;
    fake.use_clock(&app.clock);
    let started = start(&app, "discord", "/landing").await;
    let (response, code) = finish(&app, &fake, &started).await;
    // The token endpoint, derived with a trailing slash added, is reached...
    assert_token_request(&fake, &started, &code).await;
    // ...and so must the profile be.
    assert_eq!(fake.requests_to("/api/users/@me").await.len(), 1, "GET {{api_url}}/users/@me was not made");
    assert_signed_in(&response, &started, "/landing");
}

// ---------------------------------------------------------------------------
// X

#[tokio::test]
async fn x_sign_in_has_no_email() {
    let (fake, app) = setup(Preset::X, "x").await;
    let session = sign_in(&app, &fake, "x", &["users.read", "tweet.read", "offline.access"]).await;

    assert_eq!(
        identity(&app).await,
        expect(&[
            ("x-auth-user", Some("2244994945")),
            ("x-auth-username", Some("XDevelopers")),
            ("x-auth-email", None),
            ("x-auth-name", Some("X Developers")),
            ("x-auth-provider", Some("x")),
            ("x-auth-groups", None),
        ])
    );
    assert_eq!(
        session["user"]["avatar_url"],
        "https://pbs.twimg.com/profile_images/1683325380441128960/yRsRRjGO_normal.jpg"
    );
    let me = fake.requests_to("/2/users/me").await;
    assert_eq!(me.len(), 1);
    let fields = param(&me[0].url, "user.fields").unwrap();
    assert!(fields.split(',').any(|f| f == "profile_image_url"), "{fields}");
}

// ---------------------------------------------------------------------------
// Google (OIDC)

#[tokio::test]
async fn google_sign_in_verifies_the_id_token() {
    let (fake, app) = setup(Preset::Google, "google").await;
    let session = sign_in(&app, &fake, "google", &["openid", "email", "profile"]).await;

    assert_eq!(
        identity(&app).await,
        expect(&[
            ("x-auth-user", Some("110169484474386276334")),
            ("x-auth-username", None),
            ("x-auth-email", Some("grace@example.com")),
            ("x-auth-name", Some("Grace Hopper")),
            ("x-auth-provider", Some("google")),
            ("x-auth-groups", None),
        ])
    );
    assert_eq!(session["user"]["avatar_url"], "https://lh3.googleusercontent.com/a/ACg8ocKxJ3aH1qB7xTnQ8Y0m=s96-c");
    // Discovery and the JWKS were fetched from the issuer the preset was pointed at.
    assert!(!fake.requests_to("/.well-known/openid-configuration").await.is_empty());
    assert!(!fake.requests_to("/oauth2/v3/certs").await.is_empty());
}

async fn assert_id_token_refused(tweak: IdTokenTweak) {
    let (fake, app) = setup(Preset::Google, "google").await;
    fake.set_tweak(tweak);
    let started = start(&app, "google", "/landing").await;
    let (response, code) = finish(&app, &fake, &started).await;
    assert_signin_error(&response, "invalid_id_token", Some("/landing"));
    assert!(removes_flow_cookie(&response, &started));
    assert_token_request(&fake, &started, &code).await;
    assert_eq!(app.verify().await.status(), 401, "{tweak:?}");
}

#[tokio::test]
async fn google_id_token_with_a_wrong_nonce_is_refused() {
    assert_id_token_refused(IdTokenTweak::WrongNonce).await;
}

#[tokio::test]
async fn google_id_token_signed_by_another_key_is_refused() {
    assert_id_token_refused(IdTokenTweak::OtherKey).await;
}

#[tokio::test]
async fn google_id_token_for_another_audience_is_refused() {
    assert_id_token_refused(IdTokenTweak::WrongAudience).await;
}

#[tokio::test]
async fn google_id_token_from_another_issuer_is_refused() {
    assert_id_token_refused(IdTokenTweak::WrongIssuer).await;
}

#[tokio::test]
async fn google_expired_id_token_is_refused() {
    assert_id_token_refused(IdTokenTweak::Expired).await;
}

#[tokio::test]
async fn callback_iss_must_match_when_discovery_promises_it() {
    let fake = FakeProvider::start_with(Preset::Google, FakeOptions { iss_parameter: true }).await;
    let app = app_with(&[("google", &fake)]).await;

    // A different `iss` on the authorization response: a mix-up attack.
    let started = start(&app, "google", "/landing").await;
    let callback = consent(&fake, &started).await;
    assert_eq!(param(&callback, "iss"), Some(fake.uri()));
    let response = deliver(&app, &with_param(&callback, "iss", Some("https://accounts.evil.example"))).await;
    assert_signin_error(&response, "issuer_mismatch", Some("/landing"));

    // No `iss` although discovery promised one.
    let started = start(&app, "google", "/landing").await;
    let callback = consent(&fake, &started).await;
    let response = deliver(&app, &with_param(&callback, "iss", None)).await;
    assert_signin_error(&response, "issuer_mismatch", Some("/landing"));

    // Neither mismatch reached the token endpoint.
    assert!(fake.token_requests().await.is_empty());

    // The right `iss` signs in.
    let started = start(&app, "google", "/landing").await;
    let (response, code) = finish(&app, &fake, &started).await;
    assert_signed_in(&response, &started, "/landing");
    assert_token_request(&fake, &started, &code).await;
}

// ---------------------------------------------------------------------------
// GitLab (OIDC, issuer from base_url)

#[tokio::test]
async fn gitlab_sign_in_from_base_url_merges_groups_from_userinfo() {
    let (fake, app) = setup(Preset::GitLab, "gitlab").await;
    let session = sign_in(&app, &fake, "gitlab", &["openid", "email", "profile"]).await;

    assert_eq!(
        identity(&app).await,
        expect(&[
            ("x-auth-user", Some("1234567")),
            ("x-auth-username", Some("jdoe")),
            ("x-auth-email", Some("jane@example.com")),
            ("x-auth-name", Some("Jane Doe")),
            ("x-auth-provider", Some("gitlab")),
            ("x-auth-groups", Some("acme,acme/platform,acme/platform/infra")),
        ])
    );
    assert_eq!(session["user"]["avatar_url"], fake.url("/uploads/-/system/user/avatar/1234567/avatar.png"));
    // The ID token has no `groups`, so userinfo was asked, with the access token.
    let userinfo = fake.requests_to("/oauth/userinfo").await;
    assert_eq!(userinfo.len(), 1);
    let token = fake.access_tokens().pop().unwrap();
    assert_eq!(userinfo[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {token}"));
}

#[tokio::test]
async fn gitlab_unverified_email_is_not_used() {
    let (fake, app) = setup(Preset::GitLab, "gitlab").await;
    fake.set_id_token_claims(json!({
        "sub": "1234567",
        "name": "Jane Doe",
        "preferred_username": "jdoe",
        "email": "jane@unverified.example",
        "email_verified": false,
        "groups_direct": ["acme"]
    }));
    fake.set_profile(json!({
        "sub": "1234567",
        "email": "jane@unverified.example",
        "email_verified": false,
        "groups": ["acme"]
    }));
    sign_in(&app, &fake, "gitlab", &["openid", "email", "profile"]).await;
    let headers = identity(&app).await;
    assert_eq!(headers["x-auth-user"].as_deref(), Some("1234567"));
    assert_eq!(headers["x-auth-email"], None);
    assert_eq!(headers["x-auth-groups"].as_deref(), Some("acme"));
}

// ---------------------------------------------------------------------------
// Generic OAuth 2.0

#[tokio::test]
async fn generic_oauth2_maps_dotted_claims_and_groups() {
    let (fake, app) = setup(Preset::OAuth2, "mission").await;
    let session = sign_in(&app, &fake, "mission", &["profile", "roles"]).await;

    assert_eq!(
        identity(&app).await,
        expect(&[
            ("x-auth-user", Some("90210")),
            ("x-auth-username", Some("mhamilton")),
            ("x-auth-email", Some("margaret@example.org")),
            ("x-auth-name", Some("Margaret Hamilton")),
            ("x-auth-provider", Some("mission")),
            ("x-auth-groups", Some("apollo,guidance,software")),
        ])
    );
    assert_eq!(session["user"]["avatar_url"], "https://cdn.example.org/avatars/90210.png");
    assert_eq!(session["user"]["groups"], json!(["apollo", "guidance", "software"]));
}

// ---------------------------------------------------------------------------
// Callback failures, against one fake provider

#[tokio::test]
async fn access_denied_at_the_provider() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let started = start(&app, "github", "/landing").await;
    let response = app
        .get(&format!(
            "/auth/callback/github?error=access_denied&error_description=The+user+has+denied+your+application+access.\
             &error_uri=https%3A%2F%2Fdocs.github.com&state={}",
            started.state
        ))
        .await;
    assert_signin_error(&response, "access_denied", Some("/landing"));
    assert!(removes_flow_cookie(&response, &started));

    // An error the provider may recover from is provider_unavailable; any
    // other is a provider_error.
    for (error, code) in [("temporarily_unavailable", "provider_unavailable"), ("invalid_scope", "provider_error")] {
        let started = start(&app, "github", "/landing").await;
        let response = app.get(&format!("/auth/callback/github?error={error}&state={}", started.state)).await;
        assert_signin_error(&response, code, Some("/landing"));
    }
    assert!(fake.token_requests().await.is_empty());
}

#[tokio::test]
async fn tampered_state_is_invalid_state() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let started = start(&app, "github", "/landing").await;
    let callback = consent(&fake, &started).await;
    // The same flow cookie, a different state.
    let mut tampered = started.state.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let response = deliver(&app, &with_param(&callback, "state", Some(&tampered))).await;
    assert_signin_error(&response, "invalid_state", Some("/landing"));
    assert!(set_cookies(response.headers()).is_empty(), "a forged callback ends no flow in progress");
    assert!(fake.token_requests().await.is_empty());

    // No state at all.
    let response = deliver(&app, &with_param(&callback, "state", None)).await;
    assert_signin_error(&response, "invalid_state", None);

    // The real callback still finishes.
    let response = deliver(&app, &callback).await;
    assert_signed_in(&response, &started, "/landing");
}

#[tokio::test]
async fn callback_without_a_flow_cookie_is_flow_expired() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let started = start(&app, "github", "/landing").await;
    let callback = consent(&fake, &started).await;
    // Another browser (no cookies) delivers the callback.
    let stranger = crate::helpers::client();
    let response =
        stranger.get(app.url(&format!("{}?{}", callback.path(), callback.query().unwrap()))).send().await.unwrap();
    assert_signin_error(&response, "flow_expired", None);
    assert!(fake.token_requests().await.is_empty());
}

#[tokio::test]
async fn flow_older_than_its_lifetime_is_flow_expired() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let started = start(&app, "github", "/landing").await;
    let callback = consent(&fake, &started).await;
    app.clock.advance(601);
    let response = deliver(&app, &callback).await;
    assert_signin_error(&response, "flow_expired", None);
    assert!(removes_flow_cookie(&response, &started));
    assert!(fake.token_requests().await.is_empty());
}

#[tokio::test]
async fn callback_for_another_provider_is_provider_mismatch() {
    let github = FakeProvider::start(Preset::GitHub).await;
    let discord = FakeProvider::start(Preset::Discord).await;
    let app = app_with(&[("github", &github), ("discord", &discord)]).await;
    let started = start(&app, "github", "/landing").await;
    let callback = consent(&github, &started).await;
    let response = app.get(&format!("/auth/callback/discord?{}", callback.query().unwrap())).await;
    assert_signin_error(&response, "provider_mismatch", Some("/landing"));
    assert!(removes_flow_cookie(&response, &started));
    assert!(github.token_requests().await.is_empty());
    assert!(discord.token_requests().await.is_empty());
}

#[tokio::test]
async fn token_endpoint_down_is_provider_unavailable() {
    let fake = FakeProvider::start(Preset::GitHub).await;
    let mut table = fake.settings();
    table.token_url = Some(format!("http://127.0.0.1:{}/login/oauth/access_token", closed_port()));
    let app = app_with_tables(vec![("github", table)]).await;
    let started = start(&app, "github", "/landing").await;
    let (response, _) = finish(&app, &fake, &started).await;
    assert_signin_error(&response, "provider_unavailable", Some("/landing"));
    assert!(removes_flow_cookie(&response, &started));
}

#[tokio::test]
async fn token_endpoint_answering_500_garbage_is_a_documented_error() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    Mock::given(method("POST"))
        .and(path(Preset::GitHub.token_path()))
        .respond_with(
            ResponseTemplate::new(500).set_body_raw("<html><body><h1>500 Internal Server Error</h1>", "text/html"),
        )
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let started = start(&app, "github", "/landing").await;
    let (response, _) = finish(&app, &fake, &started).await;
    let error = signin_error(&response);
    assert_eq!(error, "provider_unavailable", "a 5xx with a non-JSON body means the provider is down");
    assert_signin_error(&response, &error, Some("/landing"));
    assert_eq!(fake.token_requests().await.len(), 1);
}

#[tokio::test]
async fn malformed_callbacks_are_refused() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    // An oversized code.
    let started = start(&app, "github", "/landing").await;
    let code = "a".repeat(5000);
    let response = app.get(&format!("/auth/callback/github?code={code}&state={}", started.state)).await;
    assert_signin_error(&response, "invalid_request", Some("/landing"));

    // No code.
    let started = start(&app, "github", "/landing").await;
    let response = app.get(&format!("/auth/callback/github?state={}", started.state)).await;
    assert_signin_error(&response, "invalid_request", Some("/landing"));

    // An oversized state.
    let response = app.get(&format!("/auth/callback/github?code=abc&state={}", "s".repeat(5000))).await;
    assert_signin_error(&response, "invalid_state", None);
    assert!(fake.token_requests().await.is_empty());
}

#[tokio::test]
async fn unknown_provider_is_refused() {
    let (_fake, app) = setup(Preset::GitHub, "github").await;
    let response = app.get("/auth/signin/gitbucket?redirect_to=/landing").await;
    assert_signin_error(&response, "unknown_provider", Some("/landing"));
    assert!(set_cookies(response.headers()).iter().all(|c| !c.name.starts_with("sealgate-flow-")));

    let response = app.get("/auth/callback/gitbucket?code=abc&state=def").await;
    assert_signin_error(&response, "unknown_provider", None);
}

// ---------------------------------------------------------------------------
// Starting sign-ins

#[tokio::test]
async fn two_sign_ins_in_two_tabs_can_both_finish() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    let first = start(&app, "github", "/tab-one").await;
    let second = start(&app, "github", "/tab-two").await;
    assert_ne!(first.flow.name, second.flow.name);
    let first_callback = consent(&fake, &first).await;
    let second_callback = consent(&fake, &second).await;

    let response = deliver(&app, &first_callback).await;
    assert_signed_in(&response, &first, "/tab-one");
    let response = deliver(&app, &second_callback).await;
    assert_signed_in(&response, &second, "/tab-two");
    assert_eq!(identity(&app).await["x-auth-user"].as_deref(), Some("583231"));
    assert_eq!(fake.token_requests().await.len(), 2);
}

#[tokio::test]
async fn starting_a_sign_in_leaves_the_current_session_until_the_callback() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    app.sign_in_as_alice().await;
    assert_eq!(identity(&app).await["x-auth-user"].as_deref(), Some("alice"));

    // A cross-site link to the start must not sign anyone out.
    let started = start(&app, "github", "/landing").await;
    assert_eq!(identity(&app).await["x-auth-user"].as_deref(), Some("alice"));
    let (response, _) = finish(&app, &fake, &started).await;
    assert_signed_in(&response, &started, "/landing");
    assert_eq!(identity(&app).await["x-auth-user"].as_deref(), Some("583231"));
}

#[tokio::test]
async fn sign_in_can_start_with_json() {
    let (fake, app) = setup(Preset::GitHub, "github").await;
    for accept_header in [false, true] {
        let request = if accept_header {
            app.client.get(app.url("/auth/signin/github?redirect_to=/landing")).header("Accept", "application/json")
        } else {
            app.client.get(app.url("/auth/signin/github?redirect_to=/landing&format=json"))
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "accept header: {accept_header}");
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        assert!(header(&response, "content-type").unwrap().starts_with("application/json"));
        let flow = flow_cookie(response.headers());
        let body: Value = response.json().await.unwrap();
        let authorize = Url::parse(body["url"].as_str().unwrap()).unwrap();
        let state = param(&authorize, "state").unwrap();
        let started = Started { id: "github".into(), authorize, state, flow };
        assert_authorization_request(&started, &fake, &["read:user", "user:email"]);

        let (response, _) = finish(&app, &fake, &started).await;
        assert_signed_in(&response, &started, "/landing");
    }
}

#[tokio::test]
async fn signin_page_lists_every_provider() {
    let github = FakeProvider::start(Preset::GitHub).await;
    let discord = FakeProvider::start(Preset::Discord).await;
    let mission = FakeProvider::start(Preset::OAuth2).await;
    let app = app_with(&[("github", &github), ("discord", &discord), ("mission", &mission)]).await;
    let response = app.get("/auth/signin?redirect_to=/landing").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    for (id, name) in [("github", "GitHub"), ("discord", "Discord"), ("mission", "Mission Control")] {
        let href = format!("href=\"/auth/signin/{id}?redirect_to=%2Flanding\"");
        assert!(page.contains(&href), "no {href} in {page}");
        assert!(page.contains(&format!("Sign in with {name}")), "no button for {name}");
    }
    // The button starts that provider's sign-in.
    let response = app.get("/auth/signin/discord?redirect_to=%2Flanding").await;
    assert_eq!(response.status(), 302);
    assert!(location(&response).starts_with(&discord.url(Preset::Discord.authorize_path())));
}

/// GitHub gives no refresh token: what its tokens become after the hour
/// sealgate counts them valid for.
mod without_refresh_token {
    use super::*;
    use sealgate::config::WithoutRefreshToken;

    fn access_token(response: &reqwest::Response) -> Option<String> {
        header(response, "x-auth-access-token").map(str::to_owned)
    }

    async fn github_signed_in(policy: WithoutRefreshToken) -> (FakeProvider, TestApp, String) {
        let fake = FakeProvider::start(Preset::GitHub).await;
        let mut table = fake.settings();
        table.pass_access_token = true;
        let app = spawn_app_with(|s| {
            s.providers.insert("github".into(), table);
            s.tokens.without_refresh_token = policy;
            s.tokens.endpoint = true;
        })
        .await;
        fake.use_clock(&app.clock);
        let started = start(&app, "github", "/").await;
        let (response, _) = finish(&app, &fake, &started).await;
        let session = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
        (fake, app, format!("sealgate={}", session.value))
    }

    #[tokio::test]
    async fn github_tokens_count_as_expired_after_an_hour_and_the_session_stays() {
        let (_fake, app, cookie) = github_signed_in(WithoutRefreshToken::KeepSession).await;
        app.clock.advance(59 * 60 + 59);
        let fresh = app.get_with_cookie("/auth/verify", &cookie).await;
        assert!(access_token(&fresh).is_some(), "fresh at 59:59");
        app.clock.advance(1);
        let expired = app.get_with_cookie("/auth/verify", &cookie).await;
        assert_eq!(expired.status(), 200, "the session stays (keep_session, the default)");
        assert!(access_token(&expired).is_none(), "stale at 60:00, and never passed");
        assert!(set_cookies(expired.headers()).is_empty());
        let token = app.get_with_cookie("/auth/token", &cookie).await;
        assert_eq!(token.status(), 401);
        assert!(header(&token, "www-authenticate").unwrap().contains("invalid_token"));
        assert_eq!(token.json::<serde_json::Value>().await.unwrap()["error"], "token_expired");
    }

    #[tokio::test]
    async fn with_end_session_an_expired_github_token_signs_the_person_out() {
        let (_fake, app, cookie) = github_signed_in(WithoutRefreshToken::EndSession).await;
        app.clock.advance(60 * 60);
        let ended = app.get_with_cookie("/auth/verify", &cookie).await;
        assert_eq!(ended.status(), 401);
        assert!(set_cookies(ended.headers()).iter().any(|c| c.name == "sealgate" && c.is_removal()));
    }
}
