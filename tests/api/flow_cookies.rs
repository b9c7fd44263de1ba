//! Flow cookies against a cookie bomb, and sign-in starts that leave the
//! current session alone, with a real OpenID Provider and a real cookie jar.

use crate::helpers::wait_ready;
use crate::helpers::{location, set_cookies, spawn_app_with, TestApp};
use crate::support::idp::{authorize_at_idp, IdpOptions, TestIdp};
use crate::support::oidc::{error_of, ALICE, CALLBACK};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use std::sync::Arc;
use url::Url;

async fn setup() -> (TestIdp, TestApp) {
    let idp = TestIdp::start(IdpOptions { redirect_uris: vec![CALLBACK.into()], ..IdpOptions::default() }).await;
    let provider = idp.provider();
    let app = spawn_app_with(|s| {
        s.providers.insert("corp".into(), provider);
    })
    .await;
    wait_ready(&app).await;
    (idp, app)
}

/// A browser: a cookie jar we can look into, no redirects followed.
struct Browser {
    jar: Arc<Jar>,
    client: reqwest::Client,
}

impl Browser {
    fn new() -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder().redirect(Policy::none()).cookie_provider(jar.clone()).build().unwrap();
        Browser { jar, client }
    }

    async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.client.get(app.url(path)).send().await.unwrap()
    }

    /// The `Cookie` header the browser would send to the app.
    fn cookie_header(&self, app: &TestApp) -> String {
        let url = Url::parse(&app.url("/")).unwrap();
        self.jar.cookies(&url).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    fn flow_cookies(&self, app: &TestApp) -> Vec<String> {
        self.cookie_header(app)
            .split("; ")
            .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.to_owned()))
            .filter(|name| name.starts_with("sealgate-flow-"))
            .collect()
    }
}

fn param(url: &str, key: &str) -> String {
    Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == key).unwrap().1.into_owned()
}

#[tokio::test]
async fn twelve_cross_site_sign_in_starts_leave_three_flow_cookies_and_the_latest_finish() {
    let (_idp, app) = setup().await;
    let browser = Browser::new();
    // A hostile page makes the browser start sign-in after sign-in, each with
    // a redirect_to as long as allowed, to fill the jar until proxies refuse it.
    let mut started = Vec::new();
    for i in 0..12 {
        let target = format!("/flow-{i:02}/{}", "a".repeat(2000));
        let response = browser.get(&app, &format!("/auth/signin/corp?redirect_to={target}")).await;
        assert_eq!(response.status(), 302, "start {i}");
        started.push((target, location(&response)));
    }
    let flows = browser.flow_cookies(&app);
    assert!(flows.len() <= 3, "the jar holds {} flow cookies: {flows:?}", flows.len());
    let header = browser.cookie_header(&app);
    assert!(header.len() < 12 * 1024, "the Cookie header grew to {} bytes", header.len());

    // The oldest flows were replaced: their callbacks find no flow of theirs.
    let (_, oldest) = &started[0];
    let stale = browser.get(&app, &format!("/auth/callback/corp?code=x&state={}", param(oldest, "state"))).await;
    assert_eq!(error_of(&stale), "invalid_state");

    // The three latest, each in its own tab, still finish.
    for (target, authorize) in &started[9..] {
        let callback = authorize_at_idp(authorize, ALICE, CALLBACK).await;
        let response = browser.get(&app, &format!("{}?{}", callback.path(), callback.query().unwrap())).await;
        assert_eq!(response.status(), 302);
        assert_eq!(&location(&response), target);
        let verified = browser.get(&app, "/auth/verify").await;
        assert_eq!(verified.headers()["x-auth-user"], "alice-sub");
    }
    assert!(browser.flow_cookies(&app).is_empty(), "finished flows leave no cookie behind");
}

/// Under 2 KB as sent, over 5 KB once parsing percent-encodes it.
pub(crate) fn growing_redirect() -> String {
    format!("http://gate.test/{}", "\u{e9}".repeat(900))
}

#[tokio::test]
async fn a_redirect_to_over_2_kb_once_parsed_is_not_carried_into_the_flow() {
    let (_idp, app) = setup().await;
    let response = app.get(&format!("/auth/signin/corp?redirect_to={}", growing_redirect())).await;
    assert_eq!(response.status(), 302);
    let flow = set_cookies(response.headers()).into_iter().find(|c| c.name.starts_with("sealgate-flow-")).unwrap();
    assert!(flow.value.len() < 1024, "the flow cookie is {} bytes", flow.value.len());
    let callback = authorize_at_idp(&location(&response), ALICE, CALLBACK).await;
    let done = app.get(&format!("{}?{}", callback.path(), callback.query().unwrap())).await;
    assert_eq!(location(&done), "/");
}

#[tokio::test]
async fn starting_a_sign_in_signs_nobody_out_until_the_callback_replaces_the_session() {
    let (_idp, app) = setup().await;
    app.sign_in_as_alice().await;
    assert_eq!(app.verify().await.headers()["x-auth-user"], "alice");

    // A cross-site link to the sign-in start.
    let response = app.get("/auth/signin/corp?redirect_to=/landing").await;
    assert_eq!(response.status(), 302);
    let cookies = set_cookies(response.headers());
    assert!(cookies.iter().all(|c| c.name.starts_with("sealgate-flow-")), "only a flow cookie is set: {cookies:?}");
    assert_eq!(app.verify().await.headers()["x-auth-user"], "alice", "still signed in");

    // Finishing the sign-in replaces the session with the new identity.
    let callback = authorize_at_idp(&location(&response), ALICE, CALLBACK).await;
    let done = app.get(&format!("{}?{}", callback.path(), callback.query().unwrap())).await;
    assert_eq!(location(&done), "/landing");
    let verified = app.verify().await;
    assert_eq!(verified.headers()["x-auth-user"], "alice-sub");
    assert_eq!(verified.headers()["x-auth-provider"], "corp");
}
