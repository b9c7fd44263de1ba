//! Password sign-in rate limits counted in the state store: two gateways on
//! one Redis allow together what one allows, per username and per client
//! address; a success on one clears the username's count for both; the
//! window is the store's and `Retry-After` says what is left of it; and
//! with Redis gone each gateway still limits, in its own memory.

use crate::helpers::{
    captured_logs, header, on_redis, spawn_in, test_settings, Spawn, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD,
};
use crate::support::redis_server::RedisServer;
use reqwest::StatusCode;
use sealgate::config::Settings;
use std::time::Duration;

/// Two gateways on `redis`, sharing one key set and users file, both
/// following the store; `configure` changes both.
async fn two_replicas(redis: &RedisServer, configure: fn(&mut Settings)) -> (TestApp, TestApp) {
    let first = Spawn::new()
        .configure(|s| {
            on_redis(s, redis);
            configure(s);
        })
        .run()
        .await;
    let mut settings = test_settings(&first._dir);
    on_redis(&mut settings, redis);
    configure(&mut settings);
    let second = spawn_in(first._dir.clone(), settings, first.clock.clone()).await;
    first.wait_for_store(None).await;
    second.wait_for_store(None).await;
    (first, second)
}

/// `Retry-After` as a number of seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    header(response, "retry-after").expect("a Retry-After").parse().unwrap()
}

#[tokio::test]
async fn failed_sign_ins_alternated_between_two_replicas_hit_the_limit_of_one() {
    let redis = RedisServer::start();
    let (first, second) = two_replicas(&redis, |_| {}).await;
    let replicas = [&first, &second];

    // max_failures_per_user is 5: five failures in all, alternating.
    for attempt in 0..5 {
        let response = replicas[attempt % 2].sign_in(ALICE, "a guess").await;
        assert_eq!(response.status(), 303, "failure {} is a failure, not yet a 429", attempt + 1);
    }

    for replica in replicas {
        let blocked = replica.sign_in(ALICE, ALICE_PASSWORD).await;
        assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits, on each");
        assert!((890..=900).contains(&retry_after(&blocked)), "what is left of 15 minutes");
    }
    assert_eq!(first.sign_in(BOB, BOB_PASSWORD).await.status(), 303, "other users are unaffected");
}

#[tokio::test]
async fn a_success_on_one_replica_clears_the_usernames_count_on_the_other() {
    let redis = RedisServer::start();
    let (first, second) = two_replicas(&redis, |_| {}).await;
    for _ in 0..4 {
        assert_eq!(first.sign_in(ALICE, "a guess").await.status(), 303);
    }
    second.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    for attempt in 0..5 {
        assert_eq!(first.sign_in(ALICE, "a guess").await.status(), 303, "failure {} after the success", attempt + 1);
    }
    assert_eq!(second.sign_in(ALICE, ALICE_PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn one_client_guessing_many_usernames_on_two_replicas_hits_the_limit_of_one() {
    let redis = RedisServer::start();
    let (first, second) = two_replicas(&redis, |s| s.credentials.max_failures_per_client = 4).await;
    for attempt in 0..4 {
        let replica = if attempt % 2 == 0 { &first } else { &second };
        assert_eq!(replica.sign_in(&format!("user{attempt}"), "x").await.status(), 303);
    }
    assert_eq!(first.sign_in(BOB, BOB_PASSWORD).await.status(), 429, "the client's fifth attempt");
    assert_eq!(second.sign_in(BOB, BOB_PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn concurrent_guesses_on_two_replicas_get_no_more_password_checks_than_the_limit() {
    let redis = RedisServer::start();
    let (first, second) = two_replicas(&redis, |s| {
        s.credentials.max_failures_per_client = 1000;
        s.credentials.verification_queue = 64;
    })
    .await;
    let guesses = (0..30).map(|i| {
        let replica = if i % 2 == 0 { &first } else { &second };
        let password = format!("guess {i}");
        async move { replica.sign_in(ALICE, &password).await.status() }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, limited), (5, 25), "{statuses:?}");
}

#[tokio::test]
async fn the_window_is_the_stores_and_a_new_one_starts_when_it_ends() {
    // The local store, as a single gateway keeps it by default.
    let app = Spawn::new().configure(|s| s.credentials.failure_window = Duration::from_secs(2)).run().await;
    for _ in 0..5 {
        assert_eq!(app.sign_in(ALICE, "a guess").await.status(), 303);
    }
    let blocked = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(blocked.status(), 429);
    assert!((1..=2).contains(&retry_after(&blocked)), "{:?}", header(&blocked, "retry-after"));
    app.clock.advance(3600);
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 429, "the store's clock, not the gateway's");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(app.signed_in_cookie(ALICE, ALICE_PASSWORD).await.starts_with("sealgate="), "a new window");
}

#[tokio::test]
async fn with_the_store_unreachable_each_replica_still_limits_in_memory() {
    let mut redis = RedisServer::start();
    let (first, second) = two_replicas(&redis, |_| {}).await;
    redis.kill();
    first.wait_for_store(Some("stale")).await;

    for attempt in 0..5 {
        assert_eq!(first.sign_in(ALICE, "a guess").await.status(), 303, "failure {}", attempt + 1);
    }
    let blocked = first.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(blocked.status(), 429, "never unlimited");
    assert_eq!(retry_after(&blocked), 900, "the in-memory window, by the gateway's clock");
    assert_eq!(second.sign_in(ALICE, "a guess").await.status(), 303, "the other replica counts on its own");
    let logs = captured_logs();
    assert!(logs.contains("counting in this replica's memory until it is back"), "the fallback is logged");
    assert!(!logs.contains(ALICE_PASSWORD));
}
