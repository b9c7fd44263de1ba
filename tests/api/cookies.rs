//! The cookie on the wire: secure attributes by default, chunking of large
//! sessions, and replacement that leaves no stale chunk behind; each story
//! once per key algorithm.

use crate::helpers::{new_dir_for, sealed_alg, set_cookies, spawn_in, test_settings, Spawn};
use crate::helpers::{ALICE, ALICE_PASSWORD, CROWD, CROWD_PASSWORD};
use crate::support::per_key_alg;
use sealgate::clock::ManualClock;
use sealgate::config::Mode;
use sealgate::crypto::keys::KeyAlg;
use std::sync::Arc;

per_key_alg!(
    production_cookies_are_host_prefixed_secure_httponly_lax,
    a_large_session_is_chunked_joined_and_replaced_cleanly,
    missing_or_surplus_chunks_are_refused_not_crashed_on,
);

async fn production_cookies_are_host_prefixed_secure_httponly_lax(alg: KeyAlg) {
    let dir = Arc::new(new_dir_for(alg));
    let mut settings = test_settings(&dir);
    settings.mode = Mode::Production;
    settings.server.public_url = "https://gate.example.com".into();
    settings.cookie.insecure_http = false;
    let app = spawn_in(dir, settings, ManualClock::at(chrono::Utc::now().timestamp())).await;
    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(response.status(), 303);
    let cookie =
        set_cookies(response.headers()).into_iter().find(|c| c.name == "__Host-sealgate").expect("__Host- cookie");
    for attribute in ["secure", "httponly", "samesite=lax", "path=/"] {
        assert!(cookie.attributes.contains(attribute), "{attribute} missing: {}", cookie.raw);
    }
    assert!(!cookie.attributes.contains("domain"), "{}", cookie.raw);
    assert_eq!(sealed_alg(&cookie.value), alg.as_str());
    let verified = app.get_with_cookie("/auth/verify", &format!("__Host-sealgate={}", cookie.value)).await;
    assert_eq!(verified.status(), 200);
}

async fn a_large_session_is_chunked_joined_and_replaced_cleanly(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    let response = app.sign_in(CROWD, CROWD_PASSWORD).await;
    let chunks: Vec<_> =
        set_cookies(response.headers()).into_iter().filter(|c| c.name.starts_with("sealgate_")).collect();
    assert!(chunks.len() >= 2, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.value.len() <= 3800 && c.attributes.contains("httponly")));

    let verified = app.verify().await;
    assert_eq!(verified.status(), 200);
    let groups = verified.headers().get("x-auth-groups").unwrap().to_str().unwrap().to_owned();
    assert_eq!(groups.split(',').count(), 160);

    // Signing in as someone with a small session removes the old chunks.
    let replaced = app.sign_in(ALICE, ALICE_PASSWORD).await;
    let cookies = set_cookies(replaced.headers());
    assert!(cookies.iter().any(|c| c.name == "sealgate" && !c.is_removal()));
    for chunk in &chunks {
        assert!(cookies.iter().any(|c| c.name == chunk.name && c.is_removal()), "{} not removed", chunk.name);
    }
    let verified = app.verify().await;
    assert_eq!(verified.headers().get("x-auth-user").unwrap(), "alice");
}

async fn missing_or_surplus_chunks_are_refused_not_crashed_on(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    let mut user = sealgate::identity::User::new("big");
    user.groups = (0..150).map(|i| format!("group-number-{i:04}-padded-out")).collect();
    let session = app.sessions.codec.start(user, crate::helpers::MINTED, true, None).unwrap();
    let header = app.cookie_for(&session);
    assert!(header.contains("sealgate_2="), "{}", &header[..40]);
    assert_eq!(app.get_with_cookie("/auth/verify", &header).await.status(), 200);

    let without_second: String =
        header.split("; ").filter(|p| !p.starts_with("sealgate_2=")).collect::<Vec<_>>().join("; ");
    assert_eq!(app.get_with_cookie("/auth/verify", &without_second).await.status(), 401);
    let surplus = (1..=20).map(|i| format!("sealgate_{i}=AAAA")).collect::<Vec<_>>().join("; ");
    assert_eq!(app.get_with_cookie("/auth/verify", &surplus).await.status(), 401);
    assert_eq!(app.get("/healthz").await.status(), 200);
}
