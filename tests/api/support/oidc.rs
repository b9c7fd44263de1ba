//! Signing in through sealgate at the test IdP (`idp.rs`) as provider
//! `corp`, step by step (start, answer at the IdP, deliver the callback) or
//! all at once with refreshable tokens ([`signed_in_with`]).

use crate::helpers::{location, set_cookies, SetCookie, Spawn, TestApp};
use crate::support::idp::{authorize_at_idp, Answer, IdpOptions, TestIdp};
use crate::support::network::Switch;
use sealgate::crypto::keys::KeyAlg;
use sealgate::crypto::ProviderTokens;
use std::time::Duration;
use url::Url;

/// The callback the IdP is told about for provider `corp` (on `PUBLIC_URL`).
pub const CALLBACK: &str = "http://gate.test/auth/callback/corp";
/// Alice's answer at the test IdP's sign-in form.
pub const ALICE: Answer<'static> = Answer::SignIn { login: "alice", password: "alice-password" };
/// Access tokens live 5 s at the IdP of [`signed_in_with`]; sealgate's clock is moved past that.
pub const PAST_EXPIRY: i64 = 60;

/// Start a sign-in; returns the authorize URL and the flow cookie.
pub async fn start(app: &TestApp, redirect_to: &str) -> (String, SetCookie) {
    let response = app.get(&format!("/auth/signin/corp?redirect_to={redirect_to}")).await;
    assert_eq!(response.status(), 302);
    let flow = set_cookies(response.headers()).into_iter().find(|c| c.name.starts_with("sealgate-flow-")).unwrap();
    (location(&response), flow)
}

/// What the browser would request at sealgate when the IdP redirects back.
pub async fn deliver(app: &TestApp, callback: &Url) -> reqwest::Response {
    app.get(&format!("{}?{}", callback.path(), callback.query().unwrap_or(""))).await
}

/// The error code of a callback that sent the person back to sign in.
pub fn error_of(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302);
    let url = Url::parse("http://x").unwrap().join(&location(response)).unwrap();
    assert_eq!(url.path(), "/auth/signin", "{url}");
    url.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Alice, signed in at the test IdP through sealgate.
pub struct Signed {
    pub idp: TestIdp,
    pub app: TestApp,
    /// The session cookie as a `Cookie` header.
    pub cookie: String,
    /// Between sealgate and the IdP's token endpoint.
    pub token_switch: Switch,
}

/// Alice signed in as `corp` at an IdP whose access tokens live 5 s and
/// whose refresh tokens rotate, reached for tokens through a [`Switch`];
/// sealgate passes the access token on and has `/auth/token` on.
pub async fn signed_in_with(configure: impl FnOnce(&mut sealgate::config::Settings)) -> Signed {
    signed_in_sealed_with(KeyAlg::Dir, configure).await
}

/// [`signed_in_with`], sessions sealed with a key set of `alg`.
pub async fn signed_in_sealed_with(alg: KeyAlg, configure: impl FnOnce(&mut sealgate::config::Settings)) -> Signed {
    let idp = TestIdp::start(IdpOptions {
        redirect_uris: vec![CALLBACK.into()],
        access_token_ttl: Some(5),
        rotate_refresh_tokens: true,
        ..IdpOptions::default()
    })
    .await;
    // The token endpoint is reached through a switch, so a test can take it down.
    let token_switch = Switch::to(idp.issuer.trim_start_matches("http://").to_owned()).await;
    let mut provider = idp.provider();
    provider.pass_access_token = true;
    provider.token_url = Some(format!("http://127.0.0.1:{}/token", token_switch.port));
    let app = Spawn::new()
        .alg(alg)
        .configure(|s| {
            s.providers.insert("corp".into(), provider);
            s.tokens.endpoint = true;
            // The IdP's access tokens live 5 s: keep the skew below that.
            s.tokens.refresh_skew = Duration::from_secs(1);
        })
        .configure(configure)
        .ready()
        .run()
        .await;
    let (authorize, _) = start(&app, "/").await;
    let response = deliver(&app, &authorize_at_idp(&authorize, ALICE, CALLBACK).await).await;
    let session = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").expect("signed in");
    Signed { idp, app, cookie: format!("sealgate={}", session.value), token_switch }
}

/// The provider tokens sealed in a session cookie (`Cookie` header form).
pub fn tokens_in(app: &TestApp, cookie: &str) -> ProviderTokens {
    let session = app.sessions.codec.open(cookie.split_once('=').unwrap().1).unwrap();
    app.sessions.codec.tokens(&session).unwrap().unwrap().as_ref().clone()
}

/// The new session cookie a response sets, as a `Cookie` header.
pub fn new_cookie(response: &reqwest::Response) -> Option<String> {
    set_cookies(response.headers())
        .into_iter()
        .find(|c| c.name == "sealgate" && !c.is_removal())
        .map(|c| format!("sealgate={}", c.value))
}
