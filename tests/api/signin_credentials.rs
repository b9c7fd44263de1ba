//! Password sign-in: the page, the form and JSON, failures that say nothing
//! about which part was wrong, rate limits, and safe redirects.

use crate::helpers::{
    header, location, set_cookies, spawn_app, spawn_app_with, ALICE, ALICE_PASSWORD, BOB, PUBLIC_URL,
};

#[tokio::test]
async fn the_page_shows_a_form_and_a_readable_message_per_error_code() {
    let app = spawn_app().await;
    let page = app.get("/auth/signin?redirect_to=/app&error=invalid_credentials").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"username\"") && html.contains("name=\"password\"") && html.contains("name=\"remember\"")
    );
    assert!(html.contains("The username or password is incorrect."));
    assert!(html.contains("name=\"redirect_to\" value=\"/app\""));
}

#[tokio::test]
async fn unknown_error_codes_and_hostile_redirects_are_never_echoed() {
    let app = spawn_app().await;
    let html = app
        .get("/auth/signin?error=%3Cscript%3Ealert(1)%3C/script%3E&redirect_to=%22%3E%3Cscript%3E")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign-in failed. Please try again."));
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("name=\"redirect_to\" value=\"/\""));
}

#[tokio::test]
async fn a_good_password_sets_a_session_cookie_and_redirects() {
    let app = spawn_app().await;
    let response = app
        .post_form(
            "/auth/signin/credentials",
            &[("username", ALICE), ("password", ALICE_PASSWORD), ("remember", "true"), ("redirect_to", "/app?x=1")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/app?x=1");
    let cookies = set_cookies(response.headers());
    let cookie = cookies.iter().find(|c| c.name == "sealgate").expect("a session cookie");
    for attribute in ["httponly", "samesite=lax", "path=/", "max-age=604800"] {
        assert!(cookie.attributes.contains(attribute), "{attribute} missing: {}", cookie.raw);
    }
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn without_remember_me_the_cookie_ends_with_the_browser_session() {
    let app = spawn_app().await;
    let response =
        app.post_form("/auth/signin/credentials", &[("username", ALICE), ("password", ALICE_PASSWORD)]).await;
    assert_eq!(response.status(), 303);
    let cookie = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").unwrap();
    assert!(!cookie.attributes.contains("max-age") && !cookie.attributes.contains("expires"), "{}", cookie.raw);
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn json_sign_in_works_too() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .json(&serde_json::json!({ "username": ALICE, "password": ALICE_PASSWORD, "remember": false, "redirect_to": "/x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/x");
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    let wrong = app.sign_in(ALICE, "not it").await;
    let unknown = app.sign_in("nobody", "not it").await;
    for response in [&wrong, &unknown] {
        assert_eq!(response.status(), 303);
        assert_eq!(location(response), "/auth/signin?error=invalid_credentials");
        assert!(set_cookies(response.headers()).iter().all(|c| c.name != "sealgate" || c.is_removal()));
    }
    assert_eq!(app.verify().await.status(), 401);
}

#[tokio::test]
async fn a_failed_sign_in_keeps_the_redirect_target() {
    let app = spawn_app().await;
    let response = app
        .post_form(
            "/auth/signin/credentials",
            &[("username", ALICE), ("password", "no"), ("redirect_to", "/deep/link?a=b")],
        )
        .await;
    assert_eq!(location(&response), "/auth/signin?error=invalid_credentials&redirect_to=%2Fdeep%2Flink%3Fa%3Db");
}

#[tokio::test]
async fn repeated_failures_for_one_user_are_rate_limited_until_the_window_passes() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.sign_in(ALICE, "guess").await.status(), 303);
    }
    let blocked = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(blocked.status(), 429, "even the right password waits");
    assert_eq!(header(&blocked, "retry-after"), Some("900"));
    assert_eq!(app.sign_in(BOB, crate::helpers::BOB_PASSWORD).await.status(), 303, "other users are unaffected");

    app.clock.advance(899);
    assert_eq!(header(&app.sign_in(ALICE, ALICE_PASSWORD).await, "retry-after"), Some("1"));
    app.clock.advance(1);
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn one_client_guessing_many_usernames_is_rate_limited() {
    let app = spawn_app_with(|s| s.credentials.max_failures_per_client = 3).await;
    for name in ["u1", "u2", "u3"] {
        assert_eq!(app.sign_in(name, "x").await.status(), 303);
    }
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn a_signed_in_visitor_is_sent_on_from_the_sign_in_page() {
    let app = spawn_app().await;
    app.sign_in_as_alice().await;
    let response = app.get("/auth/signin?redirect_to=/dashboard").await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/dashboard");
    let evil = app.get("/auth/signin?redirect_to=//evil.example").await;
    assert_eq!(location(&evil), "/");
}

#[tokio::test]
async fn redirect_targets_off_the_allow_list_fall_back_to_root() {
    let app = spawn_app_with(|s| s.redirects.allowed_hosts = vec!["app.test".into()]).await;
    for (target, expected) in [
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https:evil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        (" /app", "/"),
        ("http://app.test/welcome", "http://app.test/welcome"),
        (&format!("{PUBLIC_URL}/home"), "http://gate.test/home"),
    ] {
        let response = app
            .post_form(
                "/auth/signin/credentials",
                &[("username", ALICE), ("password", ALICE_PASSWORD), ("redirect_to", target)],
            )
            .await;
        assert_eq!(location(&response), expected, "{target}");
    }
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .header("Origin", "https://evil.example")
        .form(&[("username", ALICE), ("password", ALICE_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.verify().await.status(), 401);

    let same_origin = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .header("Origin", PUBLIC_URL)
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("username", ALICE), ("password", ALICE_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 303);
}

#[tokio::test]
async fn malformed_sign_in_requests_get_4xx() {
    let app = spawn_app().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client.post(app.url("/auth/signin/credentials")).header("Content-Type", content_type).body(body).send()
    };
    for (body, content_type) in [
        ("username=alice", "application/x-www-form-urlencoded"),
        ("password=x", "application/x-www-form-urlencoded"),
        ("%%%%", "application/x-www-form-urlencoded"),
        ("{\"username\": 1}", "application/json"),
        ("{not json", "application/json"),
        ("username=alice&password=x", "text/plain"),
        ("", "application/json"),
    ] {
        let status = post(body, content_type).await.unwrap().status();
        assert!(status.is_client_error(), "{body:?} as {content_type} gave {status}");
    }
    let huge = "a".repeat(64 * 1024);
    let response = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .form(&[("username", ALICE), ("password", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let long_name = "n".repeat(300);
    let response = app.sign_in(&long_name, "x").await;
    assert_eq!(location(&response), "/auth/signin?error=invalid_credentials");
    assert_eq!(app.get("/healthz").await.status(), 200);
}
