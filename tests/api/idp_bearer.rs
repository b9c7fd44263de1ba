//! Provider tokens from the real test IdP (`oidc-provider`) as
//! `Authorization: Bearer`: its ID tokens and RFC 9068 JWT access tokens
//! checked against its JWKS, its opaque access tokens by RFC 7662
//! introspection, and forgeries made from its real tokens.

use crate::helpers::{header, spawn_app_with, TestApp};
use crate::idp::{IdpOptions, TestIdp, API_AUDIENCE, API_RESOURCE, API_SCOPE, CLIENT_ID, CLIENT_SECRET};
use crate::oidc_flow::wait_ready;
use crate::provider_jwt::{assert_refused, b64, verify};
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
async fn the_idps_id_token_is_accepted_until_it_expires() {
    let (idp, app) = setup(false, jwt_bearer(&[])).await; // default audience: our client id
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
    let (idp, app) = setup(false, jwt_bearer(&[])).await;
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
    let (idp, app) = setup(false, jwt_bearer(&[])).await;
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
