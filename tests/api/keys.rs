//! Key rotation and retirement, across restarts and live, as an operator does it.

use crate::helpers::{captured_logs, new_dir, spawn_in, test_settings, try_spawn_in, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sealgate::clock::ManualClock;
use sealgate::config::Mode;
use sealgate::crypto::keys::{self, KeyAlg};
use sealgate::session::{Lifetimes, SessionCodec};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod fleet;

/// Wait until `check` holds, trying every 20 ms for at most 10 s.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A session cookie sealed with key `kid` of the key file at `path`, as a
/// replica that had already activated it would seal it.
pub fn cookie_sealed_with(path: &std::path::Path, kid: &str, cookie_name: &str) -> String {
    let mut set = keys::read_key_set(path).unwrap();
    set.activate(kid).unwrap();
    let clock = Arc::new(ManualClock::at(chrono::Utc::now().timestamp()));
    let codec = SessionCodec::new(&set, clock, Lifetimes { idle: 3600, absolute: 7200 }, 16384).unwrap();
    let session = codec.start(sealgate::identity::User::new("probe"), crate::helpers::MINTED, true, None).unwrap();
    format!("{cookie_name}={}", codec.seal(&session).unwrap())
}

async fn status(app: &TestApp, cookie: &str) -> u16 {
    app.get_with_cookie("/auth/verify", cookie).await.status().as_u16()
}

fn header_of(cookie: &str) -> serde_json::Value {
    let token = cookie.split_once('=').unwrap().1;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

fn remove_key(path: &std::path::Path, kid: &str) {
    let mut set: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    set["keys"].as_array_mut().unwrap().retain(|k| k["kid"] != kid);
    std::fs::write(path, serde_json::to_string(&set).unwrap()).unwrap();
}

#[tokio::test]
async fn rotation_signs_nobody_out_and_removing_a_key_ends_its_sessions() {
    let dir = Arc::new(new_dir());
    let settings = test_settings(&dir);
    let clock = ManualClock::at(chrono::Utc::now().timestamp());

    let before = spawn_in(dir.clone(), settings.clone(), clock.clone()).await;
    let old_cookie = before.cookie_for(&before.session_for("frank"));
    let old_kid = header_of(&old_cookie)["kid"].as_str().unwrap().to_owned();
    assert_eq!(header_of(&old_cookie)["alg"], "dir");

    let new_kid = keys::keygen(&settings.keys.path, KeyAlg::A256Kw).unwrap();
    let rotated = spawn_in(dir.clone(), settings.clone(), clock.clone()).await;
    assert_eq!(
        rotated.get_with_cookie("/auth/verify", &old_cookie).await.status(),
        200,
        "old sessions survive rotation"
    );
    let new_cookie = rotated.cookie_for(&rotated.session_for("grace"));
    assert_eq!(header_of(&new_cookie)["kid"], new_kid.as_str());
    assert_eq!(header_of(&new_cookie)["alg"], "A256KW");
    assert_eq!(header_of(&new_cookie)["enc"], "A256GCM");
    assert_eq!(header_of(&new_cookie)["typ"], "sealgate-session");
    assert_eq!(rotated.get_with_cookie("/auth/verify", &new_cookie).await.status(), 200);

    remove_key(&settings.keys.path, &old_kid);
    let pruned = spawn_in(dir.clone(), settings.clone(), clock).await;
    assert_eq!(pruned.get_with_cookie("/auth/verify", &old_cookie).await.status(), 401, "its key is gone");
    assert_eq!(pruned.get_with_cookie("/auth/verify", &new_cookie).await.status(), 200);
}

#[tokio::test]
async fn a_cookie_from_another_deployment_does_not_open() {
    let ours = crate::helpers::spawn_app().await;
    let theirs = crate::helpers::spawn_app().await;
    let foreign = theirs.cookie_for(&theirs.session_for("mallory"));
    assert_eq!(ours.get_with_cookie("/auth/verify", &foreign).await.status(), 401);
}

#[tokio::test]
async fn production_refuses_to_start_without_keys_and_development_creates_them() {
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    settings.keys.path = dir.path().join("missing/keys.json");
    settings.mode = Mode::Production;
    settings.server.public_url = "https://gate.example.com".into();
    settings.cookie.insecure_http = false;
    let clock = ManualClock::at(chrono::Utc::now().timestamp());
    let error = try_spawn_in(dir.clone(), settings.clone(), clock.clone()).await.err().expect("production must refuse");
    assert!(error.contains("sealgate keygen"), "{error}");
    assert!(!settings.keys.path.exists());

    let mut development = test_settings(&dir);
    development.keys.path = dir.path().join("created/keys.json");
    let app = try_spawn_in(dir.clone(), development.clone(), clock).await.unwrap();
    assert!(development.keys.path.exists());
    assert_eq!(keys::read_key_set(&development.keys.path).unwrap().len(), 1);
    assert_eq!(app.get_with_cookie("/auth/verify", &app.cookie_for(&app.session_for("h"))).await.status(), 200);
}

#[tokio::test]
async fn production_refuses_demo_users_and_lists_every_problem() {
    let dir = Arc::new(new_dir());
    std::fs::write(
        dir.path().join("users.toml"),
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/users.toml")).unwrap(),
    )
    .unwrap();
    let mut settings = test_settings(&dir);
    settings.mode = Mode::Production;
    let clock = ManualClock::at(chrono::Utc::now().timestamp());
    let error = try_spawn_in(dir, settings, clock).await.err().expect("production must refuse");
    for expected in ["demo users are refused", "requires an https", "insecure_http is not allowed"] {
        assert!(error.contains(expected), "missing {expected:?} in {error}");
    }
}

#[tokio::test]
async fn a_running_gateway_follows_a_staged_rotation_and_keeps_the_last_good_set_when_the_file_breaks() {
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    settings.keys.reload_interval = Duration::from_millis(50);
    let path = settings.keys.path.clone();
    let app = spawn_in(dir.clone(), settings, ManualClock::at(chrono::Utc::now().timestamp())).await;
    let old_cookie = app.cookie_for(&app.session_for("frank"));
    let old_kid = header_of(&old_cookie)["kid"].as_str().unwrap().to_owned();
    assert_eq!(status(&app, &old_cookie).await, 200, "opened, and now in the open-cache");
    let (old_api_token, _) =
        app.sessions.api_tokens.mint(sealgate::identity::User::new("ci"), "deploy", vec![], 3600).unwrap();
    let bearer = |token: String| {
        let app = &app;
        async move {
            let url = app.url("/auth/verify");
            let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(bearer(old_api_token.clone()).await, 200);

    // Step 1: a next key. The gateway opens with it once it has reloaded, and still seals with the old one.
    let next_kid = keys::keygen_next(&path, KeyAlg::A256Kw).unwrap();
    let ahead = cookie_sealed_with(&path, &next_kid, &app.cookie_name());
    eventually("the next key opens", || async { status(&app, &ahead).await == 200 }).await;
    assert_eq!(header_of(&app.cookie_for(&app.session_for("grace")))["kid"], old_kid.as_str());

    // Step 2: activate. New sessions are sealed with it; the old sessions still open.
    keys::activate(&path, &next_kid).unwrap();
    eventually("the next key seals", || async {
        header_of(&app.cookie_for(&app.session_for("grace")))["kid"] == next_kid.as_str()
    })
    .await;
    let new_cookie = app.cookie_for(&app.session_for("grace"));
    assert_eq!(status(&app, &new_cookie).await, 200);
    assert_eq!(status(&app, &old_cookie).await, 200);

    // A broken file is refused, with an error in the log, and the last good set stays in force.
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, good.replace(r#""kty": "oct""#, r#""kty": "RSA""#)).unwrap();
    let shown = path.display().to_string();
    eventually("the broken file is refused", || async {
        captured_logs().lines().any(|line| line.contains("reload refused") && line.contains(&shown))
    })
    .await;
    assert_eq!(status(&app, &old_cookie).await, 200, "old sessions still open");
    assert_eq!(status(&app, &new_cookie).await, 200);
    assert_eq!(header_of(&app.cookie_for(&app.session_for("grace")))["kid"], next_kid.as_str());
    std::fs::write(&path, &good).unwrap();

    // Step 3: retire the old key. Its sessions end, though the cache had opened them.
    keys::retire(&path, &old_kid).unwrap();
    eventually("the retired key opens nothing", || async { status(&app, &old_cookie).await == 401 }).await;
    assert_eq!(status(&app, &new_cookie).await, 200);
    assert_eq!(bearer(old_api_token).await, 401, "API tokens sealed with the retired key end too");
    let (new_api_token, _) =
        app.sessions.api_tokens.mint(sealgate::identity::User::new("ci"), "deploy", vec![], 3600).unwrap();
    assert_eq!(header_of(&format!("t={new_api_token}"))["kid"], next_kid.as_str());
    assert_eq!(bearer(new_api_token).await, 200);

    let logs = captured_logs();
    let set: serde_json::Value = serde_json::from_str(&good).unwrap();
    for key in set["keys"].as_array().unwrap() {
        assert!(!logs.contains(key["k"].as_str().unwrap()), "key material in the logs");
    }
}
