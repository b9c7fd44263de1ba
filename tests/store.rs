//! The state store (issue 22) against real parts: a real `redis-server`
//! started on a free loopback port per test, and the local SQLite file.
//! Two `Store`s on one Redis stand for two replicas.
//!
//! A separate test binary (not `tests/api`): it starts no gateway, and the
//! store is not wired into one yet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "common/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

use sealgate::clock::{ManualClock, SharedClock, SystemClock};
use sealgate::config::store::{RedisUrl, StoreKind, StoreSettings, WhenUnavailable};
use sealgate::store::{Health, RevocationView, SessionRecord, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

fn now() -> i64 {
    use sealgate::clock::Clock;
    SystemClock.now()
}

async fn eventually(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

/// Two replicas, each with its view following its own store.
async fn replica(store: &Store) -> Arc<RevocationView> {
    let view = RevocationView::new(system_clock(), WhenUnavailable::ServeKnown);
    view.follow(store);
    eventually("the view loads", Duration::from_secs(5), || view.health() == Health::Current).await;
    view
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_reaches_the_others_view_within_a_second() {
    let redis = RedisServer::start();
    let (first, second) = (redis.store(system_clock()), redis.store(system_clock()));
    let view = replica(&second).await;

    let started = Instant::now();
    first.revoke_session("session-1", now() + 3600).await.unwrap();
    eventually("the session revocation", Duration::from_secs(1), || view.is_revoked("session-1", "p", "ada", now()))
        .await;
    let session_latency = started.elapsed();

    let started = Instant::now();
    first.revoke_user_before("ada", now() + 1, now() + 3600).await.unwrap();
    eventually("the user mark", Duration::from_secs(1), || view.is_revoked("other-session", "p", "ada", now() - 10))
        .await;
    let user_latency = started.elapsed();
    // The feed stays up across its pings (a failed ping would reconnect).
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(view.health(), Health::Current);
    let mut warm = Vec::new();
    for i in 0..5 {
        let id = format!("later-{i}");
        let started = Instant::now();
        first.revoke_session(&id, now() + 3600).await.unwrap();
        eventually("a later revocation", Duration::from_secs(1), || view.is_revoked(&id, "p", "ada", now())).await;
        warm.push(started.elapsed());
    }
    println!(
        "revocation reached the other replica's view in {session_latency:?} (session), \
         {user_latency:?} (user mark), then {warm:?}"
    );

    assert!(!view.is_revoked("other-session", "p", "bob", now()), "bob was not signed out");
    let snapshot = second.load_revocations().await.unwrap();
    assert!(snapshot.sessions.contains_key("session-1") && snapshot.users.contains_key("ada"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_hits_from_both_replicas_count_once_each() {
    let redis = RedisServer::start();
    let (first, second) = (redis.store(system_clock()), redis.store(system_clock()));
    let window = Duration::from_millis(400);
    assert_eq!(first.hit("user:ada", window).await.unwrap(), 1);
    assert_eq!(second.hit("user:ada", window).await.unwrap(), 2);
    assert_eq!(first.hit("user:ada", window).await.unwrap(), 3);
    assert_eq!(second.hit("client:192.0.2.1", window).await.unwrap(), 1, "another key counts apart");

    let hits = futures_util::future::join_all((0..50).map(|i| {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        async move { store.hit("burst", Duration::from_secs(10)).await.unwrap() }
    }))
    .await;
    let mut sorted = hits.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=50).collect::<Vec<u64>>(), "each concurrent hit got its own count");

    second.reset("user:ada").await.unwrap();
    assert_eq!(first.hit("user:ada", window).await.unwrap(), 1, "reset on one replica is seen by the other");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(second.hit("user:ada", window).await.unwrap(), 1, "a new window starts over");
}

/// A hit taken back on one replica is taken back for the other; never
/// below zero; the window's time left is what the first hit started.
async fn a_hit_is_taken_back_and_the_window_says_how_long_it_has_left(first: Store, second: Store) {
    let window = Duration::from_secs(30);
    assert_eq!(first.window_left("user:ada").await.unwrap(), None, "no hits, no window");
    first.hit("user:ada", window).await.unwrap();
    second.hit("user:ada", window).await.unwrap();
    second.take_back("user:ada").await.unwrap();
    assert_eq!(first.hit("user:ada", window).await.unwrap(), 2, "one of the two was taken back");
    let left = second.window_left("user:ada").await.unwrap().expect("a window");
    assert!(left > Duration::from_secs(29) && left <= window, "{left:?}");
    for _ in 0..3 {
        first.take_back("user:ada").await.unwrap();
    }
    assert_eq!(second.hit("user:ada", window).await.unwrap(), 1, "never below zero");
    first.take_back("nobody").await.unwrap();
    assert_eq!(first.window_left("nobody").await.unwrap(), None, "taking back creates nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_is_taken_back_and_the_window_says_how_long_it_has_left_on_redis() {
    let redis = RedisServer::start();
    a_hit_is_taken_back_and_the_window_says_how_long_it_has_left(
        redis.store(system_clock()),
        redis.store(system_clock()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_is_taken_back_and_the_window_says_how_long_it_has_left_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings { path: dir.path().join("s.db"), ..StoreSettings::default() };
    let (first, second) =
        (Store::open(&settings, system_clock()).unwrap(), Store::open(&settings, system_clock()).unwrap());
    a_hit_is_taken_back_and_the_window_says_how_long_it_has_left(first, second).await
}

/// Sign out everywhere: the mark covers every session issued up to this
/// second, and the user's records (not another user's) are forgotten.
async fn sign_out_everywhere_marks_the_user_and_forgets_their_records(store: Store) {
    let now = now();
    let record = |id: &str, user: &str, created: i64| SessionRecord {
        id: id.into(),
        user: user.into(),
        provider: "credentials".into(),
        created,
        expires: now + 3600,
        user_agent: None,
        client_address: None,
        sid: None,
    };
    store.record_session(&record("old", "ada", now - 100)).await.unwrap();
    store.record_session(&record("this-second", "ada", now)).await.unwrap();
    store.record_session(&record("bobs", "bob", now - 100)).await.unwrap();

    let signed_out = store.sign_out_everywhere("ada", now, 3600).await.unwrap();

    assert_eq!(signed_out.records_removed, 2);
    assert!(store.list_sessions("ada").await.unwrap().is_empty());
    assert_eq!(store.list_sessions("bob").await.unwrap().len(), 1, "bob is not signed out");
    let snapshot = store.load_revocations().await.unwrap();
    let mark = snapshot.users["ada"];
    assert_eq!((mark.before, mark.until), (now + 1, now + 1 + 3600));
    let view = RevocationView::new(system_clock(), WhenUnavailable::ServeKnown);
    view.insert(signed_out.revocation);
    for provider in ["credentials", "corp"] {
        assert!(view.is_revoked("any", provider, "ada", now), "a session of this very second is refused");
        assert!(!view.is_revoked("any", provider, "ada", now + 1), "a sign-in after it is not");
    }
    assert!(matches!(Store::Off.sign_out_everywhere("ada", now, 3600).await, Err(sealgate::store::StoreError::Off)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_everywhere_marks_the_user_and_forgets_their_records_on_redis() {
    let redis = RedisServer::start();
    sign_out_everywhere_marks_the_user_and_forgets_their_records(redis.store(system_clock())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_everywhere_marks_the_user_and_forgets_their_records_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings { path: dir.path().join("s.db"), ..StoreSettings::default() };
    sign_out_everywhere_marks_the_user_and_forgets_their_records(Store::open(&settings, system_clock()).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_held_by_one_replica_and_released_by_its_holder_only() {
    let redis = RedisServer::start();
    let (first, second) = (redis.store(system_clock()), redis.store(system_clock()));
    let ttl = Duration::from_millis(300);

    let held = first.try_lock("refresh:s1:rt", ttl).await.unwrap().expect("the first replica takes the lock");
    assert!(second.try_lock("refresh:s1:rt", ttl).await.unwrap().is_none(), "the second replica waits");

    tokio::time::sleep(Duration::from_millis(350)).await;
    let taken_over = second.try_lock("refresh:s1:rt", Duration::from_secs(5)).await.unwrap().expect("expired: free");
    assert!(!held.release().await.unwrap(), "an expired holder cannot release the new holder's lock");
    assert!(first.try_lock("refresh:s1:rt", ttl).await.unwrap().is_none(), "the new holder still holds it");
    assert!(taken_over.release().await.unwrap());
    assert!(first.try_lock("refresh:s1:rt", ttl).await.unwrap().is_some(), "released: free again");

    second.put_outcome("refresh:s1:rt", b"\x00sealed\xff", Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.get_outcome("refresh:s1:rt").await.unwrap().as_deref(), Some(&b"\x00sealed\xff"[..]));
    assert_eq!(first.get_outcome("refresh:other").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seen_once_is_true_once_across_replicas() {
    let redis = RedisServer::start();
    let (first, second) = (redis.store(system_clock()), redis.store(system_clock()));
    let ttl = Duration::from_millis(300);
    assert!(first.seen_once("jti:abc", ttl).await.unwrap());
    assert!(!second.seen_once("jti:abc", ttl).await.unwrap(), "a replay on another replica");
    assert!(!first.seen_once("jti:abc", ttl).await.unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(second.seen_once("jti:abc", ttl).await.unwrap(), "forgotten after its ttl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_records_are_shared_and_found_by_sid() {
    let redis = RedisServer::start();
    let clock = ManualClock::at(now());
    let (first, second) = (redis.store(Arc::new(clock.clone())), redis.store(Arc::new(clock.clone())));
    let expires = now() + 600;
    let record = |id: &str, created: i64, sid: &str| SessionRecord {
        id: id.into(),
        user: "ada".into(),
        provider: "idp".into(),
        created,
        expires,
        user_agent: Some("Mozilla/5.0".into()),
        client_address: Some("192.0.2.7".into()),
        sid: Some(sid.into()),
    };
    first.record_session(&record("b", 20, "sid-1")).await.unwrap();
    first.record_session(&record("a", 10, "sid-1")).await.unwrap();
    second.record_session(&record("c", 30, "sid-2")).await.unwrap();
    let ids = |records: Vec<SessionRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(second.list_sessions("ada").await.unwrap()), ["a", "b", "c"]);
    assert_eq!(ids(second.sessions_by_sid("idp", "sid-1").await.unwrap()), ["a", "b"]);
    assert!(second.sessions_by_sid("other", "sid-1").await.unwrap().is_empty());
    assert_eq!(second.list_sessions("ada").await.unwrap()[0], record("a", 10, "sid-1"));

    assert!(second.remove_session("ada", "a").await.unwrap());
    assert!(!first.remove_session("ada", "a").await.unwrap(), "already removed");
    assert_eq!(ids(first.sessions_by_sid("idp", "sid-1").await.unwrap()), ["b"]);

    clock.advance(600);
    assert!(first.list_sessions("ada").await.unwrap().is_empty(), "expired by the clock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_redis_restart_the_view_keeps_what_it_knows_then_reloads() {
    let mut redis = RedisServer::start();
    let (first, second) = (redis.store(system_clock()), redis.store(system_clock()));
    let view = replica(&second).await;
    let until = now() + 3600;
    first.revoke_session("before-restart", until).await.unwrap();
    eventually("the first revocation", Duration::from_secs(1), || view.is_revoked("before-restart", "p", "u", 0)).await;

    // A revocation the view never heard of (stored, its announcement missed),
    // then kept across the restart.
    let mut raw = redis.raw().await;
    redis::cmd("ZADD")
        .arg("sealgate:revoked:sessions")
        .arg(until)
        .arg("missed")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    redis::cmd("SAVE").query_async::<()>(&mut raw).await.unwrap();
    assert!(!view.is_revoked("missed", "p", "u", 0));

    redis.kill();
    eventually("the view reports stale", Duration::from_secs(3), || matches!(view.health(), Health::Stale { .. }))
        .await;
    assert!(view.is_revoked("before-restart", "p", "u", 0), "the view keeps its entries while stale");
    assert!(first.revoke_session("while-down", until).await.is_err(), "a write to a dead Redis fails (bounded)");

    redis.run();
    let back = eventually("the view reloads", Duration::from_secs(5), || view.health() == Health::Current).await;
    println!("the view was current again {back:?} after Redis restarted");
    assert!(view.is_revoked("missed", "p", "u", 0), "the reload caught the revocation it missed");
    assert!(view.is_revoked("before-restart", "p", "u", 0));

    first.revoke_session("after-restart", until).await.unwrap();
    eventually("announcements after the reconnect", Duration::from_secs(1), || {
        view.is_revoked("after-restart", "p", "u", 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_authenticates_and_never_shows() {
    let redis = RedisServer::start_with(Some("s3cret-store-pass"));
    let store = redis.store(system_clock());
    assert!(store.seen_once("k", Duration::from_secs(5)).await.unwrap(), "authenticated by the URL");
    let shown = format!("{store:?}");
    assert!(!shown.contains("s3cret-store-pass"), "{shown}");
    assert!(shown.contains(&redis.port.to_string()), "{shown}");

    let wrong = StoreSettings {
        kind: StoreKind::Redis,
        url: Some(RedisUrl::new(&format!("redis://:wrong-pass@127.0.0.1:{}", redis.port))),
        ..StoreSettings::default()
    };
    let refused =
        Store::open(&wrong, system_clock()).unwrap().seen_once("k", Duration::from_secs(5)).await.unwrap_err();
    assert!(!refused.to_string().contains("wrong-pass"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_store_keeps_its_revocations_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings { path: dir.path().join("data").join("sealgate.db"), ..StoreSettings::default() };
    let until = now() + 3600;
    {
        let store = Store::open(&settings, system_clock()).unwrap();
        store.revoke_session("s1", until).await.unwrap();
        store.revoke_user_before("ada", now(), until).await.unwrap();
    }
    let reopened = Store::open(&settings, system_clock()).unwrap();
    let view = replica(&reopened).await;
    assert!(view.is_revoked("s1", "p", "bob", now()));
    assert!(view.is_revoked("s2", "p", "ada", now() - 10));
    assert!(!view.is_revoked("s2", "p", "bob", now()));
    let path: PathBuf = settings.path.clone();
    assert!(path.exists());
}

/// Signed-up accounts: found by name and address without case, neither
/// held twice, confirmed for good, forgotten unconfirmed at their expiry
/// (by the injected clock), and their hash replaced.
async fn accounts_are_unique_by_name_and_address_and_expire_unconfirmed(
    first: Store,
    second: Store,
    clock: ManualClock,
) {
    use sealgate::clock::Clock;
    use sealgate::store::{AccountRecord, Created};
    let now = clock.now();
    let account = |username: &str, email: &str| AccountRecord {
        username: username.into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        created: now,
        confirmed: None,
        expires: Some(now + 600),
    };
    assert_eq!(first.create_account(&account("Carol", "Carol@Example.com")).await.unwrap(), Created::Created);
    let found = second.account(" CAROL ").await.unwrap().expect("carol, from the other replica");
    assert_eq!((found.username.as_str(), found.email.as_str(), found.confirmed), ("Carol", "Carol@Example.com", None));
    assert!(!format!("{found:?}").contains("argon2id"), "the hash in Debug");
    assert_eq!(second.create_account(&account("carol", "c2@example.com")).await.unwrap(), Created::UsernameTaken);
    assert_eq!(second.create_account(&account("dave", "carol@example.COM")).await.unwrap(), Created::EmailTaken);

    // Two replicas racing for one name: one wins.
    let (erin, other_erin) = (account("erin", "erin1@example.com"), account("ERIN", "erin2@example.com"));
    let (a, b) = tokio::join!(first.create_account(&erin), second.create_account(&other_erin));
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| *o != Created::Created);
    assert_eq!(outcomes, [Created::Created, Created::UsernameTaken]);

    // Confirmed, an account outlives its expiry; unconfirmed, it is gone.
    assert!(first.confirm_account("carol").await.unwrap());
    assert!(first.confirm_account("carol").await.unwrap(), "confirming again changes nothing");
    let confirmed = second.account("carol").await.unwrap().unwrap();
    assert_eq!((confirmed.confirmed, confirmed.expires), (Some(now), None));
    assert!(first.set_password_hash("CAROL", "$argon2id$new").await.unwrap());
    assert_eq!(second.account("carol").await.unwrap().unwrap().password_hash, "$argon2id$new");
    clock.advance(601);
    assert!(second.account("carol").await.unwrap().is_some(), "confirmed: kept");
    assert!(second.account("erin").await.unwrap().is_none(), "unconfirmed and expired");
    assert!(!second.confirm_account("erin").await.unwrap());
    assert!(!second.set_password_hash("erin", "$argon2id$x").await.unwrap());
    let mut again = account("erin", "erin1@example.com");
    again.expires = Some(clock.now() + 600);
    assert_eq!(first.create_account(&again).await.unwrap(), Created::Created, "the name and address are free");
    assert_eq!(first.create_account(&account("x", "carol@example.com")).await.unwrap(), Created::EmailTaken);
    assert!(matches!(Store::Off.account("carol").await, Err(sealgate::store::StoreError::Off)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_unique_by_name_and_address_and_expire_unconfirmed_on_redis() {
    let redis = RedisServer::start();
    let clock = ManualClock::at(now());
    let shared: SharedClock = Arc::new(clock.clone());
    accounts_are_unique_by_name_and_address_and_expire_unconfirmed(
        redis.store(shared.clone()),
        redis.store(shared),
        clock,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_unique_by_name_and_address_and_expire_unconfirmed_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings { path: dir.path().join("s.db"), ..StoreSettings::default() };
    let clock = ManualClock::at(now());
    let shared: SharedClock = Arc::new(clock.clone());
    let (first, second) = (Store::open(&settings, shared.clone()).unwrap(), Store::open(&settings, shared).unwrap());
    accounts_are_unique_by_name_and_address_and_expire_unconfirmed(first, second, clock).await
}
