//! Real Caddy (Debian's 2.6) with `forward_auth`, configured by
//! `examples/caddy/Caddyfile`, with the credentials provider.

use crate::helpers::{set_cookies, spawn_app_with, SetCookie, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD};
use crate::helpers::{CROWD, CROWD_PASSWORD};
use crate::proxies::{forged, free_port, host_rules, identity_header_names, raw_http, spawn_echo_upstream, Caddy};
use reqwest::redirect::Policy;
use reqwest::Client;

struct Stack {
    app: TestApp,
    caddy: Caddy,
    /// Keeps cookies and does not follow redirects.
    browser: Client,
}

async fn stack() -> Stack {
    stack_with(|_| {}).await
}

async fn stack_with(configure: impl FnOnce(&mut sealgate::config::Settings)) -> Stack {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.server.public_url = format!("http://127.0.0.1:{port}");
        configure(s);
    })
    .await;
    let upstream = spawn_echo_upstream().await;
    let caddy = Caddy::start(port, app.address.trim_start_matches("http://"), &upstream);
    Stack { app, caddy, browser: browser() }
}

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap()
}

fn redirect_to_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().find(|(k, _)| k == "redirect_to").map(|(_, v)| v.into_owned()).unwrap()
}

impl Stack {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.browser.get(self.caddy.url(path)).send().await.unwrap()
    }

    async fn sign_in_as(
        &self,
        browser: &Client,
        username: &str,
        password: &str,
        redirect_to: &str,
    ) -> reqwest::Response {
        browser
            .post(self.caddy.url("/auth/signin/credentials"))
            .header("Origin", self.caddy.url(""))
            .form(&[("username", username), ("password", password), ("remember", "true"), ("redirect_to", redirect_to)])
            .send()
            .await
            .unwrap()
    }

    async fn sign_in(&self, redirect_to: &str) -> reqwest::Response {
        self.sign_in_as(&self.browser, ALICE, ALICE_PASSWORD, redirect_to).await
    }

    /// What the upstream saw, as JSON, after asserting the request got there.
    async fn seen(&self, response: reqwest::Response) -> serde_json::Value {
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{body}\n{}", self.caddy.log());
        serde_json::from_str(&body).unwrap()
    }
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_with_their_url_intact() {
    let stack = stack().await;
    let response = stack
        .browser
        .get(stack.caddy.url("/app/page?x=1&y=a%20b"))
        .header("X-Auth-User", "admin")
        .header("X-Forwarded-Uri", "/somewhere/else")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "{}", stack.caddy.log());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&stack.caddy.url("/auth/signin?redirect_to=")), "{location}");
    assert_eq!(
        redirect_to_of(&location),
        stack.caddy.url("/app/page?x=1&y=a%20b"),
        "Caddy replaced the client's X-Forwarded-*"
    );

    let page = stack.browser.get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));

    // A POST to a protected path is sent to sign in too (forward_auth asks with GET).
    let post = stack.browser.post(stack.caddy.url("/app/form")).form(&[("a", "b")]).send().await.unwrap();
    assert_eq!(post.status(), 302);
    assert_eq!(redirect_to_of(post.headers()["location"].to_str().unwrap()), stack.caddy.url("/app/form"));
}

#[tokio::test]
async fn after_sign_in_the_upstream_sees_who_it_is_and_after_sign_out_nobody() {
    let stack = stack().await;
    let target = stack.caddy.url("/app/page?x=1&y=2");
    let signed_in = stack.sign_in(&target).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], target.as_str());
    assert!(set_cookies(signed_in.headers()).iter().any(|c| c.name == "sealgate" && !c.value.is_empty()));

    let page =
        stack.browser.get(&target).header("X-Auth-User", "admin").header("X-Auth-Groups", "root").send().await.unwrap();
    let seen = stack.seen(page).await;
    assert_eq!(seen["x-auth-user"], "alice", "{seen}");
    assert_eq!(seen["x-auth-username"], "alice");
    assert_eq!(seen["x-auth-email"], "alice@example.com");
    assert_eq!(seen["x-auth-name"], "Alice Liddell");
    assert_eq!(seen["x-auth-groups"], "admins,staff");
    assert_eq!(seen["x-auth-provider"], "credentials");
    assert_eq!(seen["uri"], "/app/page?x=1&y=2");

    let signed_out = stack
        .browser
        .post(stack.caddy.url("/auth/signout"))
        .header("Origin", stack.caddy.url(""))
        .form(&[("redirect_to", "/bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(signed_out.headers()["location"], "/bye");
    let again = stack.get("/app/page").await;
    assert_eq!(again.status(), 302, "anonymous again");
    assert_eq!(redirect_to_of(again.headers()["location"].to_str().unwrap()), stack.caddy.url("/app/page"));
}

#[tokio::test]
async fn identity_headers_sealgate_does_not_send_do_not_reach_the_upstream() {
    let stack = stack().await;
    // bob has no name and no groups: sealgate sends neither header.
    assert_eq!(stack.sign_in_as(&stack.browser, BOB, BOB_PASSWORD, "/").await.status(), 303);
    let page = stack
        .browser
        .get(stack.caddy.url("/app"))
        .header("X-Auth-Name", "Mallory")
        .header("X-Auth-Groups", "admins")
        .send()
        .await
        .unwrap();
    let seen = stack.seen(page).await;
    assert_eq!(seen["x-auth-user"], "bob", "{seen}");
    assert_eq!(seen["x-auth-email"], "bob@example.com", "{seen}");
    // Neither the client's value nor Caddy 2.6's literal "{http.reverse_proxy.header.X-Auth-Name}".
    assert!(seen.get("x-auth-name").is_none(), "{seen}");
    assert!(seen.get("x-auth-groups").is_none(), "{seen}");
}

/// The session cookie (joined from its chunks) among `cookies`.
fn session_value(cookies: &[SetCookie]) -> String {
    if let Some(single) = cookies.iter().find(|c| c.name == "sealgate") {
        return single.value.clone();
    }
    let mut chunks: Vec<(usize, &str)> = cookies
        .iter()
        .filter_map(|c| Some((c.name.strip_prefix("sealgate_")?.parse().ok()?, c.value.as_str())))
        .collect();
    chunks.sort();
    chunks.into_iter().map(|(_, v)| v).collect()
}

#[tokio::test]
async fn a_renewed_session_cookie_reaches_the_browser_through_caddy() {
    let stack = stack().await;
    stack.sign_in("/app").await;
    let first = stack.get("/app").await;
    assert_eq!(first.status(), 200);
    assert!(set_cookies(first.headers()).is_empty());

    stack.app.clock.advance(4 * 24 * 3600); // past half of the 7-day idle lifetime
    let renewed = stack.get("/app").await;
    assert_eq!(renewed.status(), 200);
    let cookies = set_cookies(renewed.headers());
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let session = stack.app.sessions.codec.open(&session_value(&cookies)).unwrap();
    assert_eq!(session.expires_at, sealgate::clock::Clock::now(&stack.app.clock) + 7 * 24 * 3600);
    assert_eq!(stack.seen(renewed).await["x-auth-user"], "alice");
}

#[tokio::test]
async fn a_renewed_session_in_several_cookie_chunks_reaches_the_browser_whole() {
    let stack = stack().await;
    let signed_in = stack.sign_in_as(&stack.browser, CROWD, CROWD_PASSWORD, "/app").await;
    assert_eq!(signed_in.status(), 303);
    let chunks: Vec<String> = set_cookies(signed_in.headers()).into_iter().map(|c| c.name).collect();
    assert!(chunks.len() > 1, "crowd's session should need several chunks: {chunks:?}");

    stack.app.clock.advance(4 * 24 * 3600);
    let renewed = stack.get("/app").await;
    let cookies = set_cookies(renewed.headers());
    let mut names: Vec<String> = cookies.iter().map(|c| c.name.clone()).collect();
    names.sort();
    let mut expected = chunks.clone();
    expected.sort();
    assert_eq!(names, expected, "every chunk is renewed, each in its own Set-Cookie");
    let session = stack.app.sessions.codec.open(&session_value(&cookies)).unwrap();
    assert_eq!(session.user.id, CROWD);
    assert_eq!(session.expires_at, sealgate::clock::Clock::now(&stack.app.clock) + 7 * 24 * 3600);
    assert_eq!(stack.seen(renewed).await["x-auth-user"], CROWD);
}

#[tokio::test]
async fn no_forged_identity_header_reaches_the_upstream_through_caddy() {
    let stack = stack_with(host_rules).await;
    let names = identity_header_names();

    // Anonymous, on a public path: the upstream gets no identity at all.
    let page = forged(stack.browser.get(stack.caddy.url("/public/page"))).send().await.unwrap();
    let seen = stack.seen(page).await;
    for name in &names {
        assert!(seen.get(name).is_none(), "{name} reached the upstream: {seen}");
    }

    // Signed in: what sealgate says, and nothing it did not say.
    stack.sign_in("/").await;
    let page = forged(stack.browser.get(stack.caddy.url("/app"))).send().await.unwrap();
    let seen = stack.seen(page).await;
    let expected = serde_json::json!({
        "x-auth-user": "alice",
        "x-auth-username": "alice",
        "x-auth-email": "alice@example.com",
        "x-auth-name": "Alice Liddell",
        "x-auth-provider": "credentials",
        "x-auth-groups": "admins,staff",
        "x-auth-source": "cookie",
        "x-auth-permissions": "read:orders",
    });
    for name in &names {
        assert_eq!(seen.get(name), expected.get(name), "{name}: {seen}");
    }
}

#[tokio::test]
async fn a_host_header_with_a_bad_port_never_widens_access_through_caddy() {
    let stack = stack_with(host_rules).await;
    let signed_in = stack.sign_in_as(&stack.browser, BOB, BOB_PASSWORD, "/").await;
    let cookie: Vec<String> =
        set_cookies(signed_in.headers()).into_iter().map(|c| format!("{}={}", c.name, c.value)).collect();
    let cookie = cookie.join("; ");
    let port = stack.caddy.port;
    let (status, _) =
        raw_http(port, "GET /admin HTTP/1.1", &[("Host", &format!("127.0.0.1:{port}")), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403, "bob is not an admin\n{}", stack.caddy.log());
    for host in ["127.0.0.1:abc", "127.0.0.1:443.", "127.0.0.1:80:80", "127.0.0.1:+443", "127.0.0.1:-1", "127.0.0.1:"] {
        let (status, body) = raw_http(port, "GET /admin HTTP/1.1", &[("Host", host), ("Cookie", &cookie)]).await;
        // Caddy may refuse the Host, or route it to no site (an empty 200);
        // the upstream must never see bob there.
        assert!(!body.contains("\"upstream\""), "Host: {host} gave {status}: {body}\n{}", stack.caddy.log());
        assert_ne!(status, 302, "Host: {host}");
    }

    // An absolute-form target: Caddy routes by, and forwards, the request
    // line's host (Go's Request.Host), not the Host header's.
    let line = format!("GET http://127.0.0.1:{port}/home HTTP/1.1");
    let (status, body) = raw_http(port, &line, &[("Host", "admin.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}\n{}", stack.caddy.log());
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["host"], format!("127.0.0.1:{port}"), "{seen}");
    assert_eq!(seen["x-auth-user"], "bob");
}
