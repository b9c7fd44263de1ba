//! The full authorization-code flow with PKCE against a real OpenID Provider
//! (npm `oidc-provider`), with a client that keeps cookies and does not
//! follow redirects.

use crate::helpers::{header, location, set_cookies, spawn_app_with, wait_ready, TestApp};
use crate::support::idp::{authorize_at_idp, Answer, IdpOptions, TestIdp};
use crate::support::network::free_port;
use crate::support::oidc::{deliver, error_of, start, ALICE, CALLBACK};
use secrecy::ExposeSecret;
use url::Url;

const PUBLIC: &str = "http://gate.test";

async fn setup_with(configure: impl FnOnce(&mut sealgate::config::ProviderSettings)) -> (TestIdp, TestApp) {
    let idp = TestIdp::start(IdpOptions {
        redirect_uris: vec![CALLBACK.into()],
        post_logout_redirect_uris: vec![format!("{PUBLIC}/")],
        ..IdpOptions::default()
    })
    .await;
    let mut provider = idp.provider();
    configure(&mut provider);
    let app = spawn_app_with(|s| {
        s.providers.insert("corp".into(), provider);
    })
    .await;
    wait_ready(&app).await;
    (idp, app)
}

async fn setup() -> (TestIdp, TestApp) {
    setup_with(|_| {}).await
}

fn with_param(url: &Url, key: &str, value: Option<&str>) -> Url {
    let pairs: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != key).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut out = url.clone();
    out.set_query(None);
    {
        let mut query = out.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(&k, &v);
        }
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    out
}

#[tokio::test]
async fn the_code_flow_with_pkce_signs_a_person_in() {
    let (idp, app) = setup().await;
    let (authorize, _) = start(&app, "/landing").await;
    let request = Url::parse(&authorize).unwrap();
    assert!(authorize.starts_with(&idp.issuer));
    let param = |k: &str| request.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("redirect_uri").as_deref(), Some(CALLBACK));
    assert!(param("nonce").is_some() && param("state").is_some() && param("code_challenge").is_some());

    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    let iss = callback.query_pairs().find(|(k, _)| k == "iss").map(|(_, v)| v.into_owned());
    assert_eq!(iss.as_deref(), Some(idp.issuer.as_str()), "oidc-provider sends iss (RFC 9207)");
    let response = deliver(&app, &callback).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/landing");
    let cookies = set_cookies(response.headers());
    assert!(
        cookies.iter().any(|c| c.name.starts_with("sealgate-flow-") && c.is_removal()),
        "the flow cookie is cleared"
    );

    let verified = app.verify().await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some("alice-sub"));
    assert_eq!(header(&verified, "x-auth-email"), Some("alice@example.com"));
    assert_eq!(header(&verified, "x-auth-name"), Some("Alice Liddell"));
    assert_eq!(header(&verified, "x-auth-username"), Some("alice"));
    assert_eq!(header(&verified, "x-auth-groups"), Some("admins,staff"));
    assert_eq!(header(&verified, "x-auth-provider"), Some("corp"));

    let session_cookie = cookies.iter().find(|c| c.name == "sealgate").unwrap();
    let session = app.sessions.codec.open(&session_cookie.value).unwrap();
    let tokens = app.sessions.codec.tokens(&session).unwrap().expect("the session carries the provider's tokens");
    assert!(tokens.refresh_token.is_some(), "offline_access gives a refresh token");
    assert!(tokens.id_token.is_some());
    let json = app.get("/auth/session").await.text().await.unwrap();
    assert!(!json.contains(tokens.access_token.expose_secret()), "{json}");
    assert_eq!(idp.stats().await["token_requests"]["authorization_code"], 1);
}

#[tokio::test]
async fn a_person_who_declines_comes_back_with_access_denied() {
    let (_idp, app) = setup().await;
    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, Answer::Deny, CALLBACK).await;
    assert_eq!(error_of(&deliver(&app, &callback).await), "access_denied");
    assert_eq!(app.verify().await.status(), 401);
}

#[tokio::test]
async fn a_tampered_state_is_refused() {
    let (_idp, app) = setup().await;
    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    let state = callback.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    // The same flow cookie, a different state.
    let tampered = format!("{}{}", &state[..state.len() - 1], if state.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(error_of(&deliver(&app, &with_param(&callback, "state", Some(&tampered))).await), "invalid_state");
    assert_eq!(error_of(&deliver(&app, &with_param(&callback, "state", None)).await), "invalid_state");
    assert_eq!(app.verify().await.status(), 401);
}

#[tokio::test]
async fn a_replayed_code_is_refused_by_the_provider() {
    let (_idp, app) = setup().await;
    let (authorize, flow) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    assert_eq!(deliver(&app, &callback).await.status(), 302);
    assert_eq!(app.verify().await.status(), 200);
    // An attacker replays the same callback with the same (captured) flow cookie.
    let path = format!("{}?{}", callback.path(), callback.query().unwrap());
    let replay = app.get_with_cookie(&path, &format!("{}={}", flow.name, flow.value)).await;
    assert_eq!(error_of(&replay), "code_rejected");
}

#[tokio::test]
async fn a_callback_without_the_flow_cookie_is_refused() {
    let (_idp, app) = setup().await;
    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    let path = format!("{}?{}", callback.path(), callback.query().unwrap());
    assert_eq!(error_of(&app.get_with_cookie(&path, "unrelated=1").await), "flow_expired");
}

#[tokio::test]
async fn a_wrong_or_missing_iss_is_refused() {
    let (_idp, app) = setup().await;
    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    let wrong = with_param(&callback, "iss", Some("https://evil.example"));
    assert_eq!(error_of(&deliver(&app, &wrong).await), "issuer_mismatch");

    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    let missing = with_param(&callback, "iss", None);
    assert_eq!(error_of(&deliver(&app, &missing).await), "issuer_mismatch", "the IdP promised iss");
}

#[tokio::test]
async fn the_idp_down_at_callback_time_is_an_error_code_not_a_crash() {
    let (mut idp, app) = setup().await;
    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&authorize, ALICE, CALLBACK).await;
    idp.stop().await;
    assert_eq!(error_of(&deliver(&app, &callback).await), "provider_unavailable");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn two_sign_ins_started_in_two_tabs_both_finish() {
    let (_idp, app) = setup().await;
    let (first, _) = start(&app, "/one").await;
    let (second, _) = start(&app, "/two").await;
    let first_callback = authorize_at_idp(&first, ALICE, CALLBACK).await;
    let second_callback =
        authorize_at_idp(&second, Answer::SignIn { login: "bob", password: "bob-password" }, CALLBACK).await;
    let one = deliver(&app, &first_callback).await;
    assert_eq!(location(&one), "/one");
    let two = deliver(&app, &second_callback).await;
    assert_eq!(location(&two), "/two");
    assert_eq!(header(&app.verify().await, "x-auth-user"), Some("bob-sub"));
}

#[tokio::test]
async fn sign_out_revokes_the_tokens_at_the_provider() {
    let (idp, app) = setup().await;
    let (authorize, _) = start(&app, "/").await;
    let response = deliver(&app, &authorize_at_idp(&authorize, ALICE, CALLBACK).await).await;
    let cookie = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
    let session = app.sessions.codec.open(&cookie.value).unwrap();
    let refresh = app.sessions.codec.tokens(&session).unwrap().unwrap().refresh_token.clone().unwrap();

    let signed_out = app.client.post(app.url("/auth/signout")).send().await.unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(app.verify().await.status(), 401);

    let refreshed = reqwest::Client::new()
        .post(format!("{}/token", idp.issuer))
        .basic_auth(crate::support::idp::CLIENT_ID, Some(crate::support::idp::CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.expose_secret())])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400, "the refresh token was revoked (RFC 7009)");
    let body: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn rp_initiated_logout_goes_through_the_end_session_endpoint() {
    let (idp, app) = setup_with(|p| p.rp_initiated_logout = true).await;
    let (authorize, _) = start(&app, "/").await;
    deliver(&app, &authorize_at_idp(&authorize, ALICE, CALLBACK).await).await;
    let signed_out = app.client.post(app.url("/auth/signout")).send().await.unwrap();
    assert_eq!(signed_out.status(), 303);
    let end_session = Url::parse(&location(&signed_out)).unwrap();
    assert!(end_session.as_str().starts_with(&idp.issuer), "{end_session}");
    let param = |k: &str| end_session.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
    assert!(param("id_token_hint").is_some());
    assert_eq!(param("post_logout_redirect_uri").as_deref(), Some("http://gate.test/"));
    let at_idp = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = at_idp.get(end_session).send().await.unwrap();
    assert!(page.status().is_success() || page.status().is_redirection(), "the IdP accepts the logout request");
}

#[tokio::test]
async fn an_unreachable_issuer_is_not_ready_and_sign_in_says_so() {
    let closed = free_port();
    let app = spawn_app_with(|s| {
        s.oauth.discovery_attempts = 1;
        let mut provider = crate::support::idp::oidc_provider(&format!("http://127.0.0.1:{closed}"));
        provider.name = Some("Down".into());
        s.providers.insert("down".into(), provider);
    })
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["providers_not_ready"], serde_json::json!(["down"]));
    let response = app.get("/auth/signin/down").await;
    assert_eq!(error_of(&response), "provider_unavailable");
}

/// Sign Alice in through the IdP; the sign-in's `?error=` code, or "" when it worked.
async fn sign_in_error(app: &TestApp) -> String {
    let (authorize, _) = start(app, "/landing").await;
    let response = deliver(app, &authorize_at_idp(&authorize, ALICE, CALLBACK).await).await;
    assert_eq!(response.status(), 302);
    if location(&response) == "/landing" {
        String::new()
    } else {
        error_of(&response)
    }
}

#[tokio::test]
async fn a_signing_key_the_idp_rotates_is_fetched_and_sign_ins_go_on() {
    let (idp, app) = setup().await;
    assert_eq!(sign_in_error(&app).await, "", "signed in with the key fetched at discovery");
    let fetched = idp.stats().await["jwks_requests"].as_u64().unwrap();

    // The IdP's operator rotates its key (the old one leaves the JWKS). Past
    // the refetch interval, the first ID token naming the new kid makes
    // sealgate fetch the JWKS once, and the sign-in succeeds.
    idp.rotate_signing_key().await;
    app.clock.advance(31);
    assert_eq!(sign_in_error(&app).await, "", "the ID token signed with the new key verifies");
    assert_eq!(idp.stats().await["jwks_requests"].as_u64().unwrap(), fetched + 1);
    assert_eq!(header(&app.verify().await, "x-auth-user"), Some("alice-sub"));

    // The new set is kept: the next sign-in costs the IdP no JWKS request.
    assert_eq!(sign_in_error(&app).await, "");
    assert_eq!(idp.stats().await["jwks_requests"].as_u64().unwrap(), fetched + 1);
}

#[tokio::test]
async fn a_rotation_within_the_refetch_interval_is_an_invalid_id_token_until_it_passes() {
    let (idp, app) = setup().await;
    idp.rotate_signing_key().await;
    // The keys were fetched at discovery, less than 30 s ago (by sealgate's clock).
    assert_eq!(sign_in_error(&app).await, "invalid_id_token");
    app.clock.advance(30);
    assert_eq!(sign_in_error(&app).await, "");
}

#[tokio::test]
async fn id_tokens_and_bearer_jwts_share_one_key_cache_per_issuer() {
    let idp = TestIdp::start(IdpOptions {
        redirect_uris: vec![CALLBACK.into()],
        jwt_access_tokens: true,
        ..IdpOptions::default()
    })
    .await;
    let mut provider = idp.provider();
    provider.bearer.jwt = true;
    provider.bearer.audiences = vec![crate::support::idp::API_AUDIENCE.into()];
    let app = spawn_app_with(|s| {
        s.providers.insert("corp".into(), provider);
    })
    .await;
    wait_ready(&app).await;

    idp.rotate_signing_key().await;
    app.clock.advance(31);
    // A sign-in brings the new key in...
    assert_eq!(sign_in_error(&app).await, "");
    let fetched = idp.stats().await["jwks_requests"].as_u64().unwrap();
    // ...and a JWT access token signed with it is verified without another fetch.
    let tokens = idp.sign_in_as_client("alice", "alice-password", Some(crate::support::idp::API_RESOURCE)).await;
    let verified = crate::support::bearer::verify(&app, &tokens.access_token).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-source"), Some("provider_jwt"));
    assert_eq!(idp.stats().await["jwks_requests"].as_u64().unwrap(), fetched, "one cache for both");
}

fn query_param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn a_provider_that_needs_the_person_first_gets_a_code_the_page_explains() {
    let (idp, app) = setup().await;
    // The real IdP: a silent request (prompt=none) without a session there is login_required.
    let (authorize, _) = start(&app, "/").await;
    let callback = authorize_at_idp(&format!("{authorize}&prompt=none"), ALICE, CALLBACK).await;
    assert_eq!(query_param(&callback, "error").as_deref(), Some("login_required"));
    assert_eq!(error_of(&deliver(&app, &callback).await), "login_required");

    // Every such answer a provider may give (OIDC Core 3.1.2.6, RFC 6749 4.1.2.1).
    for (answered, code) in [
        ("consent_required", "consent_required"),
        ("interaction_required", "interaction_required"),
        ("account_selection_required", "account_selection_required"),
        ("temporarily_unavailable", "provider_unavailable"),
        ("server_error", "provider_unavailable"),
        ("access_denied", "access_denied"),
        ("invalid_scope", "provider_error"),
        ("<script>alert(1)</script>", "provider_error"),
    ] {
        let (authorize, _) = start(&app, "/").await;
        let state = query_param(&Url::parse(&authorize).unwrap(), "state").unwrap();
        let callback =
            Url::parse_with_params(CALLBACK, &[("error", answered), ("state", &state), ("iss", &idp.issuer)]).unwrap();
        assert_eq!(error_of(&deliver(&app, &callback).await), code, "{answered}");
    }

    // The sign-in page says what to do for each, not the generic failure.
    for code in ["login_required", "consent_required", "interaction_required", "account_selection_required"] {
        let html = app.get(&format!("/auth/signin?error={code}")).await.text().await.unwrap();
        assert!(html.contains("role=\"alert\""), "{code}");
        assert!(!html.contains("Sign-in failed.") && !html.contains("answered with an error"), "{code}: {html}");
    }
}

#[tokio::test]
async fn an_error_response_without_the_promised_iss_is_an_issuer_mismatch() {
    let (_idp, app) = setup().await;
    // The IdP promises iss (RFC 9207); a mix-up attacker's error response lacks it or names another.
    for iss in [Some("https://evil.example"), None] {
        let (authorize, _) = start(&app, "/").await;
        let callback = authorize_at_idp(&authorize, Answer::Deny, CALLBACK).await;
        assert_eq!(query_param(&callback, "error").as_deref(), Some("access_denied"));
        let forged = with_param(&callback, "iss", iss);
        assert_eq!(error_of(&deliver(&app, &forged).await), "issuer_mismatch", "iss {iss:?}");
    }
}
