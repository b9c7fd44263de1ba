//! Provider tokens from the real test IdP (`oidc-provider`) as
//! `Authorization: Bearer`: its ID tokens and RFC 9068 JWT access tokens
//! checked against its JWKS, its opaque access tokens by RFC 7662
//! introspection, and forgeries made from its real tokens.

use crate::helpers::wait_ready;
use crate::helpers::{header, spawn_app_with, TestApp};
use crate::support::bearer::{assert_refused, b64, verify};
use crate::support::idp::{IdpOptions, TestIdp, API_AUDIENCE, API_RESOURCE, API_SCOPE, CLIENT_ID, CLIENT_SECRET};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jws::{JwsHeader, HS256};
use josekit::jwt::{self, JwtPayload};
use sealgate::config::{Access, BearerSettings, RuleSettings};
use serde_json::{json, Value};
use std::time::Duration;

async fn setup(jwt_access_tokens: bool, bearer: BearerSettings) -> (TestIdp, TestApp) {
    let idp =
        TestIdp::start(IdpOptions { jwt_access_tokens, access_token_ttl: Some(600), ..IdpOptions::default() }).await;
    let mut provider = idp.provider();
    provider.bearer = bearer;
    let app = spawn_app_with(|settings| {
        settings.providers.insert("corp".into(), provider);
        settings.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        settings.policy.rules.push(RuleSettings {
            paths: vec!["/reports".into()],
            allow: Access::Authenticated,
            scopes: vec![API_SCOPE.into()],
            ..RuleSettings::default()
        });
    })
    .await;
    wait_ready(&app).await;
    (idp, app)
}

fn jwt_bearer(audiences: &[&str]) -> BearerSettings {
    BearerSettings {
        jwt: true,
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        ..BearerSettings::default()
    }
}

/// JWTs with the client id as audience, ID tokens included (`accept_id_tokens`).
fn id_token_bearer() -> BearerSettings {
    BearerSettings { accept_id_tokens: true, ..jwt_bearer(&[]) }
}

async fn verify_at(app: &TestApp, uri: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/auth/verify"))
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-Host", "app.test")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

async fn stat(idp: &TestIdp, name: &str) -> u64 {
    idp.stats().await[name].as_u64().unwrap()
}

#[tokio::test]
async fn the_idps_id_token_is_refused_unless_the_provider_accepts_id_tokens() {
    let (idp, app) = setup(false, jwt_bearer(&[])).await; // default audience: our client id
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    assert!(claims(&tokens.id_token)["nonce"].is_string(), "an ID token, told apart by its nonce");
    assert_eq!(claims(&tokens.id_token)["aud"], CLIENT_ID, "and for us: only its kind keeps it out");
    assert_refused(&app, &tokens.id_token, "an ID token is not an access token").await;
}

#[tokio::test]
async fn the_id_token_hint_of_rp_initiated_logout_is_not_a_bearer_credential() {
    use crate::support::oidc::{deliver, start, ALICE, CALLBACK};
    let idp = TestIdp::start(IdpOptions {
        redirect_uris: vec![CALLBACK.into()],
        post_logout_redirect_uris: vec!["http://gate.test/".into()],
        ..IdpOptions::default()
    })
    .await;
    let mut provider = idp.provider();
    provider.rp_initiated_logout = true;
    provider.bearer = jwt_bearer(&[]);
    let app = spawn_app_with(|s| {
        s.providers.insert("corp".into(), provider);
    })
    .await;
    wait_ready(&app).await;
    let (authorize, _) = start(&app, "/").await;
    deliver(&app, &crate::support::idp::authorize_at_idp(&authorize, ALICE, CALLBACK).await).await;

    // Signing out puts the ID token in the browser's URL (history, proxy logs, Referer).
    let signed_out = app.client.post(app.url("/auth/signout")).send().await.unwrap();
    let end_session = url::Url::parse(&crate::helpers::location(&signed_out)).unwrap();
    let hint = end_session.query_pairs().find(|(k, _)| k == "id_token_hint").unwrap().1.into_owned();
    assert!(claims(&hint)["exp"].as_i64().unwrap() > sealgate::clock::Clock::now(&app.clock), "still unexpired");
    assert_refused(&app, &hint, "the id_token_hint from the logout URL").await;
}

#[tokio::test]
async fn an_id_token_is_accepted_until_it_expires_where_the_provider_accepts_id_tokens() {
    let (idp, app) = setup(false, id_token_bearer()).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    let verified = verify(&app, &tokens.id_token).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some("alice-sub"));
    assert_eq!(header(&verified, "x-auth-email"), Some("alice@example.com"));
    assert_eq!(header(&verified, "x-auth-groups"), Some("admins,staff"));
    assert_eq!(header(&verified, "x-auth-provider"), Some("corp"));
    assert_eq!(header(&verified, "x-auth-source"), Some("provider_jwt"));

    let exp = claims(&tokens.id_token)["exp"].as_i64().unwrap();
    app.clock.set(exp - 1);
    assert_eq!(verify(&app, &tokens.id_token).await.status(), 200, "a second before exp");
    app.clock.set(exp);
    assert_refused(&app, &tokens.id_token, "at exp").await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let (idp, app) = setup(false, jwt_bearer(&["orders-api"])).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    assert_eq!(claims(&tokens.id_token)["aud"], CLIENT_ID);
    assert_refused(&app, &tokens.id_token, "aud is the client id, not orders-api").await;
}

#[tokio::test]
async fn forgeries_built_from_a_real_token_are_refused() {
    let (idp, app) = setup(false, id_token_bearer()).await;
    let tokens = idp.sign_in_as_client("bob", "bob-password", None).await;
    let real = &tokens.id_token;
    assert_eq!(verify(&app, real).await.status(), 200);
    let kid = header_of(real)["kid"].as_str().unwrap().to_owned();
    let mut parts = real.split('.');
    let (_, payload, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());

    // Elevate bob to alice under bob's signature.
    let mut elevated = claims(real);
    elevated["sub"] = json!("alice-sub");
    elevated["groups"] = json!(["admins"]);
    let original_header = real.split('.').next().unwrap();
    assert_refused(&app, &format!("{original_header}.{}.{signature}", b64(&elevated)), "payload swapped").await;

    // alg none.
    let none = b64(&json!({"alg": "none", "kid": kid}));
    assert_refused(&app, &format!("{none}.{}.", b64(&elevated)), "alg none").await;
    assert_refused(&app, &format!("{none}.{payload}.{signature}"), "alg none with the real signature").await;

    // HS256 keyed with the IdP's published RSA key (JWK JSON and modulus).
    let jwks: Value = reqwest::get(format!("{}/jwks", idp.issuer)).await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    for secret in [serde_json::to_vec(key).unwrap(), key["n"].as_str().unwrap().as_bytes().to_vec()] {
        let signer = HS256.signer_from_bytes(&secret).unwrap();
        let mut hs_header = JwsHeader::new();
        hs_header.set_key_id(&kid);
        hs_header.set_token_type("JWT");
        let payload = JwtPayload::from_map(elevated.as_object().unwrap().clone()).unwrap();
        let forged = jwt::encode_with_signer(&payload, &hs_header, &signer).unwrap();
        assert_refused(&app, &forged, "HS256 keyed with the public key").await;
    }
    assert_eq!(verify(&app, real).await.status(), 200, "the real token still works");
}

#[tokio::test]
async fn unknown_kids_cost_the_idp_one_jwks_request_per_interval() {
    let (idp, app) = setup(false, id_token_bearer()).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    assert_eq!(verify(&app, &tokens.id_token).await.status(), 200);
    let baseline = stat(&idp, "jwks_requests").await;

    let mut parts = tokens.id_token.split('.');
    let (_, payload, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let with_kid = |kid: String| format!("{}.{payload}.{signature}", b64(&json!({"alg": "RS256", "kid": kid})));

    // Within 30 s of the last fetch: no fetch at all, however many kids.
    for i in 0..20 {
        assert_refused(&app, &with_kid(format!("rotated-{i}")), "unknown kid").await;
    }
    assert_eq!(stat(&idp, "jwks_requests").await, baseline);

    // After the interval, the first unknown kid refetches; the flood after it does not.
    app.clock.advance(30);
    for i in 0..20 {
        assert_refused(&app, &with_kid(format!("later-{i}")), "unknown kid").await;
    }
    assert_eq!(stat(&idp, "jwks_requests").await, baseline + 1);
    assert_eq!(verify(&app, &tokens.id_token).await.status(), 200);
}

#[tokio::test]
async fn jwt_access_tokens_carry_their_scopes_into_policies() {
    let (idp, app) = setup(true, jwt_bearer(&[API_AUDIENCE])).await;
    let tokens = idp.sign_in_as_client("bob", "bob-password", Some(API_RESOURCE)).await;
    assert_eq!(header_of(&tokens.access_token)["typ"], "at+jwt");
    let verified = verify_at(&app, "/reports/2026", &tokens.access_token).await;
    assert_eq!(verified.status(), 200, "scope api:read meets the /reports rule");
    assert_eq!(header(&verified, "x-auth-user"), Some("bob-sub"));
    assert_eq!(header(&verified, "x-auth-source"), Some("provider_jwt"));
    // The ID token (aud: our client id) is not for this API.
    assert_refused(&app, &tokens.id_token, "ID token where only the API audience is accepted").await;

    // A machine token (client credentials) has the client as its subject.
    let machine = idp.client_credentials_token(Some(API_RESOURCE), Some(API_SCOPE)).await;
    let verified = verify_at(&app, "/reports", &machine).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some(CLIENT_ID));
    let unscoped = idp.client_credentials_token(Some(API_RESOURCE), None).await;
    assert_eq!(verify_at(&app, "/reports", &unscoped).await.status(), 403, "no api:read scope");
    assert_eq!(verify_at(&app, "/elsewhere", &unscoped).await.status(), 200);
}

#[tokio::test]
async fn opaque_tokens_are_introspected_once_and_trusted_at_most_until_they_expire() {
    let bearer = BearerSettings {
        introspection: true,
        introspection_cache: Duration::from_secs(3600),
        ..BearerSettings::default()
    };
    let (idp, app) = setup(false, bearer).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    // The IdP issued it at or a moment before this instant, for 600 s.
    let issued = chrono::Utc::now().timestamp();
    assert!(!tokens.access_token.contains('.'), "the IdP issues opaque access tokens");
    assert_eq!(tokens.expires_in, Some(600));
    let before = stat(&idp, "introspection_requests").await;

    let verified = verify(&app, &tokens.access_token).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some("alice-sub"));
    assert_eq!(header(&verified, "x-auth-source"), Some("introspection"));
    let concurrent = (0..10).map(|_| verify(&app, &tokens.access_token));
    for response in futures_util::future::join_all(concurrent).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(stat(&idp, "introspection_requests").await, before + 1, "one introspection for 11 requests");

    // The token lives 600 s: the cached answer is used until then, never after.
    app.clock.set(issued + 598);
    assert_eq!(verify(&app, &tokens.access_token).await.status(), 200);
    app.clock.set(issued + 600);
    assert_refused(&app, &tokens.access_token, "past the token's exp").await;

    // Garbage is asked about (once) and refused.
    let before = stat(&idp, "introspection_requests").await;
    assert_refused(&app, "not-a-token-the-idp-issued", "unknown opaque token").await;
    assert_refused(&app, "not-a-token-the-idp-issued", "unknown opaque token, again").await;
    assert_eq!(stat(&idp, "introspection_requests").await, before + 1);
}

#[tokio::test]
async fn a_revoked_opaque_token_is_refused_once_the_cache_time_is_over() {
    let bearer = BearerSettings {
        introspection: true,
        introspection_cache: Duration::from_secs(60),
        ..BearerSettings::default()
    };
    let (idp, app) = setup(false, bearer).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    assert_eq!(verify(&app, &tokens.access_token).await.status(), 200);

    let revoked = reqwest::Client::new()
        .post(format!("{}/token/revocation", idp.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", tokens.access_token.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    app.clock.advance(59);
    assert_eq!(verify(&app, &tokens.access_token).await.status(), 200, "cached for introspection_cache");
    app.clock.advance(1);
    assert_refused(&app, &tokens.access_token, "asked again: revoked").await;
}

fn introspection_bearer() -> BearerSettings {
    BearerSettings { introspection: true, ..BearerSettings::default() }
}

#[tokio::test]
async fn an_introspection_answer_with_username_and_no_sub_is_that_user_not_the_client() {
    // Django OAuth Toolkit answers `username`, never `sub`, and no `token_type`.
    let bearer = BearerSettings { insecure_introspection_without_token_type: true, ..introspection_bearer() };
    let (idp, app) = setup(false, bearer).await;
    idp.set_quirks(json!({"introspection_sub": false, "introspection_token_type": false})).await;
    for (login, password) in [("alice", "alice-password"), ("bob", "bob-password")] {
        let tokens = idp.sign_in_as_client(login, password, None).await;
        let verified = verify(&app, &tokens.access_token).await;
        assert_eq!(verified.status(), 200, "{login}");
        assert_eq!(header(&verified, "x-auth-user"), Some(login), "each person is themselves, not {CLIENT_ID}");
        assert_eq!(header(&verified, "x-auth-source"), Some("introspection"));
    }
}

#[tokio::test]
async fn an_introspection_answer_without_token_type_is_refused_unless_the_provider_never_gives_one() {
    let (idp, app) = setup(false, introspection_bearer()).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    assert_eq!(verify(&app, &tokens.access_token).await.status(), 200, "token_type Bearer");
    idp.set_quirks(json!({"introspection_token_type": false})).await;
    let other = idp.sign_in_as_client("alice", "alice-password", None).await;
    assert_refused(&app, &other.access_token, "the answer does not say it is an access token").await;

    let bearer = BearerSettings { insecure_introspection_without_token_type: true, ..introspection_bearer() };
    let (idp, app) = setup(false, bearer).await;
    idp.set_quirks(json!({"introspection_token_type": false})).await;
    let tokens = idp.sign_in_as_client("alice", "alice-password", None).await;
    let verified = verify(&app, &tokens.access_token).await;
    assert_eq!(verified.status(), 200, "accepted where the provider is known never to say");
    assert_eq!(header(&verified, "x-auth-user"), Some("alice-sub"));
}

mod refresh_tokens {
    use super::*;
    use crate::support::oidc::{new_cookie, signed_in_with, tokens_in, Signed, PAST_EXPIRY};
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn the_sessions_refresh_token_is_refused_as_bearer_because_introspection_gives_it_no_token_type() {
        let Signed { idp, app, cookie, .. } = signed_in_with(|_| {}).await;
        let refresh = tokens_in(&app, &cookie).refresh_token.unwrap();
        assert_eq!(introspect(&idp, refresh.expose_secret()).await["active"], true);
        // Another replica (or this one after a restart) has never held it.
        let mut provider = idp.provider();
        provider.bearer = introspection_bearer();
        let replica = spawn_app_with(|s| {
            s.providers.insert("corp".into(), provider);
        })
        .await;
        wait_ready(&replica).await;
        assert_refused(&replica, refresh.expose_secret(), "a refresh token (oidc-provider: active, no token_type)")
            .await;
    }

    async fn introspect(idp: &TestIdp, token: &str) -> Value {
        let answer = reqwest::Client::new()
            .post(format!("{}/token/introspection", idp.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    }

    #[tokio::test]
    async fn refresh_tokens_the_gateway_holds_are_refused_even_where_introspection_cannot_tell() {
        let Signed { idp, app, cookie, .. } = signed_in_with(|s| {
            s.providers.get_mut("corp").unwrap().bearer =
                BearerSettings { insecure_introspection_without_token_type: true, ..introspection_bearer() };
        })
        .await;
        idp.set_quirks(json!({"introspection_token_type": false})).await;
        let at_sign_in = tokens_in(&app, &cookie).refresh_token.unwrap();
        assert_refused(&app, at_sign_in.expose_secret(), "held since sign-in").await;

        // The IdP rotates refresh tokens: the successor is held too.
        app.clock.advance(PAST_EXPIRY);
        let refreshed = app.get_with_cookie("/auth/verify", &cookie).await;
        let cookie = new_cookie(&refreshed).expect("refreshed");
        let rotated = tokens_in(&app, &cookie).refresh_token.unwrap();
        assert_ne!(rotated.expose_secret(), at_sign_in.expose_secret());
        assert_refused(&app, rotated.expose_secret(), "held since the refresh").await;
        assert_eq!(introspect(&idp, rotated.expose_secret()).await["active"], true, "the IdP alone would vouch for it");
    }
}
