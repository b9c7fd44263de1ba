//! Logout the IdP asks for. Back-channel (OpenID Connect Back-Channel
//! Logout 1.0): a person ends their session at the real test IdP, the IdP
//! posts a logout token to `/auth/backchannel-logout/corp`, and the
//! sessions signed in through that IdP session (by `sid`), or all of that
//! person's (by `sub` alone), are refused at once, on the local store and on
//! Redis; hand-made logout tokens signed with the IdP's key are refused for
//! every reason the spec gives, with a 400 that says why. Front-channel
//! (Front-Channel Logout 1.0): the IdP's iframe URL with the `sid` it put in
//! the ID token ends those sessions and clears the browser's cookie.

use crate::helpers::{
    captured_logs, header, on_store, set_cookies, Spawn, TestApp, ALICE as PASSWORD_ALICE, ALICE_PASSWORD,
};
use crate::support::idp::{authorize_at_idp_in, idp_browser, oidc_provider, Answer, IdpOptions, TestIdp, CLIENT_ID};
use crate::support::network::free_port;
use crate::support::oidc::{deliver, start, tokens_in, ALICE, CALLBACK};
use crate::support::redis_server::RedisServer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Client, Response};
use sealgate::clock::Clock;
use sealgate::config::store::StoreKind;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const BOB: Answer<'static> = Answer::SignIn { login: "bob", password: "bob-password" };

/// Which store the gateway keeps its state in.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Local,
    Redis,
}

/// The test IdP and the gateway, the IdP told to post logout tokens to the
/// gateway's back-channel endpoint for `corp` (with `sid` in ID tokens and
/// logout tokens when `session_required`).
struct Gate {
    idp: TestIdp,
    app: TestApp,
    _redis: Option<RedisServer>,
}

async fn gate(kind: Kind, session_required: bool) -> Gate {
    let redis = matches!(kind, Kind::Redis).then(RedisServer::start);
    let idp = TestIdp::start(IdpOptions { redirect_uris: vec![CALLBACK.into()], ..IdpOptions::default() }).await;
    let provider = idp.provider();
    let app = Spawn::new()
        .configure(|s| {
            s.providers.insert("corp".into(), provider);
            on_store(s, redis.as_ref());
        })
        .ready()
        .run()
        .await;
    idp.set_client(json!({
        "backchannel_logout_uri": app.url("/auth/backchannel-logout/corp"),
        "backchannel_logout_session_required": session_required,
    }))
    .await;
    Gate { idp, app, _redis: redis }
}

impl Gate {
    /// Sign in through the IdP in `browser` (which keeps the IdP session);
    /// the gateway's session cookie as a Cookie header.
    async fn sign_in(&self, browser: &Client, answer: Answer<'_>) -> String {
        let (authorize, _) = start(&self.app, "/").await;
        let callback = authorize_at_idp_in(browser, &authorize, answer, CALLBACK).await;
        let response = deliver(&self.app, &callback).await;
        assert_eq!(response.status(), 302);
        let session = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").expect("signed in");
        format!("sealgate={}", session.value)
    }

    async fn verify(&self, cookie: &str) -> u16 {
        self.app.get_with_cookie("/auth/verify", cookie).await.status().as_u16()
    }

    /// The IdP's back-channel logout requests so far: `(ok, failed)`.
    async fn logouts_sent(&self) -> (u64, u64) {
        let stats = self.idp.stats().await;
        let count = |name: &str| stats["backchannel_logouts"][name].as_u64().unwrap();
        (count("ok"), count("failed"))
    }

    /// The gateway's clock, set to the wall clock: logout tokens from the
    /// IdP carry the real `iat`.
    fn catch_up(&self) {
        self.app.clock.set(chrono::Utc::now().timestamp());
    }

    /// A logout token the IdP could send now: for `corp`'s client, a fresh
    /// `jti`, the event, and `claims` on top (null removes one).
    async fn logout_token(&self, header: Value, claims: Value) -> String {
        let now = self.app.clock.now();
        let mut all = json!({
            "iss": self.idp.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()),
            "events": { EVENT: {} },
        });
        for (name, value) in claims.as_object().unwrap() {
            if value.is_null() {
                all.as_object_mut().unwrap().remove(name);
            } else {
                all[name] = value.clone();
            }
        }
        self.idp.sign(header, all).await
    }

    async fn post_logout(&self, body: &[(&str, &str)]) -> Response {
        Client::new().post(self.app.url("/auth/backchannel-logout/corp")).form(body).send().await.unwrap()
    }
}

/// The IdP's `sid` in the ID token a session cookie carries.
fn sid_in(app: &TestApp, cookie: &str) -> String {
    let id_token = tokens_in(app, cookie).id_token.expect("an ID token");
    let payload = id_token.expose_secret().split('.').nth(1).unwrap().to_owned();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().expect("the IdP puts sid in the ID token").to_owned()
}

async fn an_idp_logout_ends_the_sessions_of_that_idp_session(kind: Kind) {
    let gate = gate(kind, true).await;
    let (laptop, phone, other_person) = (idp_browser(), idp_browser(), idp_browser());
    let alice = gate.sign_in(&laptop, ALICE).await;
    let alice_phone = gate.sign_in(&phone, ALICE).await;
    let bob = gate.sign_in(&other_person, BOB).await;
    assert_eq!((gate.verify(&alice).await, gate.verify(&bob).await), (200, 200));
    assert_ne!(sid_in(&gate.app, &alice), sid_in(&gate.app, &alice_phone), "two IdP sessions");

    gate.catch_up();
    gate.idp.end_session(&laptop).await;

    assert_eq!(gate.logouts_sent().await, (1, 0), "the gateway answered the logout token 200");
    assert_eq!(gate.verify(&alice).await, 401, "alice's session ended with her IdP session");
    assert_eq!(gate.verify(&alice_phone).await, 200, "her phone's IdP session goes on: the token named a sid");
    assert_eq!(gate.verify(&bob).await, 200, "bob's is another IdP session");
}

#[tokio::test]
async fn an_idp_logout_ends_the_sessions_of_that_idp_session_on_the_local_store() {
    an_idp_logout_ends_the_sessions_of_that_idp_session(Kind::Local).await
}

#[tokio::test]
async fn an_idp_logout_ends_the_sessions_of_that_idp_session_on_redis() {
    an_idp_logout_ends_the_sessions_of_that_idp_session(Kind::Redis).await
}

async fn a_logout_token_naming_only_the_person_ends_all_their_sessions(kind: Kind) {
    let gate = gate(kind, false).await;
    let (laptop, phone, other_person) = (idp_browser(), idp_browser(), idp_browser());
    let alice_laptop = gate.sign_in(&laptop, ALICE).await;
    let alice_phone = gate.sign_in(&phone, ALICE).await;
    let bob = gate.sign_in(&other_person, BOB).await;

    gate.catch_up();
    gate.idp.end_session(&laptop).await;

    assert_eq!(gate.logouts_sent().await, (1, 0));
    assert_eq!(gate.verify(&alice_laptop).await, 401);
    assert_eq!(gate.verify(&alice_phone).await, 401, "sub alone: every session of hers from this IdP");
    assert_eq!(gate.verify(&bob).await, 200);
    // Signing in again afterwards works (the mark covers earlier sessions only).
    gate.app.clock.advance(1);
    let again = gate.sign_in(&idp_browser(), ALICE).await;
    assert_eq!(gate.verify(&again).await, 200);
}

#[tokio::test]
async fn a_logout_token_naming_only_the_person_ends_all_their_sessions_on_the_local_store() {
    a_logout_token_naming_only_the_person_ends_all_their_sessions(Kind::Local).await
}

#[tokio::test]
async fn a_logout_token_naming_only_the_person_ends_all_their_sessions_on_redis() {
    a_logout_token_naming_only_the_person_ends_all_their_sessions(Kind::Redis).await
}

#[tokio::test]
async fn a_sub_is_a_user_at_its_issuer_only() {
    let gate = gate(Kind::Local, false).await;
    let idp_alice = gate.sign_in(&idp_browser(), ALICE).await;
    let response = gate.app.sign_in(PASSWORD_ALICE, ALICE_PASSWORD).await;
    let cookie = set_cookies(response.headers()).into_iter().find(|c| c.name == gate.app.cookie_name()).unwrap();
    let password_alice = format!("{}={}", cookie.name, cookie.value);

    // The IdP names someone "alice": not the password user of that name.
    let token = gate.logout_token(json!({}), json!({"sub": PASSWORD_ALICE})).await;
    assert_eq!(gate.post_logout(&[("logout_token", &token)]).await.status(), 200);
    assert_eq!(gate.verify(&password_alice).await, 200, "a password session is not the IdP's to end");
    assert_eq!(gate.verify(&idp_alice).await, 200);

    let token = gate.logout_token(json!({}), json!({"sub": "alice-sub"})).await;
    assert_eq!(gate.post_logout(&[("logout_token", &token)]).await.status(), 200);
    assert_eq!(gate.verify(&idp_alice).await, 401);
    assert_eq!(gate.verify(&password_alice).await, 200);
}

/// A logout refused with 400 `invalid_request` and a reason; the token is
/// not echoed.
async fn assert_refused(gate: &Gate, token: &str, why: &str) {
    let response = gate.post_logout(&[("logout_token", token)]).await;
    assert_eq!(response.status(), 400, "{why}");
    assert_eq!(header(&response, "cache-control"), Some("no-store"), "{why}");
    let body = response.text().await.unwrap();
    assert!(!body.contains(token), "{why}: the token is echoed: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "invalid_request", "{why}: {body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{why}: {body}");
}

#[tokio::test]
async fn hand_made_logout_tokens_are_refused_for_every_reason_the_spec_gives() {
    let gate = gate(Kind::Local, true).await;
    let alice = gate.sign_in(&idp_browser(), ALICE).await;
    let sid = sid_in(&gate.app, &alice);
    let for_alice = |more: Value| {
        let mut claims = json!({"sid": sid, "sub": "alice-sub"});
        for (name, value) in more.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };

    // Signed by another key under the IdP's kid, or changed after signing.
    let genuine = gate.logout_token(json!({}), for_alice(json!({}))).await;
    let kid = {
        let header = genuine.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    let forged = {
        use josekit::jws::{JwsHeader, RS256};
        let pair = RS256.generate_key_pair(2048).unwrap();
        let signer = RS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        let mut header = JwsHeader::new();
        header.set_key_id(&kid);
        let payload = genuine.split('.').nth(1).unwrap();
        let signed = josekit::jws::serialize_compact(&URL_SAFE_NO_PAD.decode(payload).unwrap(), &header, &signer);
        signed.unwrap()
    };
    assert_refused(&gate, &forged, "signed with a key that is not the IdP's").await;
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"iss": gate.idp.issuer, "aud": CLIENT_ID, "sub": "bob-sub", "sid": "x"})).unwrap(),
    );
    assert_refused(&gate, &parts.join("."), "claims changed after signing").await;

    let now = gate.app.clock.now();
    for (header, claims, why) in [
        (json!({}), for_alice(json!({"iss": "https://evil.example"})), "another issuer"),
        (json!({}), for_alice(json!({"aud": "another-client"})), "another audience"),
        (json!({}), for_alice(json!({"nonce": "n"})), "a nonce: an ID token, not a logout token"),
        (json!({}), for_alice(json!({"events": null})), "no events"),
        (json!({}), for_alice(json!({"events": {EVENT: "yes"}})), "an event that is not an object"),
        (json!({}), for_alice(json!({"events": {"http://schemas.openid.net/event/other": {}}})), "another event"),
        (json!({}), json!({"sid": null, "sub": null}), "neither sid nor sub"),
        (json!({}), for_alice(json!({"jti": null})), "no jti"),
        (json!({}), for_alice(json!({"iat": null})), "no iat"),
        (json!({}), for_alice(json!({"iat": now - 3600, "exp": now + 60})), "issued an hour ago"),
        (json!({}), for_alice(json!({"iat": now + 3600, "exp": now + 7200})), "issued an hour from now"),
        (json!({}), for_alice(json!({"exp": now - 1})), "expired"),
        (json!({"typ": "at+jwt"}), for_alice(json!({})), "an access token's typ"),
        (json!({"alg": "none"}), for_alice(json!({})), "alg none"),
        (json!({"alg": "HS256"}), for_alice(json!({})), "alg HS256"),
        (json!({"alg": "ES256"}), for_alice(json!({})), "an alg the IdP does not sign ID tokens with"),
        (json!({"kid": "no-such-key"}), for_alice(json!({})), "a key the IdP does not publish"),
    ] {
        let token = gate.logout_token(header, claims).await;
        assert_refused(&gate, &token, why).await;
    }
    for (body, why) in [
        (vec![("logout_token", "garbage")], "garbage"),
        (vec![("logout_token", "")], "an empty logout_token"),
        (vec![("token", genuine.as_str())], "no logout_token field"),
        (vec![("logout_token", genuine.as_str()), ("logout_token", genuine.as_str())], "two logout_tokens"),
    ] {
        let response = gate.post_logout(&body).await;
        assert_eq!(response.status(), 400, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{why}");
    }
    let binary = Client::new()
        .post(gate.app.url("/auth/backchannel-logout/corp"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, 0x00, 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), 400, "bytes that are no form");
    let oversized = format!("logout_token={}", "a".repeat(20 * 1024));
    let response = Client::new()
        .post(gate.app.url("/auth/backchannel-logout/corp"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413, "a body over the limit");
    assert_eq!(gate.verify(&alice).await, 200, "no refused token ended anything");

    // A jti is spent once: the same token again is a replay (it names an
    // IdP session nobody here has, so the first use ends nothing).
    let elsewhere = gate.logout_token(json!({"typ": "JWT"}), json!({"sid": "another-idp-session"})).await;
    let first = gate.post_logout(&[("logout_token", &elsewhere)]).await;
    assert_eq!(first.status(), 200, "a plain JWT typ is tolerated");
    assert_refused(&gate, &elsewhere, "replayed jti").await;
    assert_eq!(gate.verify(&alice).await, 200);

    // And a good one, typed logout+jwt, ends her session.
    let token = gate.logout_token(json!({"typ": "logout+jwt"}), for_alice(json!({}))).await;
    let response = gate.post_logout(&[("logout_token", &token)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(gate.verify(&alice).await, 401);
    let logs = captured_logs();
    assert!(!logs.contains(&token) && !logs.contains(&genuine) && !logs.contains(&sid), "no token nor sid is logged");
}

#[tokio::test]
async fn without_a_store_or_an_oidc_provider_the_endpoints_say_so() {
    let closed = free_port();
    let app = Spawn::new()
        .configure(|s| {
            s.store.kind = StoreKind::None;
            s.oauth.discovery_attempts = 1;
            s.providers.insert("corp".into(), oidc_provider(&format!("http://127.0.0.1:{closed}")));
            let github = json!({"kind": "github", "client_id": "id", "client_secret": "a-client-secret"});
            s.providers.insert("gh".into(), serde_json::from_value(github).unwrap());
        })
        .run()
        .await;
    let post = |provider: &str| {
        let url = app.url(&format!("/auth/backchannel-logout/{provider}"));
        async move { Client::new().post(url).form(&[("logout_token", "a.b.c")]).send().await.unwrap() }
    };
    for (provider, code) in
        [("corp", "sessions_unavailable"), ("gh", "not_an_oidc_provider"), ("nope", "unknown_provider")]
    {
        let response = post(provider).await;
        assert_eq!(response.status(), 404, "{provider}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], code, "{provider}");
        let front = app.get(&format!("/auth/frontchannel-logout/{provider}?iss=x&sid=y")).await;
        assert_eq!(front.status(), 404, "{provider}");
        assert_eq!(front.json::<Value>().await.unwrap()["error"], code, "{provider}");
    }
}

#[tokio::test]
async fn the_frontchannel_url_with_the_idp_sid_ends_those_sessions_and_clears_the_cookie() {
    let gate = gate(Kind::Local, true).await;
    let alice = gate.sign_in(&idp_browser(), ALICE).await;
    let bob = gate.sign_in(&idp_browser(), BOB).await;
    let (alice_sid, bob_sid) = (sid_in(&gate.app, &alice), sid_in(&gate.app, &bob));
    let url = |iss: Option<&str>, sid: Option<&str>| {
        let mut url = url::Url::parse(&gate.app.url("/auth/frontchannel-logout/corp")).unwrap();
        if let Some(iss) = iss {
            url.query_pairs_mut().append_pair("iss", iss);
        }
        if let Some(sid) = sid {
            url.query_pairs_mut().append_pair("sid", sid);
        }
        format!("{}?{}", url.path(), url.query().unwrap_or(""))
    };
    let issuer = gate.idp.issuer.as_str();
    for (path, why) in [
        (url(None, Some(&alice_sid)), "no iss"),
        (url(Some("https://evil.example"), Some(&alice_sid)), "another issuer"),
        (url(Some(issuer), None), "no sid"),
    ] {
        let response = gate.app.get_with_cookie(&path, &alice).await;
        assert_eq!(response.status(), 400, "{why}");
        assert!(set_cookies(response.headers()).is_empty(), "{why}: the cookie stays");
    }
    assert_eq!(gate.verify(&alice).await, 200);

    // Bob's IdP session ends, loaded in Alice's browser: hers stays, cookie and all.
    let response = gate.app.get_with_cookie(&url(Some(issuer), Some(&bob_sid)), &alice).await;
    assert_eq!(response.status(), 200);
    assert!(set_cookies(response.headers()).is_empty(), "not her IdP session");
    assert_eq!((gate.verify(&alice).await, gate.verify(&bob).await), (200, 401));

    let response = gate.app.get_with_cookie(&url(Some(issuer), Some(&alice_sid)), &alice).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let csp = header(&response, "content-security-policy").unwrap().to_owned();
    assert!(csp.contains(&format!("frame-ancestors {issuer};")), "only the IdP may frame it: {csp}");
    assert!(set_cookies(response.headers()).iter().any(|c| c.name == "sealgate" && c.is_removal()), "cookie cleared");
    assert!(response.text().await.unwrap().contains("Signed out"));
    assert_eq!(gate.verify(&alice).await, 401, "a copy of the cookie is refused too");
}
