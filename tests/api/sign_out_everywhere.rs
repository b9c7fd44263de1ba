//! Sign out everywhere: an operator revokes every session of one user with
//! `sealgate sessions revoke --user ID` (the real binary, against the
//! running gateways' store). Cookies copied before then are refused on
//! every replica; other users stay signed in.

use crate::helpers::{
    client, on_redis, spawn_in, test_settings, Spawn, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD,
};
use crate::support::redis_server::RedisServer;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `sealgate sessions revoke --user USER`, run as an operator would on the
/// machine of the gateway whose files are in `dir`, with `store` as the
/// `SEALGATE__STORE__*` environment.
fn sessions_revoke(dir: &Path, user: &str, store: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command
        .args(["sessions", "revoke", "--user", user])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.join("keys.json"))
        .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.join("users.toml"))
        .env_remove("SEALGATE_CONFIG")
        .env_remove("RUST_LOG");
    for (name, value) in store {
        command.env(format!("SEALGATE__STORE__{name}"), value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Until every cookie of `cookies` gets 401 from `app`; how long that took.
async fn refused_within(app: &TestApp, cookies: &[&str], limit: Duration) -> Duration {
    let started = Instant::now();
    for cookie in cookies {
        while app.verify_cookie(cookie).await != 401 {
            assert!(started.elapsed() < limit, "a revoked session still works after {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn the_cli_signs_a_user_out_everywhere_on_redis() {
    let redis = RedisServer::start();
    let first = Spawn::new().configure(|s| on_redis(s, &redis)).run().await;
    let mut settings = test_settings(&first._dir);
    on_redis(&mut settings, &redis);
    let second = spawn_in(first._dir.clone(), settings, first.clock.clone()).await;
    first.wait_for_store(None).await;
    second.wait_for_store(None).await;
    let laptop = first.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let phone = second.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let bob = first.signed_in_cookie(BOB, BOB_PASSWORD).await;
    for cookie in [&laptop, &phone, &bob] {
        assert_eq!(second.verify_cookie(cookie).await, 200);
    }

    let output = sessions_revoke(first._dir.path(), ALICE, &[("KIND", "redis".into()), ("URL", redis.url())]);

    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(said.contains("removed 2 session record(s) of user alice"), "{said}");
    assert!(said.contains("revocation mark set"), "{said}");
    let took = refused_within(&second, &[&laptop, &phone], Duration::from_secs(1)).await;
    eprintln!("the CLI's revocation reached a running replica in {took:?}");
    assert_eq!(first.verify_cookie(&laptop).await, 401);
    assert_eq!(first.verify_cookie(&bob).await, 200, "bob is not signed out");
    assert_eq!(second.verify_cookie(&bob).await, 200);
}

#[tokio::test]
async fn the_cli_signs_a_user_out_everywhere_on_the_local_store_within_a_poll_interval() {
    let poll = Duration::from_millis(300);
    let app = Spawn::new().configure(|s| s.store.poll_interval = poll).run().await;
    app.wait_for_store(None).await;
    let laptop = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let phone = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let bob = app.signed_in_cookie(BOB, BOB_PASSWORD).await;
    assert_eq!(app.verify_cookie(&laptop).await, 200);

    let store_file = app._dir.path().join("sealgate.db").display().to_string();
    let output = sessions_revoke(app._dir.path(), ALICE, &[("PATH", store_file)]);

    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(said.contains("removed 2 session record(s) of user alice"), "{said}");
    assert!(said.contains("within store.poll_interval"), "{said}");
    // The gateway reads what another process wrote at its next poll: one
    // interval at most, and the read itself.
    let took = refused_within(&app, &[&laptop, &phone], poll + Duration::from_millis(200)).await;
    eprintln!("the CLI's revocation reached the gateway in {took:?} (poll_interval {poll:?})");
    assert_eq!(app.verify_cookie(&bob).await, 200, "bob is not signed out");

    // Her records are gone; a sign-in after the mark is a new session.
    app.clock.set(chrono::Utc::now().timestamp() + 2);
    let again = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    assert_eq!(app.verify_cookie(&again).await, 200, "signing in again works");
    let listed = client()
        .get(app.url("/auth/sessions"))
        .header("Cookie", &again)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test]
async fn the_cli_refuses_without_a_store_or_when_the_store_cannot_be_reached() {
    let dir = crate::helpers::new_dir();

    let off = sessions_revoke(dir.path(), ALICE, &[("KIND", "none".into())]);
    assert!(!off.status.success());
    assert!(text(&off.stderr).contains("store.kind is \"none\""), "{}", text(&off.stderr));

    let mut redis = RedisServer::start_with(Some("s3cret-pass"));
    let url = redis.url();
    redis.kill();
    let started = Instant::now();
    let down =
        sessions_revoke(dir.path(), ALICE, &[("KIND", "redis".into()), ("URL", url), ("TIMEOUT", "300ms".into())]);
    assert!(!down.status.success());
    let said = text(&down.stderr);
    assert!(said.contains("could not revoke the sessions"), "{said}");
    assert!(!said.contains("s3cret-pass"), "the password leaked: {said}");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by store.timeout");

    let bad = sessions_revoke(dir.path(), "ali\nce", &[]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("--user"), "{}", text(&bad.stderr));
}
