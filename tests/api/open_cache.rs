//! The open-cache's bound: `session.cache_bytes` holds against real traffic
//! to `/auth/verify`, as `/metrics` reports it.

use crate::helpers::{new_dir, spawn_app_with, test_settings, try_spawn_in};
use reqwest::header::COOKIE;
use sealgate::clock::ManualClock;
use std::sync::Arc;

/// The value of an unlabelled series in the metrics text.
fn series(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test]
async fn the_open_cache_keeps_to_session_cache_bytes() {
    let app = spawn_app_with(|settings| settings.session.cache_bytes = 1 << 20).await;
    // About 2.5 KB of memory a session: 1,200 of them would take three times the bound.
    for i in 0..1200 {
        let cookie = app.cookie_for(&app.session_for(&format!("user-{i}")));
        let answer = app.client.get(app.url("/auth/verify")).header(COOKIE, cookie).send().await.unwrap();
        assert_eq!(answer.status(), 200, "session {i}");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let (entries, bytes) =
        (series(&metrics, "sealgate_open_cache_entries"), series(&metrics, "sealgate_open_cache_bytes"));
    assert!(bytes <= 1 << 20, "{entries} sessions weigh {bytes}, over session.cache_bytes");
    assert!(bytes > 1 << 19 && entries < 1200, "{entries} sessions weigh {bytes}: filled, and some left out");
}

#[tokio::test]
async fn a_cache_under_a_mebibyte_stops_the_start() {
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    settings.session.cache_bytes = 0;
    let error = try_spawn_in(dir, settings, ManualClock::at(chrono::Utc::now().timestamp())).await.err().unwrap();
    assert!(error.contains("session.cache_bytes must be at least 1048576"), "{error}");
}
