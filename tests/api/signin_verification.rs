//! Unusual sign-ins are confirmed by an e-mailed code (issue 24): the
//! session stays unverified (signed out everywhere) until the code from the
//! e-mail, sent through a real SMTP server on loopback, is entered.

use crate::helpers::{
    captured_logs, client, location, new_dir, on_store, set_cookies, test_settings, try_spawn_in, Spawn, TestApp,
    ALICE, ALICE_PASSWORD, CROWD, CROWD_PASSWORD,
};
use crate::support::redis_server::RedisServer;
use crate::support::smtp::{SmtpSink, SmtpTls};
use reqwest::header::COOKIE;
use reqwest::Client;
use sealgate::clock::ManualClock;
use sealgate::config::store::StoreKind;
use sealgate::config::verification::VerificationMode;
use sealgate::config::Settings;
use std::sync::Arc;

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;

fn verifying(settings: &mut Settings, smtp: &SmtpSink, mode: VerificationMode) {
    settings.email.smtp_url = Some(smtp.url());
    settings.email.from = Some("sealgate <gate@example.com>".into());
    settings.verification.mode = Some(mode);
}

async fn spawn(smtp: &SmtpSink, mode: VerificationMode, redis: Option<&RedisServer>) -> TestApp {
    Spawn::new()
        .configure(|s| {
            verifying(s, smtp, mode);
            on_store(s, redis);
        })
        .run()
        .await
}

impl TestApp {
    async fn submit_code(&self, code: &str) -> reqwest::Response {
        self.post_form("/auth/verify-signin", &[("code", code)]).await
    }

    /// Alice signs in and is sent to the verification page; her pending
    /// session's cookie, as a Cookie header.
    async fn sign_in_pending(&self) -> String {
        let response = self.sign_in(ALICE, ALICE_PASSWORD).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/auth/verify-signin");
        let cookies = set_cookies(response.headers());
        let session = cookies.iter().find(|c| c.name == self.cookie_name()).expect("a pending session cookie");
        format!("{}={}", session.name, session.value)
    }
}

fn bare() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn a_sign_in_waits_for_the_emailed_code(redis: Option<&RedisServer>) {
    // Arrange
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, redis).await;

    // Act: sign in with the right password.
    app.sign_in_pending().await;

    // Assert: signed out everywhere until the code is entered.
    assert_eq!(app.verify().await.status(), 401);
    assert_eq!(app.session_json().await, serde_json::json!({"authenticated": false, "pending_verification": true}));
    let mint = app.client.post(app.url("/auth/tokens")).json(&serde_json::json!({"name": "laptop"})).send();
    let mint = mint.await.unwrap();
    assert_eq!(mint.status(), 401, "no API token for an unverified session");
    let signin = app.get("/auth/signin?redirect_to=/app").await;
    assert_eq!(signin.status(), 303);
    assert_eq!(location(&signin), "/auth/verify-signin?redirect_to=%2Fapp");
    let page = app.get("/auth/verify-signin").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("a***@example.com") && page.contains("name=\"code\""), "{page}");

    let mail = smtp.message(1).await;
    assert!(mail.to().contains("alice@example.com"), "{}", mail.raw);
    let code = mail.code();
    assert_eq!(code.len(), 6);

    let verified = app.submit_code(&code).await;
    assert_eq!(verified.status(), 303);
    assert_eq!(location(&verified), "/");
    let cookies = set_cookies(verified.headers());
    assert!(
        cookies.iter().any(|c| c.name == format!("{}-device", app.cookie_name()) && !c.is_removal()),
        "{cookies:?}"
    );
    assert_eq!(app.verify().await.status(), 200);
    assert_eq!(app.session_json().await["authenticated"], true);
    assert!(!logged(&code), "the code reached the log");
}

/// Whether `code` appears in the captured logs as a number of its own (not
/// as the microseconds of a log line's timestamp, `18:40:12.123456Z`).
fn logged(code: &str) -> bool {
    let logs = captured_logs();
    logs.match_indices(code).any(|(at, _)| {
        let before = logs[..at].chars().next_back();
        let after = logs[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[tokio::test]
async fn a_sign_in_waits_for_the_emailed_code_on_the_local_store() {
    a_sign_in_waits_for_the_emailed_code(None).await;
}

#[tokio::test]
async fn a_sign_in_waits_for_the_emailed_code_on_redis() {
    let redis = RedisServer::start();
    a_sign_in_waits_for_the_emailed_code(Some(&redis)).await;
}

#[tokio::test]
async fn unusual_mode_trusts_a_known_device_and_not_a_fresh_browser() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Unusual, None).await;
    app.sign_in_pending().await;
    assert_eq!(app.submit_code(&smtp.code(1).await).await.status(), 303);

    // The same browser, again: no code.
    let again = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!((again.status().as_u16(), location(&again)), (303, "/".to_owned()));
    assert_eq!(app.verify().await.status(), 200);

    // A fresh browser: a code.
    let fresh = TestApp { client: client(), ..app };
    fresh.sign_in_pending().await;
    assert_eq!(fresh.verify().await.status(), 401);
    smtp.message(2).await;
}

#[tokio::test]
async fn five_wrong_codes_end_the_sign_in() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;
    let pending = app.sign_in_pending().await;
    let code = smtp.code(1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let first = app.submit_code(wrong).await;
    assert_eq!(first.status(), 400);
    assert!(first.text().await.unwrap().contains("4 attempt(s) left"));
    let json = app.client.post(app.url("/auth/verify-signin")).json(&serde_json::json!({"code": wrong})).send().await;
    let json: serde_json::Value = json.unwrap().json().await.unwrap();
    assert_eq!(json, serde_json::json!({"error": "invalid_code", "attempts_left": 3}));
    for _ in 0..2 {
        assert_eq!(app.submit_code(wrong).await.status(), 400);
    }
    let last = app.submit_code(wrong).await;
    assert_eq!(last.status(), 403);
    assert!(set_cookies(last.headers()).iter().any(|c| c.name == app.cookie_name() && c.is_removal()));
    assert!(last.text().await.unwrap().contains("data-error=\"too_many_attempts\""));
    assert_eq!(app.session_json().await, serde_json::json!({"authenticated": false}));

    // The right code, with the ended sign-in's cookie: still refused.
    let replay = bare().post(app.url("/auth/verify-signin")).header(COOKIE, &pending).form(&[("code", &code)]);
    let replay = replay.header("accept", "application/json").send().await.unwrap();
    assert!(replay.status().is_client_error(), "{}", replay.status());
    assert_eq!(app.verify_cookie(&pending).await, 401);
}

#[tokio::test]
async fn a_code_works_once() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;
    let pending = app.sign_in_pending().await;
    let code = smtp.code(1).await;
    assert_eq!(app.submit_code(&code).await.status(), 303);

    let again = bare().post(app.url("/auth/verify-signin")).header(COOKIE, &pending).form(&[("code", &code)]);
    let again = again.header("accept", "application/json").send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"error": "code_used"}));
    assert_eq!(app.verify_cookie(&pending).await, 401, "the pending cookie is still no session");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;
    app.sign_in_pending().await;
    let code = smtp.code(1).await;
    app.clock.advance(16 * MINUTE);
    let late = app.submit_code(&code).await;
    assert_eq!(late.status(), 400);
    assert!(late.text().await.unwrap().contains("expired"));
    assert_eq!(app.verify().await.status(), 401);
}

#[tokio::test]
async fn a_new_code_waits_a_minute_and_replaces_the_old_one() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;
    app.sign_in_pending().await;
    let old = smtp.code(1).await;

    let soon = app.post_form("/auth/verify-signin/resend", &[]).await;
    assert_eq!(soon.status(), 429);
    assert!(soon.headers().get("retry-after").is_some());
    app.clock.advance(MINUTE + 1);
    let resent = app.post_form("/auth/verify-signin/resend", &[]).await;
    assert_eq!(resent.status(), 303);
    let new = smtp.code(2).await;
    if new != old {
        assert_eq!(app.submit_code(&old).await.status(), 400, "the old code stopped working");
    }
    assert_eq!(app.submit_code(&new).await.status(), 303);
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn an_unverified_session_ends_twelve_hours_after_sign_in() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;
    app.sign_in_pending().await;
    app.clock.advance(12 * HOUR - 1);
    assert_eq!(app.get("/auth/verify-signin").await.status(), 200);
    app.clock.advance(1);
    let gone = app.get("/auth/verify-signin").await;
    assert_eq!((gone.status().as_u16(), location(&gone)), (303, "/auth/signin".to_owned()));
    assert_eq!(app.session_json().await, serde_json::json!({"authenticated": false}));
}

#[tokio::test]
async fn an_account_without_an_address_is_refused_in_always_and_passes_in_unusual() {
    let smtp = SmtpSink::start();
    let always = spawn(&smtp, VerificationMode::Always, None).await;
    let refused = always.sign_in(CROWD, CROWD_PASSWORD).await;
    assert_eq!(refused.status(), 403);
    assert!(set_cookies(refused.headers()).iter().all(|c| c.name != always.cookie_name()), "no session");
    assert!(refused.text().await.unwrap().contains("data-error=\"no_email\""));

    let unusual = spawn(&smtp, VerificationMode::Unusual, None).await;
    let signed_in = unusual.sign_in(CROWD, CROWD_PASSWORD).await;
    assert_eq!((signed_in.status().as_u16(), location(&signed_in)), (303, "/".to_owned()));
    assert_eq!(unusual.verify().await.status(), 200);
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn an_smtp_failure_is_a_clear_error_not_a_session() {
    let smtp = SmtpSink::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = Spawn::new()
        .configure(|s| {
            verifying(s, &smtp, VerificationMode::Always);
            s.email.smtp_url = Some(format!("smtp://127.0.0.1:{closed}"));
        })
        .run()
        .await;
    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(response.status(), 503);
    assert!(set_cookies(response.headers()).iter().all(|c| c.name != app.cookie_name()));
    assert!(response.text().await.unwrap().contains("data-error=\"email_failed\""));
}

#[tokio::test]
async fn verification_without_a_store_is_refused_at_start() {
    let smtp = SmtpSink::start();
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    verifying(&mut settings, &smtp, VerificationMode::Always);
    settings.store.kind = StoreKind::None;
    let error = try_spawn_in(dir, settings, ManualClock::at(1_800_000_000)).await.err().expect("it started");
    assert!(error.contains("store.kind = \"none\""), "{error}");
}

#[tokio::test]
async fn a_person_enters_the_emailed_code_in_a_real_browser() {
    let smtp = SmtpSink::start();
    // The browser posts with `Origin: http://127.0.0.1:PORT`: that is the public URL.
    let port = crate::support::network::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = Spawn::new()
        .configure(|s| {
            verifying(s, &smtp, VerificationMode::Unusual);
            s.server.listen = format!("127.0.0.1:{port}");
            s.server.public_url = public.clone();
        })
        .run()
        .await;
    let run = crate::support::browser_script::run(
        "verify_signin.mjs",
        &[
            &"--base-url",
            &app.address,
            &"--username",
            &ALICE,
            &"--password",
            &ALICE_PASSWORD,
            &"--mail-dir",
            &smtp.dir(),
        ],
        std::time::Duration::from_secs(90),
    )
    .await;
    run.assert_ok();
    let report = run.report;
    assert!(report["verify_url"].as_str().unwrap().starts_with(&format!("{public}/auth/verify-signin")), "{report}");
    assert_eq!(report["landed_url"], format!("{public}/auth/session"), "{report}");
    assert_eq!(report["session"]["authenticated"], true, "{report}");
    assert_eq!(report["session"]["user"]["id"], ALICE, "{report}");
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn a_provider_can_ask_for_verification_when_the_default_is_off() {
    use crate::support::idp::{authorize_at_idp, IdpOptions, TestIdp};
    use crate::support::oidc::{deliver, start, ALICE as ALICE_AT_IDP, CALLBACK};
    let smtp = SmtpSink::start();
    let idp = TestIdp::start(IdpOptions { redirect_uris: vec![CALLBACK.into()], ..IdpOptions::default() }).await;
    let mut provider = idp.provider();
    provider.verification = Some(VerificationMode::Always);
    let app = Spawn::new()
        .configure(|s| {
            verifying(s, &smtp, VerificationMode::Off);
            s.providers.insert("corp".into(), provider);
        })
        .ready()
        .run()
        .await;

    // Password sign-in follows the default: off.
    let password = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(location(&password), "/");

    // The provider's sign-in waits for the code, then lands where it was going.
    let (authorize, _) = start(&app, "/landing").await;
    let callback = deliver(&app, &authorize_at_idp(&authorize, ALICE_AT_IDP, CALLBACK).await).await;
    assert_eq!(callback.status(), 302);
    assert_eq!(location(&callback), "/auth/verify-signin?redirect_to=%2Flanding");
    assert_eq!(app.verify().await.status(), 401);
    let mail = smtp.message(1).await;
    assert!(mail.to().contains("alice@example.com"), "{}", mail.raw);
    let verified = app.post_form("/auth/verify-signin", &[("code", &mail.code()), ("redirect_to", "/landing")]).await;
    assert_eq!((verified.status().as_u16(), location(&verified)), (303, "/landing".to_owned()));
    let session = app.session_json().await;
    assert_eq!(session["provider"], "corp", "{session}");
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn with_new_network_a_known_device_on_another_network_is_verified_again() {
    let smtp = SmtpSink::start();
    let app = Spawn::new()
        .configure(|s| {
            verifying(s, &smtp, VerificationMode::Unusual);
            s.verification.new_network = true;
        })
        .run()
        .await;
    // The test client's peer (loopback) is a trusted proxy: its X-Forwarded-For says who the client is.
    let sign_in_from = |ip: &'static str| {
        let form = [("username", ALICE), ("password", ALICE_PASSWORD), ("remember", "true")];
        app.client.post(app.url("/auth/signin/credentials")).header("x-forwarded-for", ip).form(&form).send()
    };
    let first = sign_in_from("192.0.2.10").await.unwrap();
    assert_eq!(location(&first), "/auth/verify-signin");
    let code = smtp.code(1).await;
    let verified = app
        .client
        .post(app.url("/auth/verify-signin"))
        .header("x-forwarded-for", "192.0.2.10")
        .form(&[("code", &code)]);
    assert_eq!(verified.send().await.unwrap().status(), 303);

    let same_network = sign_in_from("192.0.2.99").await.unwrap();
    assert_eq!(location(&same_network), "/", "a known device on a recent /24");
    let other_network = sign_in_from("198.51.100.7").await.unwrap();
    assert_eq!(location(&other_network), "/auth/verify-signin", "a known device on a new network");
    smtp.message(2).await;
}

#[tokio::test]
async fn bad_verification_requests_get_a_4xx_never_a_500() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;

    // Nothing pending: JSON callers get 401 `no_pending_signin`, browsers the sign-in page.
    let json = app.client.get(app.url("/auth/verify-signin")).header("accept", "application/json").send().await;
    let json = json.unwrap();
    assert_eq!(json.status(), 401);
    assert_eq!(json.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"error": "no_pending_signin"}));
    let page = app.submit_code("123456").await;
    assert_eq!((page.status().as_u16(), location(&page)), (303, "/auth/signin".to_owned()));

    app.sign_in_pending().await;
    let code = smtp.code(1).await;
    // Cross-site, oversized, missing or malformed codes.
    let cross_site = app
        .client
        .post(app.url("/auth/verify-signin"))
        .header("origin", "https://evil.example")
        .form(&[("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(app.submit_code(&"1".repeat(4096)).await.status(), 400);
    assert_eq!(app.post_form("/auth/verify-signin", &[("nothing", "here")]).await.status(), 400);
    assert_eq!(app.submit_code("12 34 5x").await.status(), 400);
    let resend_cross_site =
        app.client.post(app.url("/auth/verify-signin/resend")).header("origin", "https://evil.example").send().await;
    assert_eq!(resend_cross_site.unwrap().status(), 403);
    // Still pending, and the code (spaced as people type it) still works.
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    assert_eq!(app.submit_code(&spaced).await.status(), 303);
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn smtps_speaks_tls_from_the_first_byte() {
    // aiosmtpd here speaks plain SMTP: a TLS client cannot send it anything.
    let smtp = SmtpSink::start();
    let app = Spawn::new()
        .configure(|s| {
            verifying(s, &smtp, VerificationMode::Always);
            s.email.smtp_url = Some(format!("smtps://127.0.0.1:{}", smtp.port));
            s.email.timeout = std::time::Duration::from_secs(3);
        })
        .run()
        .await;
    let response = app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(response.status(), 503);
    assert!(smtp.messages().is_empty());
}

/// A sink speaking TLS with a throwaway certificate, and a gateway sending
/// to it at `url`, trusting the certificate through `email.ca_file` when
/// `trusted`.
async fn spawn_tls(smtp: &SmtpSink, url: String, trusted: bool) -> TestApp {
    let cert = smtp.cert.clone();
    Spawn::new()
        .configure(|s| {
            verifying(s, smtp, VerificationMode::Always);
            s.email.smtp_url = Some(url);
            s.email.ca_file = cert.filter(|_| trusted);
            s.email.timeout = std::time::Duration::from_secs(3);
        })
        .run()
        .await
}

#[tokio::test]
async fn mail_goes_out_over_starttls_when_the_server_offers_it() {
    // Arrange: a server that offers STARTTLS and refuses mail before it.
    let smtp = SmtpSink::start_tls(SmtpTls::StartTls);
    let app = spawn_tls(&smtp, smtp.url(), true).await;

    // Act
    app.sign_in_pending().await;

    // Assert: the code arrived, over TLS, and works.
    let mail = smtp.message(1).await;
    assert!(mail.over_tls(), "{}", mail.raw);
    assert_eq!(app.submit_code(&mail.code()).await.status(), 303);
    assert_eq!(app.verify().await.status(), 200);
}

#[tokio::test]
async fn smtps_with_a_trusted_certificate_delivers_over_tls() {
    let smtp = SmtpSink::start_tls(SmtpTls::Smtps);
    let app = spawn_tls(&smtp, format!("smtps://127.0.0.1:{}", smtp.port), true).await;
    app.sign_in_pending().await;
    let mail = smtp.message(1).await;
    assert!(mail.over_tls(), "{}", mail.raw);
    assert_eq!(app.submit_code(&mail.code()).await.status(), 303);
}

#[tokio::test]
async fn an_smtp_certificate_not_trusted_sends_nothing_and_never_falls_back_to_plain_text() {
    for (tls, scheme) in [(SmtpTls::StartTls, "smtp"), (SmtpTls::Smtps, "smtps")] {
        // Arrange: the same servers, without email.ca_file.
        let smtp = SmtpSink::start_tls(tls);
        let app = spawn_tls(&smtp, format!("{scheme}://127.0.0.1:{}", smtp.port), false).await;

        // Act
        let response = app.sign_in(ALICE, ALICE_PASSWORD).await;

        // Assert: the self-signed certificate is refused; no session, no mail.
        assert_eq!(response.status(), 503, "{scheme}");
        assert!(smtp.messages().is_empty(), "{scheme}");
        assert_eq!(app.verify().await.status(), 401, "{scheme}");
    }
}

#[tokio::test]
async fn an_unusable_email_ca_file_is_refused_at_start() {
    let smtp = SmtpSink::start();
    let dir = Arc::new(new_dir());
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (path, problem) in [(dir.path().join("missing.pem"), "email.ca_file"), (not_pem, "no PEM certificate")] {
        let mut settings = test_settings(&dir);
        verifying(&mut settings, &smtp, VerificationMode::Always);
        settings.email.ca_file = Some(path);
        let error =
            try_spawn_in(dir.clone(), settings, ManualClock::at(1_800_000_000)).await.err().expect("it started");
        assert!(error.contains(problem), "{error}");
    }
}

#[tokio::test]
async fn a_json_password_sign_in_says_it_waits_for_the_code_and_where_to_enter_it() {
    // Arrange
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;

    // Act: a JSON client signs in with the right password.
    let response = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .header("accept", "application/json")
        .json(&serde_json::json!({"username": ALICE, "password": ALICE_PASSWORD, "redirect_to": "/app"}))
        .send()
        .await
        .unwrap();

    // Assert: not signed in yet, pending, sent to the code page with its target.
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "authenticated": false,
            "pending_verification": true,
            "redirect_to": "/auth/verify-signin?redirect_to=%2Fapp",
        })
    );
    assert_eq!(app.verify().await.status(), 401);
    let code = smtp.code(1).await;
    let verified = app.client.post(app.url("/auth/verify-signin")).json(&serde_json::json!({"code": code}));
    let verified = verified.header("accept", "application/json").send().await.unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(app.verify().await.status(), 200);

    // Without verification, the same sign-in is plainly authenticated, with no pending flag.
    let plain = Spawn::new().run().await;
    let response = plain
        .client
        .post(plain.url("/auth/signin/credentials"))
        .header("accept", "application/json")
        .json(&serde_json::json!({"username": ALICE, "password": ALICE_PASSWORD, "redirect_to": "/app"}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"authenticated": true, "redirect_to": "/app"}));
}

#[tokio::test]
async fn while_a_sign_in_is_unverified_provider_sign_in_pages_send_the_person_back_to_verification() {
    let smtp = SmtpSink::start();
    let app = spawn(&smtp, VerificationMode::Always, None).await;
    let pending = app.sign_in_pending().await;

    // The sign-in page, and starting a provider's sign-in, both go back to the code.
    for path in ["/auth/signin?redirect_to=/app", "/auth/signin/corp?redirect_to=/app"] {
        let response = bare().get(app.url(path)).header(COOKIE, &pending).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert!(location(&response).starts_with("/auth/verify-signin"), "{path}: {}", location(&response));
        assert!(set_cookies(response.headers()).iter().all(|c| !c.name.contains("-flow-")), "{path}: no flow started");
    }
    // A JSON caller is told so instead.
    let response = bare().get(app.url("/auth/signin/corp/url")).header(COOKIE, &pending).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"], "pending_verification");
    // Without the pending session, the same start is an ordinary one (no such provider here).
    let response = bare().get(app.url("/auth/signin/corp?redirect_to=/app")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert!(location(&response).contains("error=unknown_provider"), "{}", location(&response));
}
