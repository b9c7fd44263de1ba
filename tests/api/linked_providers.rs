//! Linked providers (issue 24): a signed-in person links GitHub and
//! Discord (wiremock fakes) to a password session with `GET
//! /auth/link/{id}`; `/auth/session` lists the links, `/auth/verify`
//! passes `X-Auth-Access-Token-{id}` for a `pass_access_token` provider
//! only, `POST /auth/unlink/{id}` removes one, and with a store an account
//! linked to one user is refused to another.

use crate::helpers::{
    client, header, location, set_cookies, spawn_app_with, wait_ready, TestApp, ALICE, ALICE_PASSWORD, BOB,
    BOB_PASSWORD,
};
use crate::support::fakes::{FakeProvider, Preset};
use crate::support::redis_server::RedisServer;
use reqwest::header::ACCEPT;
use reqwest::{Client, Response};
use sealgate::config::store::StoreKind;
use serde_json::Value;
use url::Url;

struct Linking {
    app: TestApp,
    github: FakeProvider,
    discord: FakeProvider,
}

/// An app with GitHub (passing its token) and Discord (not) as providers.
async fn setup(configure: impl FnOnce(&mut sealgate::config::Settings)) -> Linking {
    let github = FakeProvider::start(Preset::GitHub).await;
    let discord = FakeProvider::start(Preset::Discord).await;
    let app = spawn_app_with(|settings| {
        let mut table = github.settings();
        table.pass_access_token = true;
        settings.providers.insert("github".into(), table);
        settings.providers.insert("discord".into(), discord.settings());
        configure(settings);
    })
    .await;
    wait_ready(&app).await;
    Linking { app, github, discord }
}

/// A browser (its own cookie jar) signed in with a password.
async fn browser(app: &TestApp, username: &str, password: &str) -> Client {
    let browser = client();
    let form = [("username", username), ("password", password)];
    let response = browser.post(app.url("/auth/signin/credentials")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303, "{username} signs in");
    browser
}

/// `GET /auth/link/{id}` in `browser`: the provider's authorize URL, and
/// the flow cookie (as a Cookie header pair).
async fn start_link(app: &TestApp, browser: &Client, id: &str) -> (Url, String) {
    let response = browser.get(app.url(&format!("/auth/link/{id}?redirect_to=/linked"))).send().await.unwrap();
    assert_eq!(response.status(), 302, "GET /auth/link/{id}");
    let cookies = set_cookies(response.headers());
    let flow = cookies.iter().find(|c| c.name.starts_with("sealgate-flow-")).expect("a flow cookie");
    (Url::parse(&location(&response)).unwrap(), format!("{}={}", flow.name, flow.value))
}

/// The provider's redirect back, delivered in `browser`.
async fn deliver(app: &TestApp, browser: &Client, callback: &Url) -> Response {
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    browser.get(app.url(&path)).send().await.unwrap()
}

/// Link `fake` as `id` in `browser`, end to end; sealgate's answer at the callback.
async fn link(app: &TestApp, browser: &Client, fake: &FakeProvider, id: &str) -> Response {
    let (authorize, _) = start_link(app, browser, id).await;
    let callback = fake.consent(authorize.as_str()).await;
    deliver(app, browser, &callback).await
}

async fn session(app: &TestApp, browser: &Client) -> Value {
    browser.get(app.url("/auth/session")).send().await.unwrap().json().await.unwrap()
}

async fn verify(app: &TestApp, browser: &Client) -> Response {
    browser.get(app.url("/auth/verify")).send().await.unwrap()
}

fn error_of(response: &Response) -> String {
    let location = Url::parse(&format!("http://gate.test{}", location(response))).unwrap();
    location.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_person_links_two_providers_and_unlinks_one() {
    let Linking { app, github, discord } = setup(|_| {}).await;
    let alice = browser(&app, ALICE, ALICE_PASSWORD).await;

    let response = link(&app, &alice, &github, "github").await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/linked");
    let response = link(&app, &alice, &discord, "discord").await;
    assert_eq!(location(&response), "/linked");

    // The session lists both, never a token; it is still Alice's password session.
    let body = alice.get(app.url("/auth/session")).send().await.unwrap().text().await.unwrap();
    for token in github.access_tokens().iter().chain(discord.access_tokens().iter()) {
        assert!(!body.contains(token.as_str()), "{body}");
    }
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["user"]["id"], ALICE);
    let linked = json["linked"].as_array().unwrap();
    assert_eq!(linked.len(), 2, "{json}");
    assert_eq!(linked[0]["provider"], "github");
    assert_eq!(linked[0]["id"], "583231");
    assert_eq!(linked[0]["username"], "octocat");
    assert!(linked[0]["avatar_url"].as_str().unwrap().starts_with("https://"), "{json}");
    assert_eq!(linked[0]["has_tokens"], true);
    assert_eq!(linked[1]["provider"], "discord");
    assert_eq!(linked[1]["has_tokens"], false, "discord does not pass its token: none kept");

    // `/auth/verify` passes GitHub's token (pass_access_token), not Discord's.
    let answer = verify(&app, &alice).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "x-auth-user"), Some(ALICE));
    let github_token = github.access_tokens().last().cloned().unwrap();
    assert_eq!(header(&answer, "x-auth-access-token-github"), Some(github_token.as_str()));
    assert_eq!(header(&answer, "x-auth-access-token-discord"), None);
    assert_eq!(header(&answer, "x-auth-access-token"), None, "the password session has no token of its own");

    // Unlink GitHub: gone from the session and from verify.
    let response = alice.post(app.url("/auth/unlink/github")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let json = session(&app, &alice).await;
    let linked = json["linked"].as_array().unwrap();
    assert_eq!(linked.len(), 1, "{json}");
    assert_eq!(linked[0]["provider"], "discord");
    assert_eq!(header(&verify(&app, &alice).await, "x-auth-access-token-github"), None);
    // Unlinking what is not linked is a 404 with a code.
    let response = alice.post(app.url("/auth/unlink/github")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_linked");
}

#[tokio::test]
async fn an_expired_linked_token_is_not_passed() {
    // A provider whose tokens say when they expire (GitHub's do not).
    let mission = FakeProvider::start(Preset::OAuth2).await;
    let app = spawn_app_with(|settings| {
        let mut table = mission.settings();
        table.pass_access_token = true;
        settings.providers.insert("mission".into(), table);
    })
    .await;
    wait_ready(&app).await;
    mission.use_clock(&app.clock);
    let alice = browser(&app, ALICE, ALICE_PASSWORD).await;
    assert_eq!(location(&link(&app, &alice, &mission, "mission").await), "/linked");
    let token = mission.access_tokens().last().cloned().unwrap();
    assert_eq!(header(&verify(&app, &alice).await, "x-auth-access-token-mission"), Some(token.as_str()));
    // The token lives an hour; linked tokens are not refreshed.
    app.clock.advance(3599);
    assert!(header(&verify(&app, &alice).await, "x-auth-access-token-mission").is_some());
    app.clock.advance(1);
    let answer = verify(&app, &alice).await;
    assert_eq!(answer.status(), 200, "the session itself lives on");
    assert_eq!(header(&answer, "x-auth-access-token-mission"), None);
}

#[tokio::test]
async fn linking_needs_a_signed_in_session_and_a_known_provider_other_than_ones_own() {
    let Linking { app, .. } = setup(|_| {}).await;
    let anonymous = client();
    let response = anonymous.get(app.url("/auth/link/github")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/auth/signin?redirect_to=%2Fauth%2Flink%2Fgithub");
    assert!(set_cookies(response.headers()).iter().all(|c| !c.name.contains("-flow-")));
    let response = anonymous.get(app.url("/auth/link/github")).header(ACCEPT, "application/json").send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthenticated");
    let response = anonymous.post(app.url("/auth/unlink/github")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    let alice = browser(&app, ALICE, ALICE_PASSWORD).await;
    let response = alice.get(app.url("/auth/link/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unknown_provider");
    // A redirect target off the allow-list is refused, as for a sign-in.
    let response = alice.get(app.url("/auth/link/github?success_to=https://evil.test/")).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_sessions_own_provider_cannot_be_linked() {
    let Linking { app, github, .. } = setup(|_| {}).await;
    // Sign in with GitHub itself.
    let octocat = client();
    let response = octocat.get(app.url("/auth/signin/github")).send().await.unwrap();
    let callback = github.consent(&location(&response)).await;
    assert_eq!(deliver(&app, &octocat, &callback).await.status(), 302);
    assert_eq!(session(&app, &octocat).await["provider"], "github");

    let response = octocat.get(app.url("/auth/link/github")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "primary_provider");
}

#[tokio::test]
async fn a_link_flow_finishes_only_in_the_session_that_started_it() {
    let Linking { app, github, .. } = setup(|_| {}).await;
    let alice = browser(&app, ALICE, ALICE_PASSWORD).await;
    let (authorize, flow) = start_link(&app, &alice, "github").await;
    let callback = github.consent(authorize.as_str()).await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap());

    // Alice's flow cookie, replayed with Bob's session.
    let bob = app.signed_in_cookie(BOB, BOB_PASSWORD).await;
    let response = app.get_with_cookie(&path, &format!("{bob}; {flow}")).await;
    assert_eq!(response.status(), 302);
    assert_eq!(error_of(&response), "link_session_changed");
    assert!(set_cookies(response.headers()).iter().all(|c| c.name != app.cookie_name()), "Bob's session is untouched");
    let bob_session: Value = app.get_with_cookie("/auth/session", &bob).await.json().await.unwrap();
    assert_eq!(bob_session["linked"], serde_json::json!([]));

    // With no session at all, the flow does not finish either.
    let response = app.get_with_cookie(&path, &flow).await;
    assert_eq!(error_of(&response), "link_session_changed");
    // And the code was never spent: no token request reached GitHub.
    assert!(github.token_requests().await.is_empty());
}

async fn account_already_linked(redis: Option<&RedisServer>) {
    let Linking { app, github, .. } = setup(|settings| crate::helpers::on_store(settings, redis)).await;
    let alice = browser(&app, ALICE, ALICE_PASSWORD).await;
    assert_eq!(location(&link(&app, &alice, &github, "github").await), "/linked");

    // The same GitHub account (the fake's octocat) for Bob: refused.
    let bob = browser(&app, BOB, BOB_PASSWORD).await;
    let response = link(&app, &bob, &github, "github").await;
    assert_eq!(response.status(), 302);
    assert_eq!(error_of(&response), "account_already_linked");
    assert_eq!(session(&app, &bob).await["linked"], serde_json::json!([]));
    // Alice may link it again (a new token), and once she unlinks it, Bob may.
    assert_eq!(location(&link(&app, &alice, &github, "github").await), "/linked");
    assert_eq!(alice.post(app.url("/auth/unlink/github")).send().await.unwrap().status(), 200);
    assert_eq!(location(&link(&app, &bob, &github, "github").await), "/linked");
    assert_eq!(session(&app, &bob).await["linked"][0]["id"], "583231");
}

#[tokio::test]
async fn an_account_linked_to_another_user_is_refused_on_the_local_store() {
    account_already_linked(None).await;
}

#[tokio::test]
async fn an_account_linked_to_another_user_is_refused_on_redis() {
    let redis = RedisServer::start();
    account_already_linked(Some(&redis)).await;
}

#[tokio::test]
async fn without_a_store_links_live_in_the_session_alone() {
    let Linking { app, github, .. } = setup(|settings| settings.store.kind = StoreKind::None).await;
    let alice = browser(&app, ALICE, ALICE_PASSWORD).await;
    assert_eq!(location(&link(&app, &alice, &github, "github").await), "/linked");
    let bob = browser(&app, BOB, BOB_PASSWORD).await;
    assert_eq!(location(&link(&app, &bob, &github, "github").await), "/linked");
}

#[tokio::test]
async fn a_tampered_or_oversized_flow_cookie_at_a_link_callback_is_a_redirect_not_a_500() {
    let Linking { app, .. } = setup(|_| {}).await;
    let alice = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let path = "/auth/callback/github?code=c&state=s";
    for flow in ["x.y.z.w.v".to_owned(), "A".repeat(9000)] {
        let response = app.get_with_cookie(path, &format!("{alice}; sealgate-flow-1={flow}")).await;
        assert_eq!(response.status(), 302, "flow cookie of {} bytes", flow.len());
        assert_eq!(error_of(&response), "flow_expired");
    }
}

/// The browser part of linking, end to end: a password session links the
/// real test IdP through its login form in headless Chromium, sees the link
/// in `/auth/session`, and unlinks it with a same-origin POST.
#[tokio::test]
async fn a_person_links_and_unlinks_a_provider_in_a_real_browser() {
    use crate::support::idp::{IdpOptions, TestIdp};
    // The browser posts with `Origin: http://127.0.0.1:PORT`: that is the public URL.
    let port = crate::support::network::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = TestIdp::start(IdpOptions {
        redirect_uris: vec![format!("{public}/auth/callback/corp")],
        ..Default::default()
    })
    .await;
    let app = spawn_app_with(|s| {
        s.server.listen = format!("127.0.0.1:{port}");
        s.server.public_url = public.clone();
        s.providers.insert("corp".into(), idp.provider());
    })
    .await;
    wait_ready(&app).await;
    let args: [&dyn AsRef<std::ffi::OsStr>; 12] = [
        &"--base-url",
        &app.address,
        &"--username",
        &ALICE,
        &"--password",
        &ALICE_PASSWORD,
        &"--provider",
        &"corp",
        &"--idp-login",
        &"alice",
        &"--idp-password",
        &"alice-password",
    ];
    let run = crate::support::browser_script::run("link.mjs", &args, std::time::Duration::from_secs(90)).await;
    run.assert_ok();
    let report = run.report;
    assert!(report["idp_login_url"].as_str().unwrap().starts_with(&idp.issuer), "{report}");
    assert_eq!(report["before"]["user"]["id"], ALICE, "{report}");
    assert_eq!(report["before"]["linked"], serde_json::json!([]), "{report}");
    let linked = report["linked"]["linked"].as_array().unwrap();
    assert_eq!(linked.len(), 1, "{report}");
    assert_eq!(linked[0]["provider"], "corp", "{report}");
    assert_eq!(report["linked"]["user"]["id"], ALICE, "still alice's session: {report}");
    assert_eq!(report["unlinked_status"], 200, "{report}");
    assert_eq!(report["after"]["linked"], serde_json::json!([]), "{report}");
}
