//! Forwarded headers from a peer that is not a trusted proxy: ignored, and
//! when the policy's rules need a host or path, said so once in the log.

use crate::helpers::{captured_logs, spawn_app_with, ALICE, ALICE_PASSWORD};
use sealgate::config::{Access, RuleSettings};
use std::net::IpAddr;

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored_with_one_warning() {
    // A peer address of this test's own, so the log lines are this test's.
    let peer: IpAddr = "127.0.0.61".parse().unwrap();
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.policy.default = Access::Deny;
        s.policy.rules =
            vec![RuleSettings { paths: vec!["/public".into()], allow: Access::Public, ..RuleSettings::default() }];
    })
    .await;
    let client = reqwest::Client::builder()
        .local_address(peer)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(app.url("/auth/signin/credentials"))
        .header("Origin", crate::helpers::PUBLIC_URL)
        .form(&[("username", ALICE), ("password", ALICE_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    for _ in 0..3 {
        let verify = client
            .get(app.url("/auth/verify"))
            .header("X-Forwarded-Host", "app.example.com")
            .header("X-Forwarded-Uri", "/public")
            .send()
            .await
            .unwrap();
        // The claimed path is not believed: the rules match nothing, the default (deny) decides.
        assert_eq!(verify.status(), 403);
    }
    let warnings = captured_logs()
        .lines()
        .filter(|line| line.contains("not in server.trusted_proxies") && line.contains("127.0.0.61"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per request");
}
