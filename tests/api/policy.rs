//! Per-route policies on `/auth/verify`, as a proxy drives them: host and
//! path from forwarded headers (trusted proxies only), `allow_*` narrowing,
//! permissions. A 403 through each real proxy is in `proxies.rs`.

use crate::helpers::{header, spawn_app_with, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD};
use sealgate::config::{Access, RuleSettings};

fn admins_only(s: &mut sealgate::config::Settings) {
    s.policy.rules = vec![
        RuleSettings { paths: vec!["/public".into()], allow: Access::Public, ..RuleSettings::default() },
        RuleSettings { paths: vec!["/admin".into()], groups: vec!["admins".into()], ..RuleSettings::default() },
    ];
    s.policy.permissions =
        [("admins".to_owned(), vec!["write:orders:any".to_owned(), "read:orders".to_owned()])].into();
}

async fn verify_for(app: &TestApp, uri: &str, query: &str) -> reqwest::Response {
    app.client.get(app.url(&format!("/auth/verify{query}"))).header("X-Forwarded-Uri", uri).send().await.unwrap()
}

#[tokio::test]
async fn rules_decide_401_403_or_200_from_the_forwarded_path() {
    let app = spawn_app_with(admins_only).await;
    assert_eq!(verify_for(&app, "/public/page", "").await.status(), 200, "public: anonymous passes");
    assert_eq!(verify_for(&app, "/admin", "").await.status(), 401);

    app.sign_in(BOB, BOB_PASSWORD).await;
    assert_eq!(verify_for(&app, "/admin/users", "").await.status(), 403);
    assert_eq!(verify_for(&app, "/%61dmin/users", "").await.status(), 403, "encoding does not slip past");
    assert_eq!(verify_for(&app, "/public/../admin", "").await.status(), 403);
    assert_eq!(verify_for(&app, "/ADMIN", "").await.status(), 403);
    let elsewhere = verify_for(&app, "/home", "").await;
    assert_eq!(elsewhere.status(), 200);
    assert!(header(&elsewhere, "x-auth-permissions").is_none());

    app.sign_in(ALICE, ALICE_PASSWORD).await;
    let admin = verify_for(&app, "/admin/users", "").await;
    assert_eq!(admin.status(), 200);
    assert_eq!(header(&admin, "x-auth-user"), Some("alice"));
    assert_eq!(header(&admin, "x-auth-permissions"), Some("read:orders,write:orders:any"));
}

#[tokio::test]
async fn query_narrowing_restricts_but_never_widens() {
    let app = spawn_app_with(admins_only).await;
    app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(verify_for(&app, "/home", "?allow_groups=admins").await.status(), 200);
    assert_eq!(verify_for(&app, "/home", "?allow_groups=ops").await.status(), 403);
    assert_eq!(verify_for(&app, "/home", "?allow_emails=alice@example.com").await.status(), 200);
    assert_eq!(verify_for(&app, "/home", "?allow_email_domains=other.test").await.status(), 403);
    assert_eq!(verify_for(&app, "/public", "?allow_groups=ops").await.status(), 403, "narrowing a public route");

    let bob = spawn_app_with(admins_only).await;
    bob.sign_in(BOB, BOB_PASSWORD).await;
    assert_eq!(verify_for(&bob, "/admin", "?allow_emails=bob@example.com").await.status(), 403, "cannot widen");
}

#[tokio::test]
async fn query_narrowing_works_without_rules_and_when_percent_encoded() {
    let app = spawn_app_with(|_| {}).await; // no policy rules at all: the hot path skips the policy
    app.sign_in(ALICE, ALICE_PASSWORD).await;
    assert_eq!(verify_for(&app, "/home", "").await.status(), 200);
    assert_eq!(verify_for(&app, "/home", "?allow_groups=ops").await.status(), 403);
    assert_eq!(verify_for(&app, "/home", "?allow%5Fgroups=ops").await.status(), 403, "encoded key");
    assert_eq!(verify_for(&app, "/home", "?allow%5fgroups=admins").await.status(), 200);
}

#[tokio::test]
async fn forwarded_paths_from_untrusted_peers_are_ignored() {
    let app = spawn_app_with(|s| {
        admins_only(s);
        s.policy.default = Access::Deny;
        s.server.trusted_proxies = vec![];
    })
    .await;
    app.sign_in(ALICE, ALICE_PASSWORD).await;
    // The client claims to be asking for a public path; it is not a proxy, so the default applies.
    assert_eq!(verify_for(&app, "/public", "").await.status(), 403);
}
