//! `X-Auth-Assertion` and `/.well-known/jwks.json`: an upstream verifies who
//! is asking from the signed assertion, against the published keys, without
//! trusting any header; configured identity headers; and, behind real nginx
//! running the example config, the example upstream
//! (`examples/upstream/verify_assertion.mjs`, Node `jose`).

use crate::helpers::{header, set_cookies, spawn_app_with, TestApp, ALICE, ALICE_PASSWORD};
use crate::support::network::free_port;
use crate::support::proxy::Proxy;
use crate::support::require::{require, Tool};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsVerifier, ES256};
use reqwest::redirect::Policy;
use sealgate::clock::Clock;
use sealgate::config::Settings;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn assertions_on(s: &mut Settings) {
    s.assertion.enabled = true;
}

/// The published keys, after checking how they are served.
async fn jwks(app: &TestApp) -> Vec<Map<String, Value>> {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("public, max-age=300"));
    assert_eq!(header(&response, "content-type"), Some("application/jwk-set+json"));
    let set: Value = response.json().await.unwrap();
    set["keys"].as_array().unwrap().iter().map(|k| k.as_object().unwrap().clone()).collect()
}

/// The claims of `token`, its signature checked with the published key its `kid` names.
async fn verified(app: &TestApp, token: &str) -> Map<String, Value> {
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["typ"], "sealgate-assertion+jwt");
    let key = jwks(app).await.into_iter().find(|k| k["kid"] == header["kid"]).expect("the kid is published");
    let jwk = Jwk::from_map(key.clone()).unwrap();
    let verifier: Box<dyn JwsVerifier> = match key["alg"].as_str().unwrap() {
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).unwrap()),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier.as_ref()).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

async fn verify_with(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let request = headers.iter().fold(app.client.get(app.url("/auth/verify")), |r, (n, v)| r.header(*n, *v));
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_signed_in_request_carries_an_assertion_the_published_keys_verify() {
    let app = spawn_app_with(|s| {
        assertions_on(s);
        s.assertion.audience = Some("https://app.example.com".into());
    })
    .await;
    let signed_in = app.sign_in_as_alice().await;
    let cookie = set_cookies(signed_in.headers()).into_iter().find(|c| c.name == app.cookie_name()).unwrap();
    let response = app.verify().await;
    assert_eq!(response.status(), 200);
    let token = header(&response, "x-auth-assertion").expect("an assertion").to_owned();
    let claims = verified(&app, &token).await;
    assert_eq!(claims["iss"], app.settings.server.public_url.trim_end_matches('/'));
    assert_eq!(claims["aud"], "https://app.example.com");
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["groups"], serde_json::json!(["admins", "staff"]));
    assert_eq!(claims["provider"], "credentials");
    assert_eq!(claims["source"], "cookie");
    let now = app.clock.now();
    assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(now), Some(now + 60)));
    // The session id is never in it, only its hash.
    let sid = app.sessions.codec.open(&cookie.value).unwrap().id;
    assert_eq!(claims["sid_hash"], URL_SAFE_NO_PAD.encode(Sha256::digest(sid.as_bytes())));
    assert!(!token.contains(&sid) && !claims.values().any(|v| v == sid.as_str()));

    let keys = jwks(&app).await;
    assert_eq!(keys.len(), 1);
    for key in &keys {
        assert!(!key.contains_key("d"), "no private member is published: {key:?}");
        assert_eq!(key["use"], "sig");
    }
}

#[tokio::test]
async fn the_same_assertion_is_reused_until_the_clock_passes_its_refresh_point() {
    let app = spawn_app_with(assertions_on).await;
    app.sign_in_as_alice().await;
    let host = [("X-Forwarded-Host", "app.example.com")];
    let first = header(&verify_with(&app, &host).await, "x-auth-assertion").unwrap().to_owned();
    app.clock.advance(44);
    let again = header(&verify_with(&app, &host).await, "x-auth-assertion").unwrap().to_owned();
    assert_eq!(again, first, "not signed again before the refresh point");
    app.clock.advance(2);
    let fresh = header(&verify_with(&app, &host).await, "x-auth-assertion").unwrap().to_owned();
    assert_ne!(fresh, first);
    let (old, new) = (verified(&app, &first).await, verified(&app, &fresh).await);
    assert_eq!(new["iat"].as_i64().unwrap(), old["iat"].as_i64().unwrap() + 46);
    assert_eq!(new["exp"].as_i64().unwrap(), new["iat"].as_i64().unwrap() + 60);
}

#[tokio::test]
async fn the_audience_is_the_forwarded_host_and_one_that_does_not_parse_gets_no_assertion() {
    let app = spawn_app_with(assertions_on).await;
    app.sign_in_as_alice().await;
    let response = verify_with(&app, &[("X-Forwarded-Host", "App.Example.com:8443")]).await;
    let claims = verified(&app, header(&response, "x-auth-assertion").unwrap()).await;
    assert_eq!(claims["aud"], "app.example.com:8443");
    for bad in ["app.example.com:abc", "bad host", "%61pp.example.com", "a.example.com:99999"] {
        let response = verify_with(&app, &[("X-Forwarded-Host", bad)]).await;
        assert_eq!(response.status(), 200, "{bad}: the identity headers still pass");
        assert_eq!(header(&response, "x-auth-user"), Some(ALICE));
        assert!(header(&response, "x-auth-assertion").is_none(), "{bad}: no assertion for a made-up audience");
    }
    let none = verify_with(&app, &[]).await;
    assert!(header(&none, "x-auth-assertion").is_none(), "no forwarded host, no assertion");
    let several = verify_with(&app, &[("X-Forwarded-Host", "a.example.com"), ("X-Forwarded-Host", "b.example.com")]);
    assert!(header(&several.await, "x-auth-assertion").is_none(), "several forwarded hosts, no assertion");
}

#[tokio::test]
async fn a_forwarded_host_from_an_untrusted_peer_gets_no_assertion() {
    let app = spawn_app_with(|s| {
        assertions_on(s);
        s.server.trusted_proxies = Vec::new();
    })
    .await;
    app.sign_in_as_alice().await;
    let response = verify_with(&app, &[("X-Forwarded-Host", "app.example.com")]).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "x-auth-assertion").is_none());
}

#[tokio::test]
async fn without_assertions_there_is_neither_an_assertion_nor_a_key_set() {
    let app = spawn_app_with(|_| {}).await;
    app.sign_in_as_alice().await;
    let response = verify_with(&app, &[("X-Forwarded-Host", "app.example.com")]).await;
    assert!(header(&response, "x-auth-assertion").is_none());
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), 404);
}

#[tokio::test]
async fn configured_headers_carry_their_claims_next_to_the_defaults() {
    let app = spawn_app_with(|s| {
        s.headers = [("X-User".to_owned(), "email".to_owned()), ("X-Auth-Name".to_owned(), String::new())].into();
    })
    .await;
    app.sign_in_as_alice().await;
    let response = app.verify().await;
    assert_eq!(header(&response, "x-user"), Some("alice@example.com"));
    assert_eq!(header(&response, "x-auth-user"), Some(ALICE));
    assert!(header(&response, "x-auth-name").is_none(), "turned off");
}

/// The example upstream, run with Node from a directory whose
/// `node_modules` is the test IdP's (which holds `jose`).
struct ExampleUpstream {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for ExampleUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_upstream(jwks_url: &str, issuer: &str, audience: &str) -> ExampleUpstream {
    let node = require(Tool::Node);
    let modules = require(Tool::TestIdp).parent().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::copy(format!("{root}/examples/upstream/verify_assertion.mjs"), dir.path().join("verify_assertion.mjs"))
        .unwrap();
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    let mut child = Command::new(node)
        .arg(dir.path().join("verify_assertion.mjs"))
        .env("SEALGATE_JWKS_URL", jwks_url)
        .env("SEALGATE_ISSUER", issuer)
        .env("APP_AUDIENCE", audience)
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("READY ").unwrap_or_else(|| panic!("the example upstream said {line:?}"));
    ExampleUpstream { address: format!("127.0.0.1:{port}"), child, _dir: dir }
}

#[tokio::test]
async fn behind_nginx_the_example_upstream_believes_only_a_valid_assertion() {
    let port = free_port();
    let proxy_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(|s| {
        s.server.public_url = proxy_url.clone();
        assertions_on(s);
        s.headers = [("X-User".to_owned(), "email".to_owned())].into();
    })
    .await;
    let upstream = example_upstream(
        &app.url("/.well-known/jwks.json"),
        &proxy_url,
        // The audience: the host nginx forwards (`$sealgate_host`).
        &format!("127.0.0.1:{port}"),
    );
    let proxy = Proxy::Nginx.start(port, app.address.trim_start_matches("http://"), &upstream.address);
    let browser = reqwest::Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap();

    // No session: sent to sign in, the upstream never asked.
    let anonymous = browser.get(proxy.url("/app")).send().await.unwrap();
    assert_eq!(anonymous.status(), 302, "{}", proxy.log());

    let signed_in = browser
        .post(proxy.url("/auth/signin/credentials"))
        .header("Origin", &proxy_url)
        .form(&[("username", ALICE), ("password", ALICE_PASSWORD), ("redirect_to", "/app")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{}", proxy.log());

    // Signed in, with a forged assertion: nginx replaces it with sealgate's.
    let forged = forged_assertion();
    let response = browser.get(proxy.url("/app")).header("X-Auth-Assertion", &forged).send().await.unwrap();
    let status = response.status();
    let seen: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{seen}\n{}", proxy.log());
    assert_eq!(seen["claims"]["sub"], ALICE);
    assert_eq!(seen["claims"]["aud"], format!("127.0.0.1:{port}"));
    assert_eq!(seen["x-user"], "alice@example.com", "the custom header is forwarded");

    // Around the proxy, straight to the upstream: a forged assertion is refused.
    let direct = reqwest::Client::new();
    let around = direct.get(format!("http://{}/app", upstream.address)).header("X-Auth-Assertion", &forged);
    let refused = around.send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let no_header = direct.get(format!("http://{}/app", upstream.address)).header("X-Auth-User", ALICE);
    assert_eq!(no_header.send().await.unwrap().status(), 401, "headers alone are not believed");

    // An assertion for another audience is refused too.
    let other = app.client.get(app.url("/auth/verify")).header("X-Forwarded-Host", "other.example.com");
    let other = header(&other.send().await.unwrap(), "x-auth-assertion").map(str::to_owned);
    if let Some(other) = other {
        let refused = direct.get(format!("http://{}/app", upstream.address)).header("X-Auth-Assertion", other);
        assert_eq!(refused.send().await.unwrap().status(), 401);
    }
}

/// An assertion sealgate did not sign: a fresh ES256 key of the forger's own.
fn forged_assertion() -> String {
    let pair = ES256.generate_key_pair().unwrap();
    let signer = ES256.signer_from_der(pair.to_der_private_key()).unwrap();
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("sealgate-assertion+jwt");
    let payload = serde_json::json!({"sub": "admin", "aud": "anything", "exp": 4_000_000_000_i64});
    josekit::jws::serialize_compact(payload.to_string().as_bytes(), &header, &signer).unwrap()
}

/// `sealgate assertion-keys ...` as an operator runs it.
fn assertion_keys(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("assertion-keys")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SEALGATE__KEYS__PATH", dir.join("keys.json"))
        .env_remove("SEALGATE_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn assertion_keys_are_generated_rotated_in_stages_and_retired_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = assertion_keys(dir.path(), &["generate"]);
    assert!(ok, "{said}");
    let path = dir.path().join("assertion.jwks.json");
    let first = sealgate::assertion::keys::read(&path).unwrap().unwrap().current().kid().to_owned();
    let (ok, said) = assertion_keys(dir.path(), &["generate", "--next", "--alg", "EdDSA"]);
    assert!(ok && said.contains("as the next key"), "{said}");
    let keys = sealgate::assertion::keys::read(&path).unwrap().unwrap();
    assert_eq!(keys.current().kid(), first, "a next key does not sign");
    let next = keys.iter().find(|k| k.kid() != first).unwrap().kid().to_owned();
    let (_, listed) = assertion_keys(dir.path(), &["list"]);
    assert!(listed.contains(&format!("{next:<34} EdDSA   next")), "{listed}");
    assert!(!listed.contains("\"d\""), "{listed}");
    assert!(!assertion_keys(dir.path(), &["retire", &first]).0, "the current key is not retired");
    assert!(assertion_keys(dir.path(), &["activate", &next]).0);
    assert!(assertion_keys(dir.path(), &["retire", &first]).0);
    let keys = sealgate::assertion::keys::read(&path).unwrap().unwrap();
    assert_eq!((keys.current().kid(), keys.iter().count()), (next.as_str(), 1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test]
async fn production_refuses_to_start_without_assertion_keys() {
    let dir = std::sync::Arc::new(crate::helpers::new_dir());
    let mut settings = crate::helpers::test_settings(&dir);
    settings.assertion.enabled = true;
    settings.mode = sealgate::config::Mode::Production;
    let error = sealgate::assemble::Gateway::assemble(
        settings,
        std::sync::Arc::new(sealgate::clock::ManualClock::at(1_796_000_000)),
        sealgate::assemble::KeyInit::CreateInDevelopment,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(error.contains("no assertion keys at"), "{error}");
}
