//! Password sign-in: the page, the form and JSON, failures that say nothing
//! about which part was wrong, rate limits, bounded password checks, logs
//! without passwords, and safe redirects.

use crate::helpers::{
    captured_logs, header, location, set_cookies, spawn_app, spawn_app_with, ALICE, ALICE_PASSWORD, BOB, PUBLIC_URL,
};
use argon2::Params;
use reqwest::StatusCode;
use sealgate::providers::credentials::hash_password_with;
use secrecy::SecretString;

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

/// Counted in memory (`store.kind = "none"`), by the injected clock; the
/// store's counts and their window are in `shared_rate_limits.rs`.
#[tokio::test]
async fn repeated_failures_for_one_user_are_rate_limited_until_the_window_passes() {
    let app = spawn_app_with(|s| s.store.kind = sealgate::config::store::StoreKind::None).await;
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

/// Status codes of `guesses` sign-ins sent at once, counted.
async fn statuses_of(app: &crate::helpers::TestApp, guesses: &[(String, String)]) -> Vec<(StatusCode, usize)> {
    let requests = guesses.iter().map(|(username, password)| app.sign_in(username, password));
    let mut counted: Vec<(StatusCode, usize)> = Vec::new();
    for response in futures_util::future::join_all(requests).await {
        match counted.iter_mut().find(|(status, _)| *status == response.status()) {
            Some((_, count)) => *count += 1,
            None => counted.push((response.status(), 1)),
        }
    }
    counted.sort();
    counted
}

#[tokio::test]
async fn forty_guesses_at_once_for_one_user_get_no_more_password_checks_than_the_limit() {
    let app = spawn_app_with(|s| {
        s.credentials.max_failures_per_client = 1000;
        s.credentials.verification_queue = 64;
    })
    .await;
    let guesses: Vec<_> = (0..40).map(|i| (ALICE.to_owned(), format!("guess {i}"))).collect();

    let statuses = statuses_of(&app, &guesses).await;

    // A checked guess is a 303 to the error page; the rest never reach argon2.
    assert_eq!(statuses, [(StatusCode::SEE_OTHER, 5), (StatusCode::TOO_MANY_REQUESTS, 35)]);
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 429);
}

/// A users file with `slow`, whose hash takes long to check (about ten times
/// the default parameters), and `alice` with a cheap one: while `slow`'s
/// check runs, the test knows the verification slot is taken.
fn users_with_a_slow_hash() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let hash = |password: &str, params| hash_password_with(&SecretString::from(password.to_owned()), params).unwrap();
    let slow = hash("slow password", Params::new(8 * 1024, 100, 1, None).unwrap());
    let cheap = hash(ALICE_PASSWORD, Params::new(64, 1, 1, None).unwrap());
    let users = format!(
        "[[users]]\nusername = \"slow\"\npassword_hash = \"{slow}\"\n\n[[users]]\nusername = \"{ALICE}\"\npassword_hash = \"{cheap}\"\n"
    );
    std::fs::write(dir.path().join("users.toml"), users).unwrap();
    dir
}

#[tokio::test]
async fn sign_ins_beyond_the_verification_queue_get_503_with_retry_after() {
    let users = users_with_a_slow_hash();
    let app = spawn_app_with(|s| {
        s.credentials.users_file = users.path().join("users.toml");
        s.credentials.max_failures_per_client = 1000;
        s.credentials.max_concurrent_verifications = 1;
        s.credentials.verification_queue = 2;
    })
    .await;
    let guesses: Vec<_> = (0..12).map(|i| (format!("user{i}"), "guess".to_owned())).collect();

    let statuses = statuses_of(&app, &guesses).await;

    // One check runs and two wait; each takes long, so most are turned away.
    let count = |status| statuses.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
    let (checked, turned_away) = (count(StatusCode::SEE_OTHER), count(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(checked + turned_away, 12, "{statuses:?}");
    assert!((3..=6).contains(&checked), "{statuses:?}");
    // Once the burst is over, sign-in works again.
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn a_turned_away_sign_in_answers_503_with_retry_after_and_is_not_counted() {
    let users = users_with_a_slow_hash();
    let app = spawn_app_with(|s| {
        s.credentials.users_file = users.path().join("users.toml");
        s.credentials.max_failures_per_user = 1;
        s.credentials.max_failures_per_client = 1000;
        s.credentials.max_concurrent_verifications = 1;
        s.credentials.verification_queue = 0;
    })
    .await;
    // A first sign-in creates the store's file, which can take a while on a
    // busy disk; the sign-ins below are counted in it before they ask for a turn.
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 303);
    let slow = app.sign_in("slow", "wrong");
    let while_slow_is_checked = async {
        // Let the slow sign-in get its turn first (a probe that did would hold the turn itself).
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // Other names probe until the one turn is taken, so the guess below
        // cannot arrive before the slow check has started.
        for probe in 0.. {
            assert!(probe < 200, "the slow check never took the one turn");
            if app.sign_in(&format!("probe{probe}"), "x").await.status() == 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        app.sign_in(ALICE, "wrong").await
    };

    let (slow, turned_away) = tokio::join!(slow, while_slow_is_checked);

    assert_eq!(slow.status(), 303);
    assert_eq!(turned_away.status(), 503);
    assert_eq!(header(&turned_away, "retry-after"), Some("1"));
    assert_eq!(turned_away.text().await.unwrap(), r#"{"error":"overloaded"}"#);
    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 303, "the turned-away guess was not counted");
}

#[tokio::test]
async fn a_password_typed_into_the_username_field_never_reaches_the_log() {
    let app = spawn_app_with(|s| s.credentials.max_failures_per_user = 1).await;
    let typed = format!("Tr0ub4dor&3-{}", rand::random::<u32>());

    assert_eq!(app.sign_in(&typed, "x").await.status(), 303);
    assert_eq!(app.sign_in(&typed, "x").await.status(), 429);
    assert_eq!(app.sign_in(ALICE, "wrong").await.status(), 303);

    let logs = captured_logs();
    assert!(!logs.contains(&typed), "the typed text was logged");
    let failed: Vec<_> = logs.lines().filter(|l| l.contains("sign-in failed") || l.contains("rate limited")).collect();
    assert!(failed.iter().any(|l| l.contains("username=unknown:")), "{failed:?}");
    assert!(failed.iter().any(|l| l.contains("username=alice")), "account names are kept: {failed:?}");
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

#[tokio::test]
async fn an_absurd_number_of_concurrent_verifications_is_a_config_error() {
    let dir = std::sync::Arc::new(crate::helpers::new_dir());
    let mut settings = crate::helpers::test_settings(&dir);
    settings.credentials.max_concurrent_verifications = usize::MAX;
    let clock = sealgate::clock::ManualClock::at(1_700_000_000);
    let error = crate::helpers::try_spawn_in(dir, settings, clock).await.err().expect("refused");
    assert!(error.contains("credentials.max_concurrent_verifications must be at most 1024"), "{error}");
}

/// True when the sign-in set a session cookie (and so succeeded).
async fn signs_in(app: &crate::helpers::TestApp, username: &str, password: &str) -> bool {
    let response = app.sign_in(username, password).await;
    response.status() == 303 && set_cookies(response.headers()).iter().any(|c| c.name == "sealgate" && !c.is_removal())
}

#[tokio::test]
async fn the_users_file_is_reloaded_while_running_and_a_broken_one_is_refused() {
    let app = spawn_app_with(|s| s.keys.reload_interval = std::time::Duration::from_millis(50)).await;
    let path = app._dir.path().join("users.toml");
    let before = std::fs::read_to_string(&path).unwrap();
    assert!(!signs_in(&app, "carol", "carol's passphrase").await);

    // A user added to the file can sign in without a restart.
    let params = Params::new(64, 1, 1, None).unwrap();
    let hash = hash_password_with(&SecretString::from("carol's passphrase".to_owned()), params).unwrap();
    let with_carol = format!("{before}\n[[users]]\nusername = \"carol\"\npassword_hash = \"{hash}\"\n");
    std::fs::write(&path, &with_carol).unwrap();
    crate::keys::eventually("carol can sign in", || signs_in(&app, "carol", "carol's passphrase")).await;
    assert!(signs_in(&app, ALICE, ALICE_PASSWORD).await, "the others still can");

    // A broken file is refused whole, with an error in the log: the accounts in force stay.
    std::fs::write(&path, format!("{with_carol}\n[[users]]\nusername = \"dave\"\npassword_hash = \"plain\"\n"))
        .unwrap();
    let shown = path.display().to_string();
    crate::keys::eventually("the broken users file is refused", || async {
        captured_logs().lines().any(|line| line.contains("reload refused") && line.contains(&shown))
    })
    .await;
    assert!(signs_in(&app, "carol", "carol's passphrase").await);

    // A user removed from the file can no longer sign in.
    std::fs::write(&path, &before).unwrap();
    crate::keys::eventually("carol is gone", || async { !signs_in(&app, "carol", "carol's passphrase").await }).await;
}
