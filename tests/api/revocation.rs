//! Sign-out that sticks: a session signed out is refused everywhere, even
//! from a copied cookie, on the local store and on Redis; one replica's
//! sign-out reaches another through Redis; the local store keeps its
//! revocations across a restart; and a store that goes away shows on
//! `/readyz` and is handled as `store.unavailable` says.

use crate::helpers::{on_store, set_cookies, spawn_in, test_settings, Spawn, TestApp, ALICE, ALICE_PASSWORD};
use crate::support::redis_server::RedisServer;
use reqwest::StatusCode;
use sealgate::config::store::{StoreKind, WhenUnavailable};
use std::time::{Duration, Instant};

/// Which store the gateway keeps its state in.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Local,
    Redis,
}

/// Sign alice in on `app`, and return her session cookie as a Cookie header
/// (what someone who copied it would send).
async fn alice_cookie(app: &TestApp) -> String {
    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(response.status(), 303);
    let cookies = set_cookies(response.headers());
    let session = cookies.iter().find(|c| c.name == app.cookie_name()).expect("a session cookie");
    format!("{}={}", session.name, session.value)
}

async fn verify_with(app: &TestApp, cookie: &str) -> StatusCode {
    app.get_with_cookie("/auth/verify", cookie).await.status()
}

/// Until `/readyz` says the store is `state` (or 10 s pass).
async fn wait_for_store(app: &TestApp, state: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
        if body.get("store").and_then(|s| s.as_str()) == state {
            return;
        }
        assert!(Instant::now() < deadline, "the store never became {state:?}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_copied_cookie_stops_working_after_sign_out(kind: Kind) {
    let redis = matches!(kind, Kind::Redis).then(RedisServer::start);
    let app = Spawn::new().configure(|s| on_store(s, redis.as_ref())).run().await;
    wait_for_store(&app, None).await;
    let copied = alice_cookie(&app).await;
    let other_device = alice_cookie(&app).await;
    assert_eq!(verify_with(&app, &copied).await, 200);

    let signed_out = app.get_with_cookie("/auth/verify", &copied).await;
    assert_eq!(signed_out.status(), 200);
    let response = app
        .client
        .post(app.url("/auth/signout"))
        .header("Cookie", &copied)
        .form(&[("redirect_to", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    assert_eq!(verify_with(&app, &copied).await, 401, "the signed-out session is refused from any copy");
    assert_eq!(verify_with(&app, &other_device).await, 200, "her other session is another session");
}

#[tokio::test]
async fn a_copied_cookie_stops_working_after_sign_out_on_the_local_store() {
    a_copied_cookie_stops_working_after_sign_out(Kind::Local).await
}

#[tokio::test]
async fn a_copied_cookie_stops_working_after_sign_out_on_redis() {
    a_copied_cookie_stops_working_after_sign_out(Kind::Redis).await
}

#[tokio::test]
async fn without_a_store_a_copied_cookie_works_until_it_expires() {
    let app = Spawn::new().configure(|s| s.store.kind = StoreKind::None).run().await;
    let copied = alice_cookie(&app).await;
    let response = app.client.post(app.url("/auth/signout")).header("Cookie", &copied).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(verify_with(&app, &copied).await, 200, "kind = none keeps no state: documented");
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
}

#[tokio::test]
async fn a_sign_out_on_one_replica_reaches_the_other_within_a_second() {
    let redis = RedisServer::start();
    let first = Spawn::new().configure(|s| on_store(s, Some(&redis))).run().await;
    let mut settings = test_settings(&first._dir);
    on_store(&mut settings, Some(&redis));
    let second = spawn_in(first._dir.clone(), settings, first.clock.clone()).await;
    wait_for_store(&first, None).await;
    wait_for_store(&second, None).await;
    let copied = alice_cookie(&first).await;
    assert_eq!(verify_with(&second, &copied).await, 200, "one key set: either replica opens the session");

    let response = first.client.post(first.url("/auth/signout")).header("Cookie", &copied).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let signed_out = Instant::now();
    while verify_with(&second, &copied).await != 401 {
        assert!(signed_out.elapsed() < Duration::from_secs(1), "the other replica still serves the session");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("revocation reached the other replica in {:?}", signed_out.elapsed());
}

#[tokio::test]
async fn the_local_store_keeps_its_revocations_across_a_restart() {
    let before = Spawn::new().run().await;
    let copied = alice_cookie(&before).await;
    let response = before.client.post(before.url("/auth/signout")).header("Cookie", &copied).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let dir = before._dir.clone();
    let clock = before.clock.clone();
    drop(before);

    let after = spawn_in(dir.clone(), test_settings(&dir), clock).await;
    wait_for_store(&after, None).await;
    assert_eq!(verify_with(&after, &copied).await, 401, "read back from the file at start");
}

/// Redis goes away: `/readyz` says the store is stale; `serve_known` keeps
/// answering from the revocations known, `deny` refuses every session.
async fn a_lost_store_shows_on_readyz_and_is_handled_as_configured(unavailable: WhenUnavailable) {
    let mut redis = RedisServer::start();
    let app = Spawn::new()
        .configure(|s| {
            on_store(s, Some(&redis));
            s.store.unavailable = unavailable;
        })
        .run()
        .await;
    wait_for_store(&app, None).await;
    let cookie = alice_cookie(&app).await;
    assert_eq!(verify_with(&app, &cookie).await, 200);

    redis.kill();
    wait_for_store(&app, Some("stale")).await;
    let expected = match unavailable {
        WhenUnavailable::ServeKnown => StatusCode::OK,
        WhenUnavailable::Deny => StatusCode::UNAUTHORIZED,
    };
    assert_eq!(verify_with(&app, &cookie).await, expected);
    assert_eq!(app.get("/readyz").await.status(), 503);
}

#[tokio::test]
async fn a_lost_store_with_serve_known_keeps_serving_known_sessions() {
    a_lost_store_shows_on_readyz_and_is_handled_as_configured(WhenUnavailable::ServeKnown).await
}

#[tokio::test]
async fn a_lost_store_with_deny_refuses_every_session() {
    a_lost_store_shows_on_readyz_and_is_handled_as_configured(WhenUnavailable::Deny).await
}
