//! The stories of a person behind a real reverse proxy, each run through
//! every [`Proxy`] (nginx with `auth_request`, Caddy with `forward_auth`),
//! configured by the examples in `examples/`, with the credentials provider
//! and an upstream app that echoes who it was told the user is.

use crate::helpers::{set_cookies, spawn_app_with, SetCookie, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD};
use crate::helpers::{CROWD, CROWD_PASSWORD};
use crate::support::network::{free_port, raw_http};
use crate::support::per_proxy;
use crate::support::proxy::{forged, identity_header_names, spawn_echo_upstream, Proxy, RunningProxy};
use reqwest::redirect::Policy;
use reqwest::Client;
use sealgate::config::Settings;

per_proxy!(
    anonymous_visitors_are_sent_to_sign_in_with_their_url_intact,
    after_sign_in_the_upstream_sees_who_it_is_and_after_sign_out_nobody,
    identity_headers_sealgate_does_not_send_do_not_reach_the_upstream,
    no_forged_identity_header_reaches_the_upstream,
    a_renewed_session_cookie_reaches_the_browser,
    a_session_in_several_cookie_chunks_signs_in_and_passes_through,
    a_signed_in_user_outside_the_group_gets_403,
    a_host_header_with_a_bad_port_never_widens_access,
    an_absolute_form_target_is_judged_by_the_host_the_proxy_routes_it_by,
    forged_forwarded_for_entries_do_not_dodge_the_sign_in_limit,
);

/// sealgate, the proxy in front of it and of the echo upstream, and a
/// browser that keeps cookies and does not follow redirects.
struct Stack {
    app: TestApp,
    proxy: RunningProxy,
    browser: Client,
}

async fn stack(proxy: Proxy) -> Stack {
    stack_with(proxy, |_| {}).await
}

async fn stack_with(proxy: Proxy, configure: impl FnOnce(&mut Settings)) -> Stack {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.server.public_url = format!("http://127.0.0.1:{port}");
        configure(s);
    })
    .await;
    let upstream = spawn_echo_upstream().await;
    let proxy = proxy.start(port, app.address.trim_start_matches("http://"), &upstream);
    Stack { app, proxy, browser: browser() }
}

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap()
}

/// `/public` for anyone, `admin.test` for admins only, `/admin` on
/// `127.0.0.1` (the host the tests reach the proxy by) for admins only too;
/// permissions for admins, so that `X-Auth-Permissions` is sent.
fn host_rules(s: &mut Settings) {
    use sealgate::config::{Access, RuleSettings};
    let rule = |hosts: &[&str], paths: &[&str], allow, groups: &[&str]| RuleSettings {
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        allow,
        ..RuleSettings::default()
    };
    s.policy.rules = vec![
        rule(&[], &["/public"], Access::Public, &[]),
        rule(&["admin.test"], &[], Access::Authenticated, &["admins"]),
        rule(&["127.0.0.1"], &["/admin"], Access::Authenticated, &["admins"]),
    ];
    s.policy.permissions = [("admins".to_owned(), vec!["read:orders".to_owned()])].into();
}

fn redirect_to_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().find(|(k, _)| k == "redirect_to").map(|(_, v)| v.into_owned()).unwrap()
}

/// The cookies of a response as one `Cookie` header.
fn cookie_header(response: &reqwest::Response) -> String {
    let pairs: Vec<String> =
        set_cookies(response.headers()).into_iter().map(|c| format!("{}={}", c.name, c.value)).collect();
    pairs.join("; ")
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

impl Stack {
    fn url(&self, path: &str) -> String {
        self.proxy.url(path)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.browser.get(self.url(path)).send().await.unwrap()
    }

    async fn sign_in(&self, redirect_to: &str) -> reqwest::Response {
        self.sign_in_as(ALICE, ALICE_PASSWORD, redirect_to).await
    }

    async fn sign_in_as(&self, username: &str, password: &str, redirect_to: &str) -> reqwest::Response {
        self.browser
            .post(self.url("/auth/signin/credentials"))
            .header("Origin", self.url(""))
            .form(&[("username", username), ("password", password), ("remember", "true"), ("redirect_to", redirect_to)])
            .send()
            .await
            .unwrap()
    }

    /// What the upstream saw, as JSON, after asserting the request got there.
    async fn seen(&self, response: reqwest::Response) -> serde_json::Value {
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{body}\n{}", self.proxy.log());
        serde_json::from_str(&body).unwrap()
    }
}

async fn anonymous_visitors_are_sent_to_sign_in_with_their_url_intact(proxy: Proxy) {
    let stack = stack(proxy).await;
    let response = stack
        .browser
        .get(stack.url("/app/page?x=1&y=a%20b"))
        .header("X-Auth-User", "admin")
        .header("X-Forwarded-Uri", "/somewhere/else")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "{}", stack.proxy.log());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&stack.url("/auth/signin?redirect_to=")), "{location}");
    assert_eq!(
        redirect_to_of(&location),
        stack.url("/app/page?x=1&y=a%20b"),
        "the proxy replaced the client's X-Forwarded-*"
    );

    let page = stack.browser.get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));

    // A POST to a protected path is sent to sign in too (the proxy asks with GET).
    let post = stack.browser.post(stack.url("/app/form")).form(&[("a", "b")]).send().await.unwrap();
    assert_eq!(post.status(), 302, "{}", stack.proxy.log());
    assert_eq!(redirect_to_of(post.headers()["location"].to_str().unwrap()), stack.url("/app/form"));
}

async fn after_sign_in_the_upstream_sees_who_it_is_and_after_sign_out_nobody(proxy: Proxy) {
    let stack = stack(proxy).await;
    let target = stack.url("/app/page?x=1&y=2");
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
        .post(stack.url("/auth/signout"))
        .header("Origin", stack.url(""))
        .form(&[("redirect_to", "/bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(signed_out.headers()["location"], "/bye");
    let again = stack.get("/app/page").await;
    assert_eq!(again.status(), 302, "anonymous again");
    assert_eq!(redirect_to_of(again.headers()["location"].to_str().unwrap()), stack.url("/app/page"));
}

async fn identity_headers_sealgate_does_not_send_do_not_reach_the_upstream(proxy: Proxy) {
    let stack = stack(proxy).await;
    // bob has no name and no groups: sealgate sends neither header.
    assert_eq!(stack.sign_in_as(BOB, BOB_PASSWORD, "/").await.status(), 303);
    let page = stack
        .browser
        .get(stack.url("/app"))
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

async fn no_forged_identity_header_reaches_the_upstream(proxy: Proxy) {
    let stack = stack_with(proxy, host_rules).await;
    let names = identity_header_names();

    // Anonymous, on a public path: the upstream gets no identity at all.
    let page = forged(stack.browser.get(stack.url("/public/page"))).send().await.unwrap();
    let seen = stack.seen(page).await;
    for name in &names {
        assert!(seen.get(name).is_none(), "{name} reached the upstream: {seen}");
    }

    // Signed in: what sealgate says, and nothing it did not say.
    stack.sign_in("/").await;
    let page = forged(stack.browser.get(stack.url("/app"))).send().await.unwrap();
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

async fn a_renewed_session_cookie_reaches_the_browser(proxy: Proxy) {
    let stack = stack(proxy).await;
    stack.sign_in("/app").await;
    let first = stack.get("/app").await;
    assert_eq!(first.status(), 200);
    assert!(set_cookies(first.headers()).is_empty());

    stack.app.clock.advance(4 * 24 * 3600); // past half of the 7-day idle lifetime
    let renewed = stack.get("/app").await;
    assert_eq!(renewed.status(), 200);
    let cookies = set_cookies(renewed.headers());
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies.iter().any(|c| c.name == "sealgate"), "the proxy passes the renewed cookie on: {cookies:?}");
    let session = stack.app.sessions.codec.open(&session_value(&cookies)).unwrap();
    assert_eq!(session.expires_at, sealgate::clock::Clock::now(&stack.app.clock) + 7 * 24 * 3600);
    assert_eq!(stack.seen(renewed).await["x-auth-user"], "alice");
}

async fn a_session_in_several_cookie_chunks_signs_in_and_passes_through(proxy: Proxy) {
    let stack = stack(proxy).await;
    let signed_in = stack.sign_in_as(CROWD, CROWD_PASSWORD, "/app").await;
    assert_eq!(signed_in.status(), 303, "{}", stack.proxy.log());
    let chunks = set_cookies(signed_in.headers());
    assert!(chunks.len() > 1, "crowd's session should need several chunks: {chunks:?}");

    let page = stack.get("/app").await;
    let seen = stack.seen(page).await;
    assert_eq!(seen["x-auth-user"], CROWD, "{seen}");
}

/// Caddy only, for now: nginx 1.22 (Debian bookworm's) keeps only the first
/// `Set-Cookie` of the auth response in `$upstream_http_set_cookie`, so
/// through `examples/nginx` a renewed session in several chunks reaches the
/// browser as its first chunk alone (this story, run through nginx, sees
/// `["sealgate_1"]` of three). Add nginx here once its example passes it on.
mod caddy_only {
    #[tokio::test]
    async fn a_renewed_session_in_several_cookie_chunks_reaches_the_browser_whole() {
        super::a_renewed_session_in_several_cookie_chunks_reaches_the_browser_whole(super::Proxy::Caddy).await
    }
}

async fn a_renewed_session_in_several_cookie_chunks_reaches_the_browser_whole(proxy: Proxy) {
    let stack = stack(proxy).await;
    let signed_in = stack.sign_in_as(CROWD, CROWD_PASSWORD, "/app").await;
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

async fn a_signed_in_user_outside_the_group_gets_403(proxy: Proxy) {
    let stack = stack_with(proxy, host_rules).await;
    assert_eq!(stack.sign_in_as(BOB, BOB_PASSWORD, "/").await.status(), 303);
    assert_eq!(stack.get("/admin/panel").await.status(), 403, "{}", stack.proxy.log());
    assert_eq!(stack.get("/%61dmin/panel").await.status(), 403, "encoding does not slip past");
    let home = stack.get("/home").await;
    assert_eq!(stack.seen(home).await["x-auth-user"], "bob");
}

async fn a_host_header_with_a_bad_port_never_widens_access(proxy: Proxy) {
    let stack = stack_with(proxy, host_rules).await;
    let cookie = cookie_header(&stack.sign_in_as(BOB, BOB_PASSWORD, "/").await);
    let port = stack.proxy.port;
    let (status, _) =
        raw_http(port, "GET /admin HTTP/1.1", &[("Host", &format!("127.0.0.1:{port}")), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403, "bob is not an admin\n{}", stack.proxy.log());
    let (status, _) = raw_http(port, "GET /home HTTP/1.1", &[("Host", "127.0.0.1"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200);
    for host in ["127.0.0.1:abc", "127.0.0.1:443.", "127.0.0.1:80:80", "127.0.0.1:+443", "127.0.0.1:-1", "127.0.0.1:"] {
        let (status, body) = raw_http(port, "GET /admin HTTP/1.1", &[("Host", host), ("Cookie", &cookie)]).await;
        // nginx may refuse the Host itself (400); Caddy may refuse it, or
        // route it to no site (an empty 200). The upstream must never see bob there.
        assert!(!body.contains("\"upstream\""), "Host: {host} gave {status}: {body}\n{}", stack.proxy.log());
        assert_ne!(status, 302, "Host: {host}");
        if proxy == Proxy::Nginx {
            assert!(status == 403 || status == 400, "Host: {host} gave {status}: {body}\n{}", stack.proxy.log());
        }
    }

    // An absolute-form target: the proxy routes by the request line's host,
    // not the Host header's. Caddy forwards it as it is (Go's Request.Host);
    // nginx forwards its $host, which keeps a port only from the Host header.
    let line = format!("GET http://127.0.0.1:{port}/home HTTP/1.1");
    let (status, body) = raw_http(port, &line, &[("Host", "admin.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}\n{}", stack.proxy.log());
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    let forwarded_host = match proxy {
        Proxy::Caddy => format!("127.0.0.1:{port}"),
        Proxy::Nginx => "127.0.0.1".to_owned(),
    };
    assert_eq!(seen["host"], forwarded_host, "{seen}");
    assert_eq!(seen["x-auth-user"], "bob");
}

async fn an_absolute_form_target_is_judged_by_the_host_the_proxy_routes_it_by(proxy: Proxy) {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.server.public_url = format!("http://127.0.0.1:{port}");
        host_rules(s);
    })
    .await;
    let (app_upstream, admin_upstream) = (spawn_echo_upstream().await, spawn_echo_upstream().await);
    let proxy = proxy.start_with_hosts(
        port,
        app.address.trim_start_matches("http://"),
        // 127.0.0.1 (the URL the sign-in is posted to) first: nginx's default server.
        &[("127.0.0.1", &app_upstream), ("app.test", &app_upstream), ("admin.test", &admin_upstream)],
    );
    let signed_in = Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .post(proxy.url("/auth/signin/credentials"))
        .header("Origin", proxy.url(""))
        .form(&[("username", BOB), ("password", BOB_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{}", proxy.log());
    let cookie = cookie_header(&signed_in);

    // Each host as itself: bob may use app.test, not admin.test.
    let (status, body) = raw_http(port, "GET /page HTTP/1.1", &[("Host", "app.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}\n{}", proxy.log());
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["upstream"], app_upstream.as_str());
    assert_eq!(seen["x-auth-user"], "bob");
    let (status, _) = raw_http(port, "GET /page HTTP/1.1", &[("Host", "admin.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403);

    // The proxy routes an absolute-form request by the request line's host;
    // sealgate must judge that host, not the Host header's.
    let (status, body) =
        raw_http(port, "GET http://admin.test/page HTTP/1.1", &[("Host", "app.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 403, "bob reached admin.test's upstream: {body}\n{}", proxy.log());
    let (status, body) =
        raw_http(port, "GET http://app.test/page HTTP/1.1", &[("Host", "admin.test"), ("Cookie", &cookie)]).await;
    assert_eq!(status, 200, "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["upstream"], app_upstream.as_str(), "routed by the request line");
    assert_eq!(seen["host"], "app.test", "and the upstream is told that host too");
}

async fn forged_forwarded_for_entries_do_not_dodge_the_sign_in_limit(proxy: Proxy) {
    let stack = stack_with(proxy, |s| s.credentials.max_failures_per_client = 3).await;
    let mut statuses = Vec::new();
    for attempt in 0..5 {
        // Another username each time (so the per-user limit stays out of
        // it), another forged address each time, and junk after it that
        // used to stop sealgate reading before the proxy's own entry.
        let response = stack
            .browser
            .post(stack.url("/auth/signin/credentials"))
            .header("Origin", stack.url(""))
            .header("X-Forwarded-For", format!("198.51.100.{attempt}, x"))
            .form(&[("username", format!("guess{attempt}").as_str()), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [303, 303, 303, 429, 429], "the client is the proxy's peer, whatever it wrote");
}
