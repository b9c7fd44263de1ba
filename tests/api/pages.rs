//! sealgate's own pages: HTML for browsers and JSON for API clients on a
//! failed or rate-limited sign-in, the `[ui]` settings and templates, the
//! one-time notices, and every page in a real browser at a desktop and a
//! phone width (screenshots in `tests/artifacts/pages-*.png`).

use crate::helpers::{header, location, new_dir, set_cookies, spawn_app_with, test_settings, try_spawn_in, Spawn};
use crate::helpers::{ALICE, ALICE_PASSWORD};

use crate::support::idp::{IdpOptions, TestIdp};
use crate::support::smtp::SmtpSink;
use sealgate::clock::ManualClock;
use sealgate::config::verification::VerificationMode;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

fn limited(s: &mut sealgate::config::Settings) {
    s.credentials.max_failures_per_user = 2;
    s.credentials.max_failures_per_client = 100;
}

#[tokio::test]
async fn a_rate_limited_browser_gets_the_sign_in_page_with_the_wait_and_a_json_client_json() {
    let app = spawn_app_with(limited).await;
    for _ in 0..2 {
        assert_eq!(app.sign_in(ALICE, "wrong").await.status(), 303);
    }

    let page = app.sign_in(ALICE, "wrong").await;
    assert_eq!(page.status(), 429);
    let retry_after: u64 = header(&page, "retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);
    assert!(header(&page, "content-type").unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("data-error=\"rate_limited\""), "{html}");
    assert!(html.contains("Too many failed sign-ins. Please wait") && html.contains("minutes"), "{html}");
    assert!(html.contains(&format!("name=\"username\" value=\"{ALICE}\"")), "the username is kept: {html}");

    let json = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .header("Accept", "application/json")
        .json(&json!({"username": ALICE, "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 429);
    let retry_after: u64 = header(&json, "retry-after").unwrap().parse().unwrap();
    assert_eq!(json.json::<Value>().await.unwrap(), json!({"error": "rate_limited", "retry_after": retry_after}));
}

#[tokio::test]
async fn a_failed_json_sign_in_is_a_401_with_its_code_and_a_browsers_a_redirect_keeping_the_username() {
    let app = spawn_app_with(|_| {}).await;
    let json = app
        .client
        .post(app.url("/auth/signin/credentials"))
        .header("Accept", "application/json")
        .form(&[("username", ALICE), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
    assert!(header(&json, "www-authenticate").is_some());
    assert_eq!(json.json::<Value>().await.unwrap(), json!({"error": "invalid_credentials"}));

    let browser = app.sign_in(ALICE, "wrong").await;
    assert_eq!(browser.status(), 303);
    assert_eq!(location(&browser), "/auth/signin?error=invalid_credentials");
    let flash = set_cookies(browser.headers()).into_iter().find(|c| c.name == "sealgate_flash").unwrap();
    assert!(!location(&browser).contains(ALICE), "the username stays out of the URL");
    let cookie = format!("sealgate_flash={}", flash.value);
    let page = app.get_with_cookie("/auth/signin?error=invalid_credentials", &cookie).await;
    assert!(set_cookies(page.headers()).iter().any(|c| c.name == "sealgate_flash" && c.is_removal()), "shown once");
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("name=\"username\" value=\"{ALICE}\"")), "{html}");
}

#[tokio::test]
async fn signing_out_leaves_a_notice_for_the_next_page_and_the_confirmation_has_cancel() {
    let app = spawn_app_with(|_| {}).await;
    let confirm = app.get("/auth/signout?redirect_to=/bye").await.text().await.unwrap();
    assert!(confirm.contains("<a class=\"button secondary\" href=\"/bye\">Cancel</a>"), "{confirm}");

    assert_eq!(app.sign_in(ALICE, ALICE_PASSWORD).await.status(), 303);
    let out = app.post_form("/auth/signout", &[]).await;
    assert_eq!(out.status(), 303);
    let flash = set_cookies(out.headers()).into_iter().find(|c| c.name == "sealgate_flash").unwrap();
    assert_eq!(flash.value, "signed_out");
    let home = app.get_with_cookie("/", "sealgate_flash=signed_out").await.text().await.unwrap();
    assert!(home.contains("You have been signed out."), "{home}");
    // (That it shows once, and not on reload, is the browser test's: this client keeps cookies.)
    let forged = app.get_with_cookie("/", "sealgate_flash=%3Cscript%3E").await.text().await.unwrap();
    assert!(!forged.contains("signed out") && !forged.contains("<script"), "{forged}");
}

#[tokio::test]
async fn the_ui_settings_and_templates_shape_every_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("home.html"),
        "{% extends \"layout.html\" %}{% block content %}<p id=own>Welcome to {{ app.title }}</p>{% endblock %}",
    )
    .unwrap();
    let templates = dir.path().to_owned();
    let app = spawn_app_with(move |s| {
        s.ui.title = "Acme <Portal>".into();
        s.ui.logo_url = Some("https://cdn.example.com/acme.svg".into());
        s.ui.accent_color = "#0a7d32".into();
        s.ui.templates_dir = Some(templates);
    })
    .await;
    let home = app.get("/").await;
    let csp = header(&home, "content-security-policy").unwrap().to_owned();
    assert!(csp.contains("style-src 'self';") && csp.contains("img-src 'self' https://cdn.example.com;"), "{csp}");
    let html = home.text().await.unwrap();
    assert!(html.contains("<p id=own>Welcome to Acme &lt;Portal&gt;</p>"), "{html}");
    assert!(html.contains("<img class=\"logo\" src=\"https://cdn.example.com/acme.svg\""), "{html}");
    let signin = app.get("/auth/signin").await.text().await.unwrap();
    assert!(signin.contains("<title>Sign in · Acme &lt;Portal&gt;</title>"), "the bundled rest: {signin}");

    let stylesheet = signin.split("href=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
    assert!(stylesheet.starts_with("/auth/style.css?v="), "{stylesheet}");
    let css = app.get(&stylesheet).await;
    assert!(header(&css, "content-type").unwrap().starts_with("text/css"));
    assert!(css.text().await.unwrap().contains("--accent:#0a7d32"));
}

#[tokio::test]
async fn a_bad_ui_setting_or_template_refuses_to_start_naming_it() {
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("signin.html"), "{% block content %}").unwrap();
    type Configure<'a> = Box<dyn Fn(&mut sealgate::config::Settings) + 'a>;
    let cases: [(&str, Configure); 3] = [
        ("ui.accent_color", Box::new(|s| s.ui.accent_color = "red;}*{color:red".into())),
        ("ui.logo_url", Box::new(|s| s.ui.logo_url = Some("http://cdn.example.com/l.png".into()))),
        ("signin.html", Box::new(|s| s.ui.templates_dir = Some(templates.path().to_owned()))),
    ];
    for (named, configure) in cases {
        let dir = Arc::new(new_dir());
        let mut settings = test_settings(&dir);
        configure(&mut settings);
        let error = try_spawn_in(dir, settings, ManualClock::at(1_800_000_000)).await.err().expect("it started");
        assert!(error.contains(named), "{named}: {error}");
    }
}

fn artifacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn every_page_in_a_real_browser_at_desktop_and_phone_widths() {
    let smtp = SmtpSink::start();
    let idp = TestIdp::start(IdpOptions::default()).await;
    let port = crate::support::network::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = Spawn::new()
        .configure(|s| {
            s.email.smtp_url = Some(smtp.url());
            s.email.from = Some("sealgate <gate@example.com>".into());
            s.verification.mode = Some(VerificationMode::Unusual);
            s.server.listen = format!("127.0.0.1:{port}");
            s.server.public_url = public.clone();
            s.ui.title = "Acme Portal".into();
            let mut provider = idp.provider();
            provider.name = Some("Acme SSO".into());
            s.providers.insert("acme".into(), provider);
            limited(s);
        })
        .ready()
        .run()
        .await;
    let out = artifacts();
    let run = crate::support::browser_script::run(
        "pages.mjs",
        &[
            &"--base-url",
            &app.address,
            &"--username",
            &ALICE,
            &"--password",
            &ALICE_PASSWORD,
            &"--limited-username",
            &"mallory",
            &"--mail-dir",
            &smtp.dir(),
            &"--out",
            &out,
        ],
        std::time::Duration::from_secs(150),
    )
    .await;
    run.assert_ok();
    let report = run.report;
    let checks = &report["checks"];
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(checks["signin_status"], 200, "{checks}");
    assert_eq!(checks["title"], "Sign in · Acme Portal", "{checks}");
    assert_eq!(checks["provider_button"], "Sign in with Acme SSO", "{checks}");
    assert_eq!(checks["divider"], "or", "{checks}");
    assert_eq!(checks["remember_checked"], false, "remember me starts unticked: {checks}");
    assert_eq!(checks["labelled"], true, "every input has a label: {checks}");
    assert_eq!(checks["styled"], "12px", "the stylesheet applies under the CSP: {checks}");
    assert_eq!(checks["failed_message"], "The username or password is incorrect.", "{checks}");
    assert_eq!(checks["username_kept"], ALICE, "{checks}");
    assert_eq!(checks["password_emptied"], true, "{checks}");
    assert_eq!(checks["username_after_reload"], "", "the kept username shows once: {checks}");
    assert_eq!(checks["limited_status"], 429, "{checks}");
    assert!(checks["limited_retry_after"].as_str().unwrap().parse::<u64>().unwrap() > 0, "{checks}");
    assert!(
        checks["limited_message"].as_str().unwrap().starts_with("Too many failed sign-ins. Please wait"),
        "{checks}"
    );
    assert_eq!(checks["limited_username"], "mallory", "{checks}");
    assert_eq!(checks["verify_labelled"], true, "{checks}");
    assert_eq!(checks["home_heading"], "You are signed in", "{checks}");
    assert!(checks["home_who"].as_str().unwrap().contains(ALICE), "{checks}");
    assert_eq!(checks["cancel_href"], "/", "{checks}");
    assert_eq!(checks["signed_out_notice"], "You have been signed out.", "{checks}");
    assert_eq!(checks["signed_out_heading"], "You are not signed in", "{checks}");
    assert_eq!(checks["notice_after_reload"], 0, "the notice shows once: {checks}");
    let shots = report["screenshots"].as_array().unwrap();
    assert_eq!(shots.len(), 14, "{report}");
    for shot in shots {
        let bytes = std::fs::read(shot.as_str().unwrap()).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000, "{shot}");
    }
}
