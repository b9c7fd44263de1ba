//! A real browser (Debian's headless chromium, driven by
//! `tests/browser/signin.mjs` with playwright-core) signing in through nginx,
//! sealgate and the test IdP the way a person would, then signing out.

use crate::helpers::Spawn;
use crate::support::browser_script;
use crate::support::idp::{IdpOptions, TestIdp};
use crate::support::network::free_port;
use crate::support::proxy::{spawn_echo_upstream, Proxy};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the test leaves its screenshot (git-ignored).
fn screenshot_path() -> PathBuf {
    let dir = repo().join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("browser-landed.png");
    let _ = std::fs::remove_file(&path);
    path
}

#[tokio::test]
async fn a_person_signs_in_with_a_real_browser_through_nginx_and_the_idp_then_signs_out() {
    // nginx's port first: it is the public URL and the IdP's redirect URI.
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = TestIdp::start(IdpOptions {
        redirect_uris: vec![format!("{public}/auth/callback/corp")],
        ..IdpOptions::default()
    })
    .await;
    let app = Spawn::new()
        .configure(|s| {
            s.server.public_url = public.clone();
            s.providers.insert("corp".into(), idp.provider());
        })
        .ready()
        .run()
        .await;
    let upstream = spawn_echo_upstream().await;
    // nginx only: this story is about the browser; every proxy story runs
    // through each proxy in `proxies.rs`, and a second chromium run would
    // double the slowest test for no new path through sealgate.
    let nginx = Proxy::Nginx.start(port, app.address.trim_start_matches("http://"), &upstream);

    let protected = nginx.url("/app/page?x=1&y=2");
    let screenshot = screenshot_path();
    let run = browser_script::run(
        "signin.mjs",
        &[
            &"--protected-url",
            &protected,
            &"--login",
            &"alice",
            &"--password",
            &"alice-password",
            &"--screenshot",
            &screenshot,
        ],
        Duration::from_secs(90),
    )
    .await;
    run.assert_ok();
    let report = run.report;

    // Signed in and back where the person started, with the upstream told who it is.
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["landed_url"], protected.as_str(), "{report}");
    let seen = &report["landed_json"];
    assert_eq!(seen["x-auth-user"], "alice-sub", "{report}");
    assert_eq!(seen["x-auth-email"], "alice@example.com", "{report}");
    assert_eq!(seen["x-auth-provider"], "corp", "{report}");
    assert_eq!(seen["uri"], "/app/page?x=1&y=2", "{report}");
    let text = report["landed_text"].as_str().unwrap();
    assert!(text.contains("alice-sub") && text.contains("alice@example.com"), "{text}");

    // Signed out: the same URL leads to the sign-in page again.
    let after = url::Url::parse(report["after_signout_url"].as_str().unwrap()).unwrap();
    assert_eq!(after.origin().ascii_serialization(), public, "{report}");
    assert_eq!(after.path(), "/auth/signin", "{report}");
    let redirect_to = after.query_pairs().find(|(k, _)| k == "redirect_to").map(|(_, v)| v.into_owned());
    assert_eq!(redirect_to.as_deref(), Some(protected.as_str()), "{report}");

    // The screenshot of the landed page.
    assert_eq!(report["screenshot"], screenshot.to_str().unwrap(), "{report}");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", screenshot.display());
    assert!(png.len() > 1000, "the screenshot is suspiciously small ({} bytes)", png.len());
}

/// A real browser on sealgate's own sign-in page, opened with `success_to`
/// and `failure_to`: a wrong password lands on `failure_to` with the error
/// code, the right one on `success_to`, signed in.
#[tokio::test]
async fn a_browser_lands_on_failure_to_after_a_wrong_password_and_on_success_to_after_the_right_one() {
    // The page's origin is the public URL (the form post's Origin is checked against it).
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = Spawn::new()
        .configure(|s| {
            s.server.listen = format!("127.0.0.1:{port}");
            s.server.public_url = public.clone();
        })
        .run()
        .await;
    let signin = format!("{public}/auth/signin?success_to=%2Fauth%2Fsession&failure_to=%2Fhealthz%3Ffrom%3Dsignin");
    let run = browser_script::run(
        "targets.mjs",
        &[
            &"--signin-url",
            &signin,
            &"--login",
            &crate::helpers::ALICE,
            &"--password",
            &crate::helpers::ALICE_PASSWORD,
            &"--wrong-password",
            &"not her password",
        ],
        Duration::from_secs(90),
    )
    .await;
    run.assert_ok();
    let report = run.report;

    assert_eq!(report["failed_url"], format!("{public}/healthz?from=signin&error=invalid_credentials"), "{report}");
    assert_eq!(report["succeeded_url"], format!("{public}/auth/session"), "{report}");
    let session: serde_json::Value = serde_json::from_str(report["succeeded_text"].as_str().unwrap()).unwrap();
    assert_eq!(session["authenticated"], true, "{report}");
    assert_eq!(session["user"]["id"], "alice", "{report}");
    drop(app);
}
