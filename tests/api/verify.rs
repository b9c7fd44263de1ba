//! `/auth/verify`: identity headers for a valid session, 401 otherwise, and
//! sliding renewal to the second; the stories with a session once per key
//! algorithm.

use crate::helpers::{header, sealed_alg, session_alg, set_cookies, spawn_app, spawn_app_with, Spawn};
use crate::support::per_key_alg;
use sealgate::crypto::keys::KeyAlg;

per_key_alg!(
    a_signed_in_person_gets_identity_headers,
    identity_headers_sent_by_the_client_are_never_trusted,
    a_session_expires_to_the_second_and_the_sign_in_page_clears_it,
    sliding_renewal_happens_past_half_the_idle_lifetime_and_stops_at_the_absolute_cap,
);

#[tokio::test]
async fn anonymous_requests_get_401_with_a_challenge() {
    let app = spawn_app().await;
    let response = app.verify().await;
    assert_eq!(response.status(), 401);
    assert_eq!(header(&response, "www-authenticate"), Some("Bearer realm=\"sealgate\""));
    assert!(header(&response, "x-auth-user").is_none());
}

async fn a_signed_in_person_gets_identity_headers(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    let signed_in = app.sign_in_as_alice().await;
    let cookie = set_cookies(signed_in.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
    assert_eq!(sealed_alg(&cookie.value), session_alg(alg), "sealed with the app's key algorithm");
    let response = app.verify().await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-auth-user"), Some("alice"));
    assert_eq!(header(&response, "x-auth-username"), Some("alice"));
    assert_eq!(header(&response, "x-auth-email"), Some("alice@example.com"));
    assert_eq!(header(&response, "x-auth-name"), Some("Alice Liddell"));
    assert_eq!(header(&response, "x-auth-provider"), Some("credentials"));
    assert_eq!(header(&response, "x-auth-groups"), Some("admins,staff"));
    assert_eq!(header(&response, "x-auth-source"), Some("cookie"));
    for name in ["x-auth-user", "x-auth-username", "x-auth-email", "x-auth-name", "x-auth-provider", "x-auth-groups"] {
        assert_eq!(response.headers().get_all(name).iter().count(), 1, "{name} is sent exactly once");
    }
    assert!(set_cookies(response.headers()).is_empty(), "a fresh session is not resealed");
}

async fn identity_headers_sent_by_the_client_are_never_trusted(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    let spoofed = app
        .client
        .get(app.url("/auth/verify"))
        .header("X-Auth-User", "admin")
        .header("X-Auth-Groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 401);
    assert!(header(&spoofed, "x-auth-user").is_none());

    app.sign_in(crate::helpers::BOB, crate::helpers::BOB_PASSWORD).await;
    let response = app.client.get(app.url("/auth/verify")).header("X-Auth-User", "admin").send().await.unwrap();
    assert_eq!(header(&response, "x-auth-user"), Some("bob"));
    assert_eq!(response.headers().get_all("x-auth-user").iter().count(), 1, "only the session's user");
    assert!(header(&response, "x-auth-groups").is_none(), "bob has no groups");
}

async fn a_session_expires_to_the_second_and_the_sign_in_page_clears_it(alg: KeyAlg) {
    let app =
        Spawn::new().alg(alg).configure(|s| s.session.idle_lifetime = std::time::Duration::from_secs(600)).run().await;
    let session = app.session_for("carol");
    let cookie = app.cookie_for(&session);

    app.clock.set(session.expires_at - 1);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);

    app.clock.set(session.expires_at);
    let expired = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(expired.status(), 401);
    assert!(set_cookies(expired.headers()).is_empty(), "the hot path answers 401 and nothing more");
    let page = app.get_with_cookie("/auth/signin", &cookie).await;
    assert_eq!(page.status(), 200);
    let cleared = set_cookies(page.headers());
    assert!(cleared.iter().any(|c| c.name == app.cookie_name() && c.is_removal()), "{cleared:?}");
    assert_eq!(cleared.len(), 1, "only the cookie that was sent is removed: {cleared:?}");
}

async fn sliding_renewal_happens_past_half_the_idle_lifetime_and_stops_at_the_absolute_cap(alg: KeyAlg) {
    let app = Spawn::new()
        .alg(alg)
        .configure(|s| {
            s.session.idle_lifetime = std::time::Duration::from_secs(1000);
            s.session.absolute_lifetime = std::time::Duration::from_secs(1800);
        })
        .run()
        .await;
    let session = app.session_for("dave");
    let cookie = app.cookie_for(&session);
    let t0 = session.created_at;
    let renewed_at = |app: &crate::helpers::TestApp, response: &reqwest::Response| {
        let cookies = set_cookies(response.headers());
        let fresh = cookies.iter().find(|c| c.name == app.cookie_name()).expect("a renewed cookie").clone();
        (app.sessions.codec.open(&fresh.value).unwrap(), fresh)
    };

    app.clock.set(t0 + 500);
    let not_yet = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(not_yet.status(), 200);
    assert!(set_cookies(not_yet.headers()).is_empty(), "exactly half left: no renewal");

    app.clock.set(t0 + 501);
    let renewed = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(renewed.status(), 200);
    let (reopened, fresh) = renewed_at(&app, &renewed);
    assert_eq!(reopened.expires_at, t0 + 1501);
    assert_eq!(reopened.id, session.id, "renewal keeps the session id");
    assert!(fresh.attributes.contains("max-age=1000"), "{}", fresh.raw);
    assert!(fresh.attributes.contains("httponly"), "{}", fresh.raw);

    // The old cookie still ends at its own expiry.
    app.clock.set(t0 + 1000);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401);

    // Renewing again is capped by the absolute lifetime.
    let renewed_cookie = format!("{}={}", fresh.name, fresh.value);
    app.clock.set(t0 + 1200);
    let capped = app.get_with_cookie("/auth/verify", &renewed_cookie).await;
    let (capped_session, capped_cookie) = renewed_at(&app, &capped);
    assert_eq!(capped_session.expires_at, t0 + 1800);
    let capped_cookie = format!("{}={}", capped_cookie.name, capped_cookie.value);
    app.clock.set(t0 + 1799);
    assert_eq!(app.get_with_cookie("/auth/verify", &capped_cookie).await.status(), 200);
    app.clock.set(t0 + 1800);
    assert_eq!(app.get_with_cookie("/auth/verify", &capped_cookie).await.status(), 401);
}

#[tokio::test]
async fn redirect_mode_builds_the_return_url_only_from_trusted_proxies() {
    let forwarded = |app: &crate::helpers::TestApp, host: &'static str| {
        app.client
            .get(app.url("/auth/verify?redirect=1"))
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", host)
            .header("X-Forwarded-Uri", "/a?b=c&d=e")
            .send()
    };
    let trusted = spawn_app_with(|s| s.redirects.allowed_hosts = vec!["app.test".into()]).await;
    let response = forwarded(&trusted, "app.test").await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        crate::helpers::location(&response),
        "http://gate.test/auth/signin?redirect_to=https%3A%2F%2Fapp.test%2Fa%3Fb%3Dc%26d%3De"
    );
    let off_list = forwarded(&trusted, "evil.example").await.unwrap();
    assert_eq!(crate::helpers::location(&off_list), "http://gate.test/auth/signin?redirect_to=%2F");

    let untrusted = spawn_app_with(|s| {
        s.redirects.allowed_hosts = vec!["app.test".into()];
        s.server.trusted_proxies = vec![];
    })
    .await;
    let ignored = forwarded(&untrusted, "app.test").await.unwrap();
    assert_eq!(crate::helpers::location(&ignored), "http://gate.test/auth/signin?redirect_to=%2F");
    assert_eq!(untrusted.verify().await.status(), 401, "without ?redirect=1 it stays a 401");
}
