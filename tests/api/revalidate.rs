//! Deprovisioning of OIDC users (`providers.<id>.revalidate`): alice signs
//! in through the real test IdP, the IdP deletes her account, and sealgate
//! ends her session at the first check due after `revalidate`, not before;
//! a provider that is down at the check keeps the session and is asked
//! again after a back-off; without `revalidate` nothing is ever checked.

use crate::helpers::{header, set_cookies, Spawn, TestApp};
use crate::support::idp::{authorize_at_idp, IdpOptions, TestIdp};
use crate::support::network::Switch;
use crate::support::oidc::{deliver, new_cookie, start, ALICE, CALLBACK};
use sealgate::config::store::StoreKind;
use std::time::Duration;

/// `revalidate = "15m"`, in seconds.
const EVERY: i64 = 15 * 60;
/// sealgate's back-off after a check that could not be made.
const BACK_OFF: i64 = 60;

struct Signed {
    idp: TestIdp,
    app: TestApp,
    cookie: String,
    /// Between sealgate and the IdP's userinfo and token endpoints.
    switch: Switch,
}

/// Alice signed in as `corp` (access tokens live an hour, as by default),
/// with `revalidate` as given; userinfo and the token endpoint are reached
/// through a [`Switch`].
async fn signed_in(revalidate: Option<Duration>, store: StoreKind) -> Signed {
    let idp = TestIdp::start(IdpOptions { redirect_uris: vec![CALLBACK.into()], ..IdpOptions::default() }).await;
    let switch = Switch::to(idp.issuer.trim_start_matches("http://").to_owned()).await;
    let mut provider = idp.provider();
    provider.revalidate = revalidate;
    provider.userinfo_url = Some(format!("http://127.0.0.1:{}/me", switch.port));
    provider.token_url = Some(format!("http://127.0.0.1:{}/token", switch.port));
    let app = Spawn::new()
        .configure(|s| {
            s.providers.insert("corp".into(), provider);
            s.store.kind = store;
        })
        .ready()
        .run()
        .await;
    let (authorize, _) = start(&app, "/").await;
    let response = deliver(&app, &authorize_at_idp(&authorize, ALICE, CALLBACK).await).await;
    let session = set_cookies(response.headers()).into_iter().find(|c| c.name == "sealgate").expect("signed in");
    Signed { idp, app, cookie: format!("sealgate={}", session.value), switch }
}

async fn revalidating() -> Signed {
    signed_in(Some(Duration::from_secs(EVERY as u64)), StoreKind::Local).await
}

async fn userinfo_calls(idp: &TestIdp) -> u64 {
    idp.stats().await["userinfo_requests"].as_u64().unwrap()
}

async fn refresh_grants(idp: &TestIdp) -> u64 {
    idp.stats().await["token_requests"]["refresh_token"].as_u64().unwrap()
}

/// Whether `response` clears the session cookie.
fn clears_the_cookie(response: &reqwest::Response) -> bool {
    set_cookies(response.headers()).iter().any(|c| c.name == "sealgate" && c.is_removal())
}

#[tokio::test]
async fn a_deleted_account_is_signed_out_at_the_first_check_after_revalidate_and_not_before() {
    let Signed { idp, app, cookie, .. } = revalidating().await;
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);
    let before = userinfo_calls(&idp).await;

    idp.delete_account("alice-sub").await;
    app.clock.advance(EVERY - 1);
    let still = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(still.status(), 200, "no check is due before 15 minutes");
    assert_eq!(header(&still, "x-auth-user"), Some("alice-sub"));
    assert_eq!(userinfo_calls(&idp).await, before, "and no userinfo call was made");

    app.clock.advance(1);
    let ended = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(ended.status(), 401, "the account is gone at the IdP");
    assert!(clears_the_cookie(&ended), "the browser's cookie is cleared");
    assert_eq!(userinfo_calls(&idp).await, before + 1);

    let again = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(again.status(), 401, "the cookie no longer works");
    let session: serde_json::Value = app.get_with_cookie("/auth/session", &cookie).await.json().await.unwrap();
    assert_eq!(session["authenticated"], false, "anywhere: it is revoked ({session})");
    assert_eq!(userinfo_calls(&idp).await, before + 1, "a gone account is not asked about again");
}

#[tokio::test]
async fn without_a_store_a_deleted_account_stays_signed_out_on_this_replica() {
    let Signed { idp, app, cookie, .. } = signed_in(Some(Duration::from_secs(EVERY as u64)), StoreKind::None).await;
    idp.delete_account("alice-sub").await;
    app.clock.advance(EVERY);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401);
    let calls = userinfo_calls(&idp).await;
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 401, "the cookie no longer works");
    assert_eq!(userinfo_calls(&idp).await, calls);
}

#[tokio::test]
async fn a_present_account_is_checked_once_per_interval_even_by_concurrent_requests() {
    let Signed { idp, app, cookie, .. } = revalidating().await;
    let before = userinfo_calls(&idp).await;

    app.clock.advance(EVERY);
    let responses = futures_util::future::join_all((0..20).map(|_| app.get_with_cookie("/auth/verify", &cookie))).await;
    assert!(responses.iter().all(|r| r.status() == 200), "the account is there");
    assert_eq!(userinfo_calls(&idp).await, before + 1, "twenty requests share one check");

    app.clock.advance(EVERY - 1);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);
    assert_eq!(userinfo_calls(&idp).await, before + 1, "the next check is 15 minutes after the last");
    app.clock.advance(1);
    assert_eq!(app.get_with_cookie("/auth/verify", &cookie).await.status(), 200);
    assert_eq!(userinfo_calls(&idp).await, before + 2);
}

#[tokio::test]
async fn a_provider_that_is_down_at_the_check_keeps_the_session_and_is_asked_again_after_a_back_off() {
    let Signed { idp, app, cookie, switch } = revalidating().await;
    let before = userinfo_calls(&idp).await;
    idp.delete_account("alice-sub").await;

    app.clock.advance(EVERY);
    switch.set_down(true);
    let down = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(down.status(), 200, "an unreachable provider does not end the session");
    assert!(!clears_the_cookie(&down));
    switch.set_down(false);

    let waiting = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(waiting.status(), 200, "not asked again on every request");
    assert_eq!(userinfo_calls(&idp).await, before, "nothing reached the IdP yet");

    app.clock.advance(BACK_OFF);
    let ended = app.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(ended.status(), 401, "after the back-off the check is made, and the account is gone");
    assert!(clears_the_cookie(&ended));
    assert_eq!(userinfo_calls(&idp).await, before + 1);
}

#[tokio::test]
async fn without_revalidate_no_check_ever_happens() {
    let Signed { idp, app, cookie, .. } = signed_in(None, StoreKind::Local).await;
    let before = userinfo_calls(&idp).await;
    idp.delete_account("alice-sub").await;
    for _ in 0..4 {
        app.clock.advance(EVERY);
        let response = app.get_with_cookie("/auth/verify", &cookie).await;
        assert_eq!(response.status(), 200);
        assert!(new_cookie(&response).is_none());
    }
    assert_eq!(userinfo_calls(&idp).await, before, "no userinfo call");
    assert_eq!(refresh_grants(&idp).await, 0, "and no refresh");
}
