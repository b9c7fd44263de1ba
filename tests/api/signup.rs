//! Password users who sign themselves up (issue 24): `/auth/signup` creates
//! an account in the store, the code e-mailed through a real SMTP server on
//! loopback confirms its address, and `POST /auth/password` changes its
//! password and signs out its other sessions. On the local store and on a
//! real Redis.

use crate::helpers::{header, location, on_store, set_cookies, try_spawn_in, Spawn, TestApp, ALICE, ALICE_PASSWORD};
use crate::support::redis_server::RedisServer;
use crate::support::smtp::SmtpSink;
use reqwest::Response;
use sealgate::config::store::StoreKind;
use sealgate::config::verification::VerificationMode;
use sealgate::config::Settings;
use serde_json::{json, Value};

const HOUR: i64 = 3600;
const CAROL_PASSWORD: &str = "a long unusual passphrase";
const NEW_PASSWORD: &str = "another fine passphrase";

fn signing_up(settings: &mut Settings, smtp: &SmtpSink) {
    settings.email.smtp_url = Some(smtp.url());
    settings.email.from = Some("sealgate <gate@example.com>".into());
    // Confirmed accounts then sign in without a code: only the address's
    // confirmation asks for one.
    settings.verification.mode = Some(VerificationMode::Off);
    settings.credentials.signup = true;
}

async fn spawn(smtp: &SmtpSink, redis: Option<&RedisServer>) -> TestApp {
    Spawn::new()
        .configure(|s| {
            signing_up(s, smtp);
            on_store(s, redis);
        })
        .run()
        .await
}

impl TestApp {
    async fn sign_up(&self, username: &str, email: &str, password: &str) -> Response {
        let form = [("username", username), ("email", email), ("password", password), ("redirect_to", "/app")];
        self.post_form("/auth/signup", &form).await
    }

    async fn sign_up_json(&self, username: &str, email: &str, password: &str) -> Response {
        let body = json!({ "username": username, "email": email, "password": password });
        self.client.post(self.url("/auth/signup")).json(&body).send().await.unwrap()
    }

    async fn change_password(&self, current: &str, new: &str) -> Response {
        let body = json!({ "current_password": current, "new_password": new });
        self.client.post(self.url("/auth/password")).json(&body).send().await.unwrap()
    }
}

async fn error_of(response: Response) -> (u16, Value) {
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn a_person_signs_up_confirms_the_address_and_signs_in(redis: Option<&RedisServer>) {
    // Arrange
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, redis).await;
    let signin = app.get("/auth/signin").await.text().await.unwrap();
    assert!(signin.contains("href=\"/auth/signup\""), "{signin}");
    let form = app.get("/auth/signup").await;
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("name=\"email\""));

    // Act: sign up.
    let signed_up = app.sign_up(" Carol ", "Carol@Example.com", CAROL_PASSWORD).await;

    // Assert: the account waits for its code, signed out everywhere.
    assert_eq!(signed_up.status(), 303);
    assert_eq!(location(&signed_up), "/auth/verify-signin?redirect_to=%2Fapp");
    assert_eq!(app.verify().await.status(), 401);
    assert_eq!(app.session_json().await, json!({"authenticated": false, "pending_verification": true}));
    let mail = smtp.message(1).await;
    assert!(mail.to().contains("Carol@Example.com"), "{}", mail.raw);

    // The code confirms the address and finishes the sign-in.
    let confirmed = app.post_form("/auth/verify-signin", &[("code", &mail.code()), ("redirect_to", "/app")]).await;
    assert_eq!((confirmed.status().as_u16(), location(&confirmed)), (303, "/app".to_owned()));
    let verified = app.verify().await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some("Carol"));
    assert_eq!(header(&verified, "x-auth-email"), Some("Carol@Example.com"));
    let session = app.session_json().await;
    assert_eq!((session["authenticated"].as_bool(), session["provider"].as_str()), (Some(true), Some("accounts")));

    // Another browser signs in with the password, the username in any case, and no code.
    let other = app.other_browser();
    let signed_in = other.sign_in("CAROL", CAROL_PASSWORD).await;
    assert_eq!((signed_in.status().as_u16(), location(&signed_in)), (303, "/".to_owned()));
    assert_eq!(other.verify().await.status(), 200);
    assert!(other.sign_in("carol", "a wrong passphrase!").await.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=invalid_credentials"));
    assert_eq!(smtp.messages().len(), 1, "a confirmed account's sign-in sends no mail");
}

#[tokio::test]
async fn a_person_signs_up_confirms_the_address_and_signs_in_on_the_local_store() {
    a_person_signs_up_confirms_the_address_and_signs_in(None).await;
}

#[tokio::test]
async fn a_person_signs_up_confirms_the_address_and_signs_in_on_redis() {
    let redis = RedisServer::start();
    a_person_signs_up_confirms_the_address_and_signs_in(Some(&redis)).await;
}

async fn an_unconfirmed_account_waits_for_its_code_and_is_forgotten(redis: Option<&RedisServer>) {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, redis).await;
    let created = app.sign_up_json("dave", "dave@example.com", CAROL_PASSWORD).await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        body,
        json!({"authenticated": false, "pending_verification": true, "redirect_to": "/auth/verify-signin"})
    );
    smtp.message(1).await;

    // Unconfirmed, the right password gives a pending sign-in and a new code, not a session.
    let other = app.other_browser();
    let pending = other.sign_in("dave", CAROL_PASSWORD).await;
    assert_eq!(location(&pending), "/auth/verify-signin");
    assert_eq!(other.verify().await.status(), 401);
    let code = smtp.message(2).await.code();

    // Past credentials.unconfirmed_lifetime (24h) the account is gone: its
    // code no longer signs in, its password is unknown, its name is free.
    app.clock.advance(25 * HOUR);
    let late = other.client.post(other.url("/auth/verify-signin")).json(&json!({"code": code})).send().await.unwrap();
    assert!(late.status().is_client_error(), "{}", late.status());
    assert_eq!(other.verify().await.status(), 401);
    let gone = other.sign_in("dave", CAROL_PASSWORD).await;
    assert!(location(&gone).contains("error=invalid_credentials"), "{}", location(&gone));
    let again = app.other_browser().sign_up_json("Dave", "dave@example.com", "yet another passphrase").await;
    assert_eq!(again.status(), 201, "the name and the address are free again");
}

#[tokio::test]
async fn an_unconfirmed_account_waits_for_its_code_and_is_forgotten_on_the_local_store() {
    an_unconfirmed_account_waits_for_its_code_and_is_forgotten(None).await;
}

#[tokio::test]
async fn an_unconfirmed_account_waits_for_its_code_and_is_forgotten_on_redis() {
    let redis = RedisServer::start();
    an_unconfirmed_account_waits_for_its_code_and_is_forgotten(Some(&redis)).await;
}

#[tokio::test]
async fn a_confirmation_code_for_an_account_that_expired_meanwhile_is_refused() {
    // The account waits 10 minutes for its address, the code lasts an hour.
    let smtp = SmtpSink::start();
    let app = Spawn::new()
        .configure(|s| {
            signing_up(s, &smtp);
            s.credentials.unconfirmed_lifetime = std::time::Duration::from_secs(600);
            s.verification.code_lifetime = std::time::Duration::from_secs(3600);
        })
        .run()
        .await;
    assert_eq!(app.sign_up_json("erin", "erin@example.com", CAROL_PASSWORD).await.status(), 201);
    let code = smtp.message(1).await.code();
    app.clock.advance(11 * 60);
    let late = app.client.post(app.url("/auth/verify-signin")).json(&json!({"code": code})).send().await.unwrap();
    assert_eq!(error_of(late).await, (403, json!({"error": "account_gone"})));
    assert_eq!(app.verify().await.status(), 401);
    assert_eq!(app.session_json().await, json!({"authenticated": false}), "the pending cookie is cleared");
}

#[tokio::test]
async fn sign_up_refuses_bad_input_with_clear_codes() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, None).await;
    let cases = [
        ("frank1", "frank@example.com", "too short", 400, "password_too_short"),
        ("frank2", "frank@example.com", "Password123", 400, "password_too_common"),
        ("frank3", "frank@example.com", "frank@example.com", 400, "password_too_common"),
        ("frank4", "not-an-address", CAROL_PASSWORD, 400, "invalid_email"),
        ("f", "frank@example.com", CAROL_PASSWORD, 400, "invalid_username"),
        ("has space", "frank@example.com", CAROL_PASSWORD, 400, "invalid_username"),
        (ALICE, "other@example.com", CAROL_PASSWORD, 409, "username_taken"),
        ("ALICE", "other@example.com", CAROL_PASSWORD, 409, "username_taken"),
    ];
    // Each name once or twice: sign-ups count against the name's sign-in limit (5) too.
    for (username, email, password, status, code) in cases {
        let answer = app.other_browser().sign_up_json(username, email, password).await;
        assert_eq!(error_of(answer).await, (status, json!({"error": code})), "{username} {email} {password}");
    }
    let long = "x".repeat(300);
    let answer = app.other_browser().sign_up_json(&long, "frank@example.com", CAROL_PASSWORD).await;
    assert_eq!(error_of(answer).await, (400, json!({"error": "invalid_username"})));

    // A name or an address another sign-up holds, in any case.
    assert_eq!(app.other_browser().sign_up_json("frank", "frank@example.com", CAROL_PASSWORD).await.status(), 201);
    let twice = app.other_browser().sign_up_json("FRANK", "new@example.com", CAROL_PASSWORD).await;
    assert_eq!(error_of(twice).await, (409, json!({"error": "username_taken"})));
    let same_address = app.other_browser().sign_up_json("grace", " FRANK@example.com", CAROL_PASSWORD).await;
    assert_eq!(error_of(same_address).await, (409, json!({"error": "email_taken"})));

    // A browser gets the form back with the error and what was typed, never the password.
    let page = app.other_browser().sign_up("grace", "grace@example.com", "qwertyuiop").await;
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-error=\"password_too_common\"") && html.contains("value=\"grace\""), "{html}");
    assert!(!html.contains("qwertyuiop"), "the password came back");

    // Missing fields, a body that is not a form, another origin: 4xx, never a 500.
    let missing = app.client.post(app.url("/auth/signup")).form(&[("username", "x")]).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let garbage = app.client.post(app.url("/auth/signup")).header("content-type", "application/json");
    assert_eq!(garbage.body("{not json").send().await.unwrap().status(), 400);
    let foreign = app.client.post(app.url("/auth/signup")).header("origin", "https://evil.example");
    let foreign = foreign.form(&[("username", "mallory"), ("email", "m@example.com"), ("password", CAROL_PASSWORD)]);
    assert_eq!(foreign.send().await.unwrap().status(), 403);
    smtp.message(1).await;
    assert_eq!(smtp.messages().len(), 1, "only frank's sign-up sent mail");
}

#[tokio::test]
async fn sign_ups_from_one_address_are_rate_limited() {
    let smtp = SmtpSink::start();
    let app = Spawn::new()
        .configure(|s| {
            signing_up(s, &smtp);
            s.credentials.max_failures_per_client = 3;
        })
        .run()
        .await;
    for n in 0..3 {
        let answer = app.other_browser().sign_up_json(&format!("user{n}"), "bad address", CAROL_PASSWORD).await;
        assert_eq!(answer.status(), 400);
    }
    let limited = app.other_browser().sign_up_json("user9", "user9@example.com", CAROL_PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn sign_up_is_off_unless_configured_and_needs_a_store_and_email() {
    let app = Spawn::new().run().await;
    assert_eq!(error_of(app.get("/auth/signup").await).await, (404, json!({"error": "signup_disabled"})));
    let posted = app.sign_up_json("carol", "carol@example.com", CAROL_PASSWORD).await;
    assert_eq!(error_of(posted).await, (404, json!({"error": "signup_disabled"})));
    let signin = app.get("/auth/signin").await.text().await.unwrap();
    assert!(!signin.contains("/auth/signup"), "{signin}");

    let mut settings = app.settings.clone();
    settings.credentials.signup = true;
    settings.store.kind = StoreKind::None;
    let refused = try_spawn_in(app._dir.clone(), settings, app.clock.clone()).await.err().expect("started anyway");
    assert!(refused.contains("credentials.signup") && refused.contains("email.smtp_url"), "{refused}");
    assert!(refused.contains("store.kind"), "{refused}");
}

async fn changing_the_password_signs_out_the_other_sessions(redis: Option<&RedisServer>) {
    // Arrange: Carol signed up and confirmed in one browser, signed in in another.
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, redis).await;
    app.sign_up("carol", "carol@example.com", CAROL_PASSWORD).await;
    app.post_form("/auth/verify-signin", &[("code", &smtp.message(1).await.code())]).await;
    let other = app.other_browser();
    other.sign_in("carol", CAROL_PASSWORD).await;
    assert_eq!(other.verify().await.status(), 200);
    let page = app.get("/auth/password").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"current_password\""));

    // Refused: the wrong current password, a weak new one.
    let wrong = app.change_password("not my passphrase", NEW_PASSWORD).await;
    assert_eq!(error_of(wrong).await, (400, json!({"error": "invalid_password"})));
    let weak = app.change_password(CAROL_PASSWORD, "carol").await;
    assert_eq!(error_of(weak).await, (400, json!({"error": "password_too_short"})));
    assert_eq!(other.verify().await.status(), 200, "nothing changed yet");

    // Act
    let changed = app.change_password(CAROL_PASSWORD, NEW_PASSWORD).await;

    // Assert: this session stays, the other one is signed out, only the new password works.
    assert_eq!(error_of(changed).await, (200, json!({"changed": true, "other_sessions_ended": 1})));
    assert_eq!(app.verify().await.status(), 200);
    assert_eq!(other.verify().await.status(), 401);
    let old = app.other_browser().sign_in("carol", CAROL_PASSWORD).await;
    assert!(location(&old).contains("error=invalid_credentials"));
    let third = app.other_browser();
    assert_eq!(location(&third.sign_in("carol", NEW_PASSWORD).await), "/");
    assert_eq!(third.verify().await.status(), 200);
}

#[tokio::test]
async fn changing_the_password_signs_out_the_other_sessions_on_the_local_store() {
    changing_the_password_signs_out_the_other_sessions(None).await;
}

#[tokio::test]
async fn changing_the_password_signs_out_the_other_sessions_on_redis() {
    let redis = RedisServer::start();
    changing_the_password_signs_out_the_other_sessions(Some(&redis)).await;
}

#[tokio::test]
async fn only_signed_up_accounts_change_their_password_here() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, None).await;
    let anonymous = app.change_password(ALICE_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(anonymous.status(), 401);
    let to_signin = app.get("/auth/password").await;
    assert_eq!(location(&to_signin), "/auth/signin?redirect_to=%2Fauth%2Fpassword");

    app.sign_in_as_alice().await;
    let file_user = app.change_password(ALICE_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(error_of(file_user).await, (403, json!({"error": "password_managed_by_file"})));
    let page = app.get("/auth/password").await;
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("users file"));
    let cookies = set_cookies(app.sign_in(ALICE, ALICE_PASSWORD).await.headers());
    assert!(cookies.iter().any(|c| c.name == app.cookie_name()), "alice's password is unchanged");
}

#[tokio::test]
async fn a_person_signs_up_and_changes_the_password_in_a_real_browser() {
    let smtp = SmtpSink::start();
    // The browser posts with `Origin: http://127.0.0.1:PORT`: that is the public URL.
    let port = crate::support::network::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = Spawn::new()
        .configure(|s| {
            signing_up(s, &smtp);
            s.server.listen = format!("127.0.0.1:{port}");
            s.server.public_url = public.clone();
        })
        .run()
        .await;
    let screenshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts/pages-signup-desktop.png");
    let args: [&dyn AsRef<std::ffi::OsStr>; 14] = [
        &"--base-url",
        &app.address,
        &"--username",
        &"carol",
        &"--email",
        &"carol@example.com",
        &"--password",
        &CAROL_PASSWORD,
        &"--new-password",
        &NEW_PASSWORD,
        &"--mail-dir",
        &smtp.dir(),
        &"--screenshot",
        &screenshot,
    ];
    let run = crate::support::browser_script::run("signup.mjs", &args, std::time::Duration::from_secs(90)).await;
    run.assert_ok();
    let report = run.report;
    assert!(report["signup_url"].as_str().unwrap().starts_with(&format!("{public}/auth/signup")), "{report}");
    assert!(report["verify_url"].as_str().unwrap().starts_with(&format!("{public}/auth/verify-signin")), "{report}");
    assert_eq!(report["landed_url"], format!("{public}/auth/session"), "{report}");
    assert_eq!(report["session"]["authenticated"], true, "{report}");
    assert_eq!(report["session"]["user"]["id"], "carol", "{report}");
    assert_eq!(report["session"]["provider"], "accounts", "{report}");
    assert!(report["notice"].as_str().unwrap().contains("password has been changed"), "{report}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 1000, "no screenshot");

    // The new password is the one that works now.
    let other = app.other_browser();
    assert!(location(&other.sign_in("carol", CAROL_PASSWORD).await).contains("error=invalid_credentials"));
    assert_eq!(location(&other.sign_in("carol", NEW_PASSWORD).await), "/");
}
