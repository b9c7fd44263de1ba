//! "Your sessions": a person lists their sessions, ends one, or ends all
//! the others; on the local store and on Redis. Only their own, only from
//! our own origin, only with a session cookie.

use crate::helpers::{client, on_redis, set_cookies, Spawn, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD};
use crate::support::redis_server::RedisServer;
use reqwest::Client;
use sealgate::config::store::StoreKind;
use serde_json::Value;

/// Sign `username` in on a browser of its own.
async fn browser(app: &TestApp, username: &str, password: &str, agent: &str) -> Client {
    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent(agent)
        .build()
        .unwrap();
    let form = [("username", username), ("password", password), ("remember", "true")];
    let response = browser.post(app.url("/auth/signin/credentials")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    browser
}

async fn listed(app: &TestApp, browser: &Client) -> Vec<Value> {
    let response = browser.get(app.url("/auth/sessions")).header("Accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn verify(app: &TestApp, browser: &Client) -> u16 {
    browser.get(app.url("/auth/verify")).send().await.unwrap().status().as_u16()
}

async fn a_person_ends_their_other_sessions(app: TestApp) {
    let laptop = browser(&app, ALICE, ALICE_PASSWORD, "Laptop/1.0").await;
    let phone = browser(&app, ALICE, ALICE_PASSWORD, "Phone/2.0").await;
    let sessions = listed(&app, &laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop/1.0");
    assert!(sessions.iter().all(|s| s["client_address"] == "127.0.0.1"), "{sessions:?}");

    let response = laptop.post(app.url("/auth/sessions/revoke-others")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(verify(&app, &phone).await, 401, "the phone is signed out");
    assert_eq!(verify(&app, &laptop).await, 200, "this browser stays signed in");
    assert_eq!(listed(&app, &laptop).await.len(), 1);
}

#[tokio::test]
async fn a_person_ends_their_other_sessions_on_the_local_store() {
    a_person_ends_their_other_sessions(Spawn::new().run().await).await
}

#[tokio::test]
async fn a_person_ends_their_other_sessions_on_redis() {
    let redis = RedisServer::start();
    let app = Spawn::new().configure(|s| on_redis(s, &redis)).run().await;
    a_person_ends_their_other_sessions(app).await
}

#[tokio::test]
async fn one_session_is_ended_by_its_id_and_only_the_owner_may_end_it() {
    let app = Spawn::new().run().await;
    let laptop = browser(&app, ALICE, ALICE_PASSWORD, "Laptop/1.0").await;
    let phone = browser(&app, ALICE, ALICE_PASSWORD, "Phone/2.0").await;
    let bob = browser(&app, BOB, BOB_PASSWORD, "Bob/1.0").await;
    let phone_id = listed(&app, &phone).await.into_iter().find(|s| s["current"] == true).unwrap()["id"].clone();
    let phone_id = phone_id.as_str().unwrap();

    let by_bob = bob.post(app.url(&format!("/auth/sessions/{phone_id}/revoke"))).send().await.unwrap();
    assert_eq!(by_bob.status(), 404, "another person's session is not found");
    assert_eq!(verify(&app, &phone).await, 200);
    let unknown = laptop.post(app.url(&format!("/auth/sessions/{}/revoke", "x".repeat(65)))).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let by_alice = laptop.post(app.url(&format!("/auth/sessions/{phone_id}/revoke"))).send().await.unwrap();
    assert_eq!(by_alice.status(), 303);
    assert_eq!(verify(&app, &phone).await, 401);
    assert_eq!(verify(&app, &laptop).await, 200);
    assert_eq!(verify(&app, &bob).await, 200);

    // Ending the current session signs this browser out too.
    let laptop_id = listed(&app, &laptop).await[0]["id"].as_str().unwrap().to_owned();
    let own = laptop.post(app.url(&format!("/auth/sessions/{laptop_id}/revoke"))).send().await.unwrap();
    assert_eq!(own.status(), 303);
    assert!(set_cookies(own.headers()).iter().any(|c| c.is_removal()), "the cookie is cleared");
    assert_eq!(verify(&app, &laptop).await, 401);
}

#[tokio::test]
async fn the_pages_are_for_signed_in_browsers_from_our_own_origin() {
    let app = Spawn::new().run().await;
    assert_eq!(client().get(app.url("/auth/sessions")).send().await.unwrap().status(), 401);
    let laptop = browser(&app, ALICE, ALICE_PASSWORD, "<script>Laptop</script>").await;

    let page = laptop.get(app.url("/auth/sessions")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Your sessions") && html.contains("(this browser)"), "{html}");
    assert!(html.contains("&lt;script&gt;Laptop") && !html.contains("<script>Laptop"), "escaped");

    let cross_site =
        laptop.post(app.url("/auth/sessions/revoke-others")).header("Origin", "https://evil.example").send().await;
    assert_eq!(cross_site.unwrap().status(), 403);

    let (token, _) = app.sessions.api_tokens.mint(sealgate::identity::User::new(ALICE), "ci", vec![], 600).unwrap();
    let by_token = client().get(app.url("/auth/sessions")).bearer_auth(token).send().await.unwrap();
    assert_eq!(by_token.status(), 403, "an API token is not a session");

    let off = Spawn::new().configure(|s| s.store.kind = StoreKind::None).run().await;
    let browser_off = browser(&off, ALICE, ALICE_PASSWORD, "Laptop/1.0").await;
    assert_eq!(browser_off.get(off.url("/auth/sessions")).send().await.unwrap().status(), 404);
}
