//! Key rotation and retirement, across restarts, as an operator does it.

use crate::helpers::{new_dir, spawn_in, test_settings, try_spawn_in};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sealgate::clock::ManualClock;
use sealgate::config::Mode;
use sealgate::keys::{self, KeyAlg};
use std::sync::Arc;

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
