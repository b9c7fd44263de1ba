//! Sign out everywhere: an operator revokes every session of one user, with
//! `sealgate sessions revoke --user ID` (the real binary, against the
//! running gateways' store) or through the admin API
//! (`POST /auth/admin/users/{id}/revoke`, for an API token with the
//! `sealgate:admin` scope and nothing else). Cookies copied before then are
//! refused on every replica; other users stay signed in.

use crate::helpers::{
    client, header, on_redis, spawn_in, test_settings, Spawn, TestApp, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD,
};
use crate::support::redis_server::RedisServer;
use sealgate::config::store::StoreKind;
use sealgate::identity::User;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `sealgate sessions revoke --user USER`, run as an operator would on the
/// machine of the gateway whose files are in `dir`, with `store` as the
/// `SEALGATE__STORE__*` environment.
fn sessions_revoke(dir: &Path, user: &str, store: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command
        .args(["sessions", "revoke", "--user", user])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.join("keys.json"))
        .env("SEALGATE__CREDENTIALS__USERS_FILE", dir.join("users.toml"))
        .env_remove("SEALGATE_CONFIG")
        .env_remove("RUST_LOG");
    for (name, value) in store {
        command.env(format!("SEALGATE__STORE__{name}"), value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Until every cookie of `cookies` gets 401 from `app`; how long that took.
async fn refused_within(app: &TestApp, cookies: &[&str], limit: Duration) -> Duration {
    let started = Instant::now();
    for cookie in cookies {
        while app.verify_cookie(cookie).await != 401 {
            assert!(started.elapsed() < limit, "a revoked session still works after {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn the_cli_signs_a_user_out_everywhere_on_redis() {
    let redis = RedisServer::start();
    let first = Spawn::new().configure(|s| on_redis(s, &redis)).run().await;
    let mut settings = test_settings(&first._dir);
    on_redis(&mut settings, &redis);
    let second = spawn_in(first._dir.clone(), settings, first.clock.clone()).await;
    first.wait_for_store(None).await;
    second.wait_for_store(None).await;
    let laptop = first.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let phone = second.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let bob = first.signed_in_cookie(BOB, BOB_PASSWORD).await;
    for cookie in [&laptop, &phone, &bob] {
        assert_eq!(second.verify_cookie(cookie).await, 200);
    }

    let output = sessions_revoke(first._dir.path(), ALICE, &[("KIND", "redis".into()), ("URL", redis.url())]);

    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(said.contains("removed 2 session record(s) of user alice"), "{said}");
    assert!(said.contains("revocation mark set"), "{said}");
    let took = refused_within(&second, &[&laptop, &phone], Duration::from_secs(1)).await;
    eprintln!("the CLI's revocation reached a running replica in {took:?}");
    assert_eq!(first.verify_cookie(&laptop).await, 401);
    assert_eq!(first.verify_cookie(&bob).await, 200, "bob is not signed out");
    assert_eq!(second.verify_cookie(&bob).await, 200);
}

#[tokio::test]
async fn the_cli_signs_a_user_out_everywhere_on_the_local_store_within_a_poll_interval() {
    let poll = Duration::from_millis(300);
    let app = Spawn::new().configure(|s| s.store.poll_interval = poll).run().await;
    app.wait_for_store(None).await;
    let laptop = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let phone = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let bob = app.signed_in_cookie(BOB, BOB_PASSWORD).await;
    assert_eq!(app.verify_cookie(&laptop).await, 200);

    let store_file = app._dir.path().join("sealgate.db").display().to_string();
    let output = sessions_revoke(app._dir.path(), ALICE, &[("PATH", store_file)]);

    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(said.contains("removed 2 session record(s) of user alice"), "{said}");
    assert!(said.contains("within store.poll_interval"), "{said}");
    // The gateway reads what another process wrote at its next poll: one
    // interval at most, and the read itself.
    let took = refused_within(&app, &[&laptop, &phone], poll + Duration::from_millis(200)).await;
    eprintln!("the CLI's revocation reached the gateway in {took:?} (poll_interval {poll:?})");
    assert_eq!(app.verify_cookie(&bob).await, 200, "bob is not signed out");

    // Her records are gone; a sign-in after the mark is a new session.
    app.clock.set(chrono::Utc::now().timestamp() + 2);
    let again = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    assert_eq!(app.verify_cookie(&again).await, 200, "signing in again works");
    let listed = client()
        .get(app.url("/auth/sessions"))
        .header("Cookie", &again)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test]
async fn the_cli_refuses_without_a_store_or_when_the_store_cannot_be_reached() {
    let dir = crate::helpers::new_dir();

    let off = sessions_revoke(dir.path(), ALICE, &[("KIND", "none".into())]);
    assert!(!off.status.success());
    assert!(text(&off.stderr).contains("store.kind is \"none\""), "{}", text(&off.stderr));

    let mut redis = RedisServer::start_with(Some("s3cret-pass"));
    let url = redis.url();
    redis.kill();
    let started = Instant::now();
    let down =
        sessions_revoke(dir.path(), ALICE, &[("KIND", "redis".into()), ("URL", url), ("TIMEOUT", "300ms".into())]);
    assert!(!down.status.success());
    let said = text(&down.stderr);
    assert!(said.contains("could not revoke the sessions"), "{said}");
    assert!(!said.contains("s3cret-pass"), "the password leaked: {said}");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by store.timeout");

    let bad = sessions_revoke(dir.path(), "ali\nce", &[]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("--user"), "{}", text(&bad.stderr));
}

/// An API token for `ops` with `scopes`, as `sealgate token mint` makes one.
fn api_token(app: &TestApp, scopes: &[&str]) -> String {
    let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    app.sessions.api_tokens.mint(User::new("ops"), "ops-tool", scopes, 600).unwrap().0
}

fn revoke_url(app: &TestApp, user: &str) -> String {
    app.url(&format!("/auth/admin/users/{user}/revoke"))
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_admin_token_signs_a_user_out_everywhere_through_the_api() {
    let redis = RedisServer::start();
    let first = Spawn::new().configure(|s| on_redis(s, &redis)).run().await;
    let mut settings = test_settings(&first._dir);
    on_redis(&mut settings, &redis);
    let second = spawn_in(first._dir.clone(), settings, first.clock.clone()).await;
    first.wait_for_store(None).await;
    second.wait_for_store(None).await;
    let laptop = first.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let phone = second.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let bob = first.signed_in_cookie(BOB, BOB_PASSWORD).await;

    let response = reqwest::Client::new()
        .post(revoke_url(&first, ALICE))
        .bearer_auth(api_token(&first, &["read", "sealgate:admin"]))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"user": "alice", "sessions_removed": 2}));
    assert_eq!(first.verify_cookie(&laptop).await, 401, "at once on the replica that was asked");
    refused_within(&second, &[&laptop, &phone], Duration::from_secs(1)).await;
    assert_eq!(first.verify_cookie(&bob).await, 200, "bob is not signed out");

    // Again: nothing left to remove, and the answer says so.
    let again = reqwest::Client::new()
        .post(revoke_url(&second, ALICE))
        .bearer_auth(api_token(&second, &["sealgate:admin"]))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(again).await, (200, json!({"user": "alice", "sessions_removed": 0})));
}

/// An OpenID provider whose introspection endpoint says every token is
/// active with the scope `sealgate:admin`: a provider's scope, not ours.
async fn generous_provider() -> MockServer {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "introspection_endpoint": format!("{issuer}/introspect"),
        })))
        .mount(&server)
        .await;
    let mut key = josekit::jws::ES256.generate_key_pair().unwrap().to_jwk_public_key();
    key.set_key_id("k1");
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [Value::Object(key.as_ref().clone())]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "active": true, "sub": "svc-admin", "scope": "sealgate:admin", "iss": issuer, "token_type": "Bearer",
            "exp": chrono::Utc::now().timestamp() + 600,
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_admin_api_refuses_anyone_without_an_admin_api_token() {
    let provider = generous_provider().await;
    let app = Spawn::new()
        .configure(|s| {
            let mut corp = crate::support::idp::oidc_provider(&provider.uri());
            corp.bearer.introspection = true;
            s.providers.insert("corp".into(), corp);
        })
        .ready()
        .run()
        .await;
    let alice = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    let bob = app.signed_in_cookie(BOB, BOB_PASSWORD).await;
    let post = || reqwest::Client::new().post(revoke_url(&app, ALICE));
    let introspected =
        reqwest::Client::new().get(app.url("/auth/verify")).bearer_auth("opaque-provider-token").send().await.unwrap();
    assert_eq!(header(&introspected, "x-auth-source"), Some("introspection"), "the provider's token is valid");

    let anonymous = post().send().await.unwrap();
    assert_eq!(header(&anonymous, "www-authenticate"), Some(sealgate::errors::CHALLENGE));
    assert_eq!(error_of(anonymous).await, (401, json!({"error": "unauthenticated"})));
    let forbidden = json!({"error": "admin_scope_required"});
    let refusals = [
        ("a session cookie", post().header("Cookie", &bob)),
        ("a session cookie from our own origin", post().header("Cookie", &bob).header("Origin", "http://gate.test")),
        ("an API token without the scope", post().bearer_auth(api_token(&app, &["read", "sealgate:adminx"]))),
        ("a provider's token with a scope of that name", post().bearer_auth("opaque-provider-token")),
    ];
    for (who, request) in refusals {
        assert_eq!(error_of(request.send().await.unwrap()).await, (403, forbidden.clone()), "{who}");
    }
    let (status, _) = error_of(post().bearer_auth("not.a.sealgate.api.token").send().await.unwrap()).await;
    assert_eq!(status, 401, "a token that does not open");
    let admin = api_token(&app, &["sealgate:admin"]);
    let with_a_cookie_too = post().header("Cookie", &bob).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(with_a_cookie_too.status(), 200, "the Bearer token decides, not the cookie");
    assert_eq!(app.verify_cookie(&bob).await, 200, "the cookie's owner is not the one signed out");
    assert_eq!(app.verify_cookie(&alice).await, 401);

    // Bad input is a 4xx with a code; no store is a 404.
    let control = reqwest::Client::new().post(app.url("/auth/admin/users/ali%0Ace/revoke")).bearer_auth(&admin);
    assert_eq!(error_of(control.send().await.unwrap()).await, (400, json!({"error": "invalid_user"})));
    let long = reqwest::Client::new().post(revoke_url(&app, &"a".repeat(600))).bearer_auth(&admin);
    assert_eq!(error_of(long.send().await.unwrap()).await.0, 400);
    let get = reqwest::Client::new().get(revoke_url(&app, ALICE)).bearer_auth(&admin).send().await.unwrap();
    assert!(get.status().is_client_error(), "{}", get.status());

    let off = Spawn::new().configure(|s| s.store.kind = StoreKind::None).run().await;
    let refused =
        reqwest::Client::new().post(revoke_url(&off, ALICE)).bearer_auth(api_token(&off, &["sealgate:admin"]));
    assert_eq!(error_of(refused.send().await.unwrap()).await, (404, json!({"error": "sessions_unavailable"})));
}

#[tokio::test]
async fn a_session_cannot_mint_itself_an_admin_token() {
    let app = Spawn::new().run().await;
    let alice = app.signed_in_cookie(ALICE, ALICE_PASSWORD).await;
    for scopes in [json!(["sealgate:admin"]), json!(["read", "SEALGATE:admin"]), json!(["sealgate:anything"])] {
        let response = client()
            .post(app.url("/auth/tokens"))
            .header("Cookie", &alice)
            .json(&json!({"name": "escalate", "scopes": scopes}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await, (403, json!({"error": "scope_not_allowed"})), "{scopes}");
    }
    let ordinary = client()
        .post(app.url("/auth/tokens"))
        .header("Cookie", &alice)
        .json(&json!({"name": "ci", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ordinary.status(), 201, "other scopes are the person's to mint");
}
