//! Real nginx with `auth_request`, configured by `examples/nginx/sealgate.conf`.

use crate::helpers::{set_cookies, spawn_app_with, ALICE, ALICE_PASSWORD, CROWD, CROWD_PASSWORD};
use crate::proxies::{free_port, spawn_echo_upstream, Nginx};
use reqwest::redirect::Policy;
use reqwest::Client;

struct Stack {
    app: crate::helpers::TestApp,
    nginx: Nginx,
    browser: Client,
}

async fn stack() -> Stack {
    let port = free_port();
    let app = spawn_app_with(|s| s.server.public_url = format!("http://127.0.0.1:{port}")).await;
    let upstream = spawn_echo_upstream().await;
    let nginx = Nginx::start(port, app.address.trim_start_matches("http://"), &upstream);
    let browser = Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap();
    Stack { app, nginx, browser }
}

fn redirect_to_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().find(|(k, _)| k == "redirect_to").map(|(_, v)| v.into_owned()).unwrap()
}

impl Stack {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.browser.get(self.nginx.url(path)).send().await.unwrap()
    }

    async fn sign_in(&self, redirect_to: &str) -> reqwest::Response {
        self.sign_in_as(ALICE, ALICE_PASSWORD, redirect_to).await
    }

    async fn sign_in_as(&self, username: &str, password: &str, redirect_to: &str) -> reqwest::Response {
        self.browser
            .post(self.nginx.url("/auth/signin/credentials"))
            .header("Origin", self.nginx.url(""))
            .form(&[("username", username), ("password", password), ("remember", "true"), ("redirect_to", redirect_to)])
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_with_their_url_intact() {
    let stack = stack().await;
    let response = stack
        .browser
        .get(stack.nginx.url("/app/page?x=1&y=a%20b"))
        .header("X-Auth-User", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&stack.nginx.url("/auth/signin?redirect_to=")), "{location}");
    assert_eq!(redirect_to_of(&location), stack.nginx.url("/app/page?x=1&y=a%20b"));

    let page = stack.browser.get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));
}

#[tokio::test]
async fn after_sign_in_the_upstream_sees_who_it_is_and_after_sign_out_nobody() {
    let stack = stack().await;
    let target = stack.nginx.url("/app/page?x=1&y=2");
    let signed_in = stack.sign_in(&target).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], target.as_str());

    let page =
        stack.browser.get(&target).header("X-Auth-User", "admin").header("X-Auth-Groups", "root").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let seen: serde_json::Value = page.json().await.unwrap();
    assert_eq!(seen["x-auth-user"], "alice", "{seen}");
    assert_eq!(seen["x-auth-email"], "alice@example.com");
    assert_eq!(seen["x-auth-name"], "Alice Liddell");
    assert_eq!(seen["x-auth-groups"], "admins,staff");
    assert_eq!(seen["x-auth-provider"], "credentials");
    assert_eq!(seen["uri"], "/app/page?x=1&y=2");

    let signed_out = stack
        .browser
        .post(stack.nginx.url("/auth/signout"))
        .header("Origin", stack.nginx.url(""))
        .form(&[("redirect_to", "/bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(stack.get("/app/page").await.status(), 302, "anonymous again");
}

#[tokio::test]
async fn a_renewed_session_cookie_reaches_the_browser_through_nginx() {
    let stack = stack().await;
    stack.sign_in("/app").await;
    let first = stack.get("/app").await;
    assert_eq!(first.status(), 200);
    assert!(set_cookies(first.headers()).is_empty());

    stack.app.clock.advance(4 * 24 * 3600); // past half of the 7-day idle lifetime
    let renewed = stack.get("/app").await;
    assert_eq!(renewed.status(), 200);
    let cookies = set_cookies(renewed.headers());
    let cookie = cookies.iter().find(|c| c.name == "sealgate").expect("nginx passes the renewed cookie on");
    let session = stack.app.sessions.codec.open(&cookie.value).unwrap();
    assert_eq!(session.expires_at, sealgate::clock::Clock::now(&stack.app.clock) + 7 * 24 * 3600);
}

#[tokio::test]
async fn a_session_in_several_cookie_chunks_signs_in_and_passes_through_nginx() {
    let stack = stack().await;
    let signed_in = stack.sign_in_as(CROWD, CROWD_PASSWORD, "/app").await;
    assert_eq!(signed_in.status(), 303, "{}", stack.nginx.log());
    let chunks = set_cookies(signed_in.headers());
    assert!(chunks.len() > 1, "crowd's session should need several chunks: {chunks:?}");

    let page = stack.get("/app").await;
    assert_eq!(page.status(), 200, "{}", stack.nginx.log());
    let seen: serde_json::Value = page.json().await.unwrap();
    assert_eq!(seen["x-auth-user"], CROWD, "{seen}");
}
