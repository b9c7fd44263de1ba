//! The provider token lifecycle against the real test IdP (short-lived access
//! tokens, rotating refresh tokens, reuse detection that revokes the grant),
//! on one replica and on two sharing a store.
//! The no-refresh-token path, against a GitHub-shaped fake, is in
//! `providers_presets.rs`.

use crate::helpers::{captured_logs, header, on_redis, set_cookies, wait_ready, TestApp};
use crate::support::idp::TestIdp;
use crate::support::oidc::{new_cookie, signed_in_sealed_with, signed_in_with, Signed, PAST_EXPIRY};
use crate::support::per_key_alg;
use crate::support::redis_server::RedisServer;
use sealgate::config::store::StoreKind;
use sealgate::crypto::keys::KeyAlg;
use sealgate::crypto::ProviderTokens;
use sealgate::identity::User;
use secrecy::SecretString;
use std::time::Duration;

/// `tokens.grace_window`, the default: how long a refresh's outcome stands.
const GRACE_WINDOW: i64 = 30;

// The stories that reseal a refreshed session run once per key algorithm;
// the others are about the provider's answers, whatever seals the cookie.
per_key_alg!(
    an_expired_token_is_refreshed_and_the_new_cookie_carries_it,
    the_old_cookie_inside_the_grace_window_gets_the_new_tokens_without_a_second_grant,
);

async fn signed_in() -> Signed {
    signed_in_with(|_| {}).await
}

fn access_token(response: &reqwest::Response) -> Option<String> {
    header(response, "x-auth-access-token").map(str::to_owned)
}

async fn refresh_grants(idp: &TestIdp) -> u64 {
    idp.stats().await["token_requests"]["refresh_token"].as_u64().unwrap()
}

async fn an_expired_token_is_refreshed_and_the_new_cookie_carries_it(alg: KeyAlg) {
    let Signed { idp, app, cookie, .. } = signed_in_sealed_with(alg, |_| {}).await;
    let fresh = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(fresh.status(), 200);
    let first = access_token(&fresh).expect("pass_access_token adds the token");
    assert!(new_cookie(&fresh).is_none(), "a fresh token needs no refresh");
    assert_eq!(refresh_grants(&idp).await, 0);

    app.clock.advance(PAST_EXPIRY);
    let refreshed = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(refreshed.status(), 200);
    let second = access_token(&refreshed).unwrap();
    assert_ne!(first, second, "a new access token");
    let cookie = new_cookie(&refreshed).expect("the refreshed session is resealed into a new cookie");
    assert_eq!(refresh_grants(&idp).await, 1);

    let token = app.get_with_cookie("/auth/token", &cookie).await;
    assert_eq!(token.status(), 200);
    let body: serde_json::Value = token.json().await.unwrap();
    assert_eq!(body["access_token"], second.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["provider"], "corp");
    assert_eq!(body["expires_at"], sealgate::clock::Clock::now(&app.clock) + 5);
    assert_eq!(refresh_grants(&idp).await, 1, "the new cookie's token is fresh");
}

#[tokio::test]
async fn fifty_parallel_requests_with_one_expired_cookie_refresh_once() {
    let Signed { idp, app, cookie, .. } = signed_in().await;
    app.clock.advance(PAST_EXPIRY);
    let requests = (0..50).map(|_| app.get_with_cookie("/auth/verify", &cookie));
    let responses = futures_util::future::join_all(requests).await;
    let tokens: std::collections::HashSet<_> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status(), 200);
            access_token(r).expect("every request gets the fresh token")
        })
        .collect();
    assert_eq!(tokens.len(), 1, "all 50 share the one refresh");
    assert_eq!(refresh_grants(&idp).await, 1, "counted by the IdP: exactly one refresh grant");
    assert_eq!(idp.stats().await["refresh_failures"], 0);

    // The grant is still alive: the rotated refresh token works next time.
    let cookie = new_cookie(responses.first().unwrap()).unwrap();
    app.clock.advance(PAST_EXPIRY);
    let next = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(next.status(), 200);
    assert!(!tokens.contains(&access_token(&next).unwrap()));
    assert_eq!(refresh_grants(&idp).await, 2);
    assert_eq!(idp.stats().await["refresh_failures"], 0);
}

async fn the_old_cookie_inside_the_grace_window_gets_the_new_tokens_without_a_second_grant(alg: KeyAlg) {
    let Signed { idp, app, cookie, .. } = signed_in_sealed_with(alg, |_| {}).await;
    app.clock.advance(PAST_EXPIRY);
    let first = app.get_with_cookie("/auth/verify", &cookie).await;
    let token = access_token(&first).unwrap();
    let again = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(again.status(), 200);
    assert_eq!(access_token(&again).unwrap(), token);
    assert!(new_cookie(&again).is_some(), "the old cookie is replaced again");
    assert_eq!(refresh_grants(&idp).await, 1);
}

#[tokio::test]
async fn a_revoked_grant_ends_the_session() {
    let Signed { idp, app, cookie, .. } = signed_in().await;
    idp.revoke_grants("alice-sub").await;
    app.clock.advance(PAST_EXPIRY);
    let ended = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(ended.status(), 401);
    let removed: Vec<String> =
        set_cookies(ended.headers()).into_iter().filter(|c| c.is_removal()).map(|c| c.name).collect();
    for name in ["sealgate", "sealgate_1", "sealgate_5"] {
        assert!(removed.contains(&name.to_owned()), "{name} not cleared: {removed:?}");
    }
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401, "and it stays ended");
    assert_eq!(refresh_grants(&idp).await, 1, "the dead refresh token is not sent twice");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line =
        metrics.lines().find(|l| l.starts_with("sealgate_token_refresh_total{outcome=\"invalid_grant\"}")).unwrap();
    assert!(line.split(' ').next_back().unwrap().parse::<u64>().unwrap() >= 1, "{line}");
}

#[tokio::test]
async fn a_provider_that_is_down_degrades_without_ending_the_session_and_recovers() {
    let Signed { idp, app, cookie, token_switch } = signed_in().await;
    app.clock.advance(PAST_EXPIRY);
    token_switch.set_down(true);
    let degraded = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(degraded.status(), 200, "the person is still signed in");
    assert_eq!(header(&degraded, "x-auth-user"), Some("alice-sub"));
    assert!(access_token(&degraded).is_none(), "a stale token is never passed");
    assert!(set_cookies(degraded.headers()).is_empty());
    let token = app.get_with_cookie("/auth/token", &cookie).await;
    assert_eq!(token.status(), 503);
    assert_eq!(token.json::<serde_json::Value>().await.unwrap()["error"], "provider_unavailable");

    token_switch.set_down(false);
    let waiting = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(waiting.status(), 200);
    assert!(access_token(&waiting).is_none(), "the failure stands for the grace window");
    app.clock.advance(GRACE_WINDOW);
    let recovered = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(recovered.status(), 200);
    assert!(access_token(&recovered).is_some(), "a request after the grace window retries and succeeds");
    assert!(new_cookie(&recovered).is_some());
    assert_eq!(refresh_grants(&idp).await, 1, "only the successful refresh reached the IdP");
}

#[tokio::test]
async fn a_refresh_refused_with_any_oauth_error_ends_the_session_for_good() {
    let Signed { idp, app, cookie, .. } = signed_in().await;
    // LemonLDAP::NG's answer for an expired refresh session.
    idp.set_quirks(serde_json::json!({"refresh_error": "invalid_request"})).await;
    app.clock.advance(PAST_EXPIRY);
    let ended = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(ended.status(), 401, "final, as for invalid_grant");
    assert!(set_cookies(ended.headers()).iter().any(|c| c.name == "sealgate" && c.is_removal()));
    for _ in 0..3 {
        assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401, "and it stays ended");
    }
    app.clock.advance(GRACE_WINDOW);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401);
    assert_eq!(refresh_grants(&idp).await, 2, "asked once per grace window, never on every request");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let refused = metrics.lines().find(|l| l.starts_with("sealgate_token_refresh_total{outcome=\"refused\"}")).unwrap();
    assert!(refused.split(' ').next_back().unwrap().parse::<u64>().unwrap() >= 1, "{refused}");
}

#[tokio::test]
async fn a_5xx_is_transient_whatever_its_body_and_is_retried_once_per_grace_window() {
    let Signed { idp, app, cookie, .. } = signed_in().await;
    // An OAuth-looking error body, but a 503: the provider is down, it did not refuse us.
    idp.set_quirks(serde_json::json!({"refresh_error": "invalid_request", "refresh_status": 503})).await;
    app.clock.advance(PAST_EXPIRY);
    for _ in 0..5 {
        let degraded = app.get_with_cookie("/auth/verify", &cookie).await;
        assert_eq!(degraded.status(), 200, "still signed in");
        assert!(access_token(&degraded).is_none(), "a stale token is never passed");
    }
    assert_eq!(refresh_grants(&idp).await, 1, "five requests, one call");
    app.clock.advance(GRACE_WINDOW - 1);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);
    assert_eq!(refresh_grants(&idp).await, 1, "a second before the window ends");
    app.clock.advance(1);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);
    assert_eq!(refresh_grants(&idp).await, 2, "the window is over: one retry");

    idp.set_quirks(serde_json::json!({"reset": true})).await;
    app.clock.advance(GRACE_WINDOW);
    let recovered = app.get_with_cookie("/auth/verify", &cookie).await;
    assert!(access_token(&recovered).is_some(), "the refresh token was never spent by the failures");
    assert!(new_cookie(&recovered).is_some());
    assert_eq!(refresh_grants(&idp).await, 3);
}

#[tokio::test]
async fn a_slow_provider_is_bounded_by_the_timeout() {
    let Signed { idp, app, cookie, .. } = signed_in_with(|s| s.oauth.timeout = Duration::from_secs(1)).await;
    app.clock.advance(PAST_EXPIRY);
    idp.pause();
    let started = std::time::Instant::now();
    let degraded = app.get_with_cookie("/auth/verify", &cookie).await;
    let waited = started.elapsed();
    idp.resume();
    assert_eq!(degraded.status(), 200);
    assert!(access_token(&degraded).is_none());
    assert!(waited < Duration::from_secs(5), "the refresh gave up after the timeout: {waited:?}");
}

#[tokio::test]
async fn the_token_endpoint_is_off_unless_configured() {
    let Signed { app, cookie, .. } = signed_in_with(|s| s.tokens.endpoint = false).await;
    assert_eq!(app.get_with_cookie("/auth/token", &cookie).await.status(), 404);
    assert_eq!(app.get("/auth/token").await.status(), 404);
}

#[tokio::test]
async fn no_token_value_ever_reaches_the_logs() {
    let Signed { idp, app, cookie, .. } = signed_in().await;
    let mut secrets = Vec::new();
    let collect = |app: &TestApp, cookie: &str, secrets: &mut Vec<String>| {
        let value = cookie.split_once('=').unwrap().1;
        let session = app.sessions.codec.open(value).unwrap();
        let tokens = app.sessions.codec.tokens(&session).unwrap().unwrap();
        use secrecy::ExposeSecret;
        secrets.push(tokens.access_token.expose_secret().to_owned());
        secrets.extend(tokens.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()));
        secrets.extend(tokens.id_token.as_ref().map(|t| t.expose_secret().to_owned()));
    };
    collect(&app, &cookie, &mut secrets);
    app.clock.advance(PAST_EXPIRY);
    let refreshed = app.get_with_cookie("/auth/verify", &cookie).await;
    let cookie = new_cookie(&refreshed).unwrap();
    collect(&app, &cookie, &mut secrets);
    assert_eq!(app.get_with_cookie("/auth/token", &cookie).await.status(), 200);
    idp.revoke_grants("alice-sub").await;
    app.clock.advance(PAST_EXPIRY);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401);

    let logs = captured_logs();
    assert!(logs.contains("provider tokens refreshed"), "the run was logged");
    assert!(logs.contains("invalid_grant"));
    for secret in &secrets {
        assert!(secret.len() > 10);
        assert!(!logs.contains(secret.as_str()), "a token value reached the logs");
    }
    assert!(!logs.contains(crate::support::idp::CLIENT_SECRET), "the client secret reached the logs");
}

#[tokio::test]
async fn only_a_provider_that_passes_its_token_has_it_passed() {
    let Signed { app, cookie, .. } = signed_in_with(|s| {
        let mut quiet = s.providers["corp"].clone();
        quiet.pass_access_token = false;
        s.providers.insert("quiet".into(), quiet);
    })
    .await;
    let corp = app.get_with_cookie("/auth/verify", &cookie).await;
    assert!(access_token(&corp).is_some(), "corp passes its token");

    let now = sealgate::clock::Clock::now(&app.clock);
    let tokens = ProviderTokens {
        access_token: SecretString::from("quiet-access-token".to_owned()),
        token_type: "Bearer".into(),
        refresh_token: None,
        id_token: None,
        expires_at: Some(now + 3600),
        obtained_at: now,
        scope: None,
    };
    let quiet = app.sessions.codec.start(User::new("quinn"), "quiet", true, Some(&tokens)).unwrap();
    let response = app.get_with_cookie("/auth/verify", &app.cookie_for(&quiet)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-auth-user"), Some("quinn"));
    assert_eq!(header(&response, "x-auth-provider"), Some("quiet"));
    assert!(access_token(&response).is_none(), "quiet does not pass its token, though corp does");
    assert!(set_cookies(response.headers()).is_empty());
}

#[tokio::test]
async fn a_route_whose_policy_demands_a_fresh_token_refreshes_it_or_refuses() {
    let Signed { idp, app, cookie, token_switch } = signed_in_with(|s| {
        s.policy.rules = vec![sealgate::config::RuleSettings {
            paths: vec!["/api".into()],
            fresh_token: true,
            ..Default::default()
        }];
        if let Some(provider) = s.providers.get_mut("corp") {
            provider.pass_access_token = false;
        }
    })
    .await;
    let for_api = |cookie: &str| {
        app.client
            .get(app.url("/auth/verify"))
            .header("Cookie", cookie.to_owned())
            .header("X-Forwarded-Uri", "/api/orders")
            .send()
    };
    app.clock.advance(PAST_EXPIRY);
    token_switch.set_down(true);
    let refused = for_api(&cookie).await.unwrap();
    assert_eq!(refused.status(), 503, "the route demands a fresh token and none can be had");
    let elsewhere = app
        .client
        .get(app.url("/auth/verify"))
        .header("Cookie", cookie.clone())
        .header("X-Forwarded-Uri", "/home")
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 200, "other routes do not need it");

    token_switch.set_down(false);
    app.clock.advance(GRACE_WINDOW);
    let refreshed = for_api(&cookie).await.unwrap();
    assert_eq!(refreshed.status(), 200);
    assert!(access_token(&refreshed).is_none(), "pass_access_token is off: the token is refreshed, not passed");
    assert!(new_cookie(&refreshed).is_some());
    assert_eq!(refresh_grants(&idp).await, 1);
}

/// Where the replicas of [`fifty_requests_split_across_two_replicas`] keep their state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shared {
    /// No store: each replica on its own.
    Nothing,
    /// One SQLite file, on this machine.
    LocalFile,
    Redis,
}

/// Fifty parallel requests with one expired cookie, alternating between two
/// replicas of one gateway; returns the access tokens they were given, and
/// the refresh grants the IdP saw.
async fn fifty_requests_split_across_two_replicas(shared: Shared) -> (Vec<Option<String>>, u64) {
    let redis = (shared == Shared::Redis).then(RedisServer::start);
    let Signed { idp, app: first, cookie, .. } = signed_in_with(|s| match (shared, &redis) {
        (Shared::Nothing, _) => s.store.kind = StoreKind::None,
        (Shared::Redis, Some(redis)) => on_redis(s, redis),
        _ => {}
    })
    .await;
    let second = first.replica().await;
    wait_ready(&second).await;
    first.clock.advance(PAST_EXPIRY); // one clock: both replicas see the token expired
    let requests = (0..50).map(|i| [&first, &second][i % 2].get_with_cookie("/auth/verify", &cookie));
    let responses = futures_util::future::join_all(requests).await;
    let tokens = responses.iter().map(|r| (r.status() == 200).then(|| access_token(r)).flatten()).collect();
    (tokens, refresh_grants(&idp).await)
}

#[tokio::test]
async fn two_replicas_on_redis_refresh_once_and_all_fifty_requests_get_the_same_token() {
    let (tokens, grants) = fifty_requests_split_across_two_replicas(Shared::Redis).await;
    assert!(tokens.iter().all(Option::is_some), "every request got a token: {tokens:?}");
    assert_eq!(tokens.iter().collect::<std::collections::HashSet<_>>().len(), 1, "one token for all 50");
    assert_eq!(grants, 1, "counted by the IdP: exactly one refresh grant for the fleet");
}

#[tokio::test]
async fn two_replicas_on_one_local_store_file_refresh_once_too() {
    let (tokens, grants) = fifty_requests_split_across_two_replicas(Shared::LocalFile).await;
    assert!(tokens.iter().all(Option::is_some), "every request got a token: {tokens:?}");
    assert_eq!(tokens.iter().collect::<std::collections::HashSet<_>>().len(), 1, "one token for all 50");
    assert_eq!(grants, 1);
}

#[tokio::test]
async fn without_a_store_each_replica_refreshes_on_its_own() {
    // What the shared flight prevents: with rotating refresh tokens, the
    // second grant spends a refresh token the first already rotated.
    let (_, grants) = fifty_requests_split_across_two_replicas(Shared::Nothing).await;
    assert_eq!(grants, 2, "one refresh grant per replica");
}
