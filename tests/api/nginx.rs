//! Real nginx with `auth_request`, configured by `examples/nginx/sealgate.conf`.

use crate::helpers::{set_cookies, spawn_app_with, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, CROWD, CROWD_PASSWORD};
use crate::proxies::{forged, free_port, host_rules, identity_header_names, raw_http, spawn_echo_upstream, Nginx};
use reqwest::redirect::Policy;
use reqwest::Client;
use sealgate::config::Settings;

struct Stack {
    app: crate::helpers::TestApp,
    nginx: Nginx,
    browser: Client,
}

async fn stack() -> Stack {
    stack_with(|_| {}).await
}

async fn stack_with(configure: impl FnOnce(&mut Settings)) -> Stack {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.server.public_url = format!("http://127.0.0.1:{port}");
        configure(s);
    })
    .await;
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

#[tokio::test]
async fn no_forged_identity_header_reaches_the_upstream_through_nginx() {
    let stack = stack_with(host_rules).await;
    let names = identity_header_names();

    // Anonymous, on a public path: the upstream gets no identity at all.
    let page = forged(stack.browser.get(stack.nginx.url("/public/page"))).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", stack.nginx.log());
    let seen: serde_json::Value = page.json().await.unwrap();
    for name in &names {
        assert!(seen.get(name).is_none(), "{name} reached the upstream: {seen}");
    }

    // Signed in: what sealgate says, and nothing it did not say.
    stack.sign_in("/").await;
    let page = forged(stack.browser.get(stack.nginx.url("/app"))).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", stack.nginx.log());
    let seen: serde_json::Value = page.json().await.unwrap();
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
async fn a_host_header_with_a_bad_port_is_judged_by_the_host_nginx_routes_it_by() {
    let stack = stack_with(host_rules).await;
    let signed_in = stack.sign_in_as(BOB, BOB_PASSWORD, "/").await;
    let cookie =
        set_cookies(signed_in.headers()).into_iter().map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>();
    let cookie = cookie.join("; ");
    let port = stack.nginx.port;
    let (status, _) =
        raw_http(port, "GET /admin HTTP/1.1", &[("Host", &format!("127.0.0.1:{port}")), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403, "bob is not an admin\n{}", stack.nginx.log());
    let (status, _) = raw_http(port, "GET /home HTTP/1.1", &[("Host", "127.0.0.1"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200);
    for host in ["127.0.0.1:abc", "127.0.0.1:443.", "127.0.0.1:80:80", "127.0.0.1:+443", "127.0.0.1:-1", "127.0.0.1:"] {
        let (status, body) = raw_http(port, "GET /admin HTTP/1.1", &[("Host", host), ("Cookie", &cookie)]).await;
        // nginx may refuse the Host itself (400); it must never let bob in.
        assert!(status == 403 || status == 400, "Host: {host} gave {status}: {body}\n{}", stack.nginx.log());
    }
}

#[tokio::test]
async fn an_absolute_form_target_is_judged_by_the_host_nginx_routes_it_by() {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.server.public_url = format!("http://127.0.0.1:{port}");
        host_rules(s);
    })
    .await;
    let (app_upstream, admin_upstream) = (spawn_echo_upstream().await, spawn_echo_upstream().await);
    let nginx = Nginx::start_with_servers(
        port,
        app.address.trim_start_matches("http://"),
        &[("app.test", &app_upstream), ("admin.test", &admin_upstream)],
    );
    let browser = Client::builder().redirect(Policy::none()).build().unwrap();
    let signed_in = browser
        .post(nginx.url("/auth/signin/credentials"))
        .header("Origin", nginx.url(""))
        .form(&[("username", BOB), ("password", BOB_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{}", nginx.log());
    let cookie =
        set_cookies(signed_in.headers()).into_iter().map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>();
    let cookie = cookie.join("; ");

    // Each host as itself: bob may use app.test, not admin.test.
    let (status, body) = raw_http(port, "GET /page HTTP/1.1", &[("Host", "app.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}\n{}", nginx.log());
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["upstream"], app_upstream.as_str());
    assert_eq!(seen["x-auth-user"], "bob");
    let (status, _) = raw_http(port, "GET /page HTTP/1.1", &[("Host", "admin.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403);

    // nginx routes an absolute-form request by the request line's host;
    // sealgate must judge that host, not the Host header's.
    let (status, body) =
        raw_http(port, "GET http://admin.test/page HTTP/1.1", &[("Host", "app.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403, "bob reached admin.test's upstream: {body}\n{}", nginx.log());
    let (status, body) =
        raw_http(port, "GET http://app.test/page HTTP/1.1", &[("Host", "admin.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["upstream"], app_upstream.as_str(), "routed by the request line");
    assert_eq!(seen["host"], "app.test", "and the upstream is told that host too");
}

#[tokio::test]
async fn forged_forwarded_for_entries_do_not_dodge_the_sign_in_limit_through_nginx() {
    let stack = stack_with(|s| s.credentials.max_failures_per_client = 3).await;
    let mut statuses = Vec::new();
    for attempt in 0..5 {
        // Another username each time (so the per-user limit stays out of
        // it), another forged address each time, and junk after it that
        // used to stop sealgate reading before nginx's own entry.
        let response = stack
            .browser
            .post(stack.nginx.url("/auth/signin/credentials"))
            .header("Origin", stack.nginx.url(""))
            .header("X-Forwarded-For", format!("198.51.100.{attempt}, x"))
            .form(&[("username", format!("guess{attempt}").as_str()), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [303, 303, 303, 429, 429], "the client is nginx's peer, whatever it wrote");
}
