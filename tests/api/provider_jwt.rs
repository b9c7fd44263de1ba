//! Provider JWTs as `Authorization: Bearer`, against an issuer we control
//! (a wiremock server publishing discovery and a JWKS that the tests can
//! rotate), so key rotation, unknown kids and every claim can be forced.
//! The same paths against the real test IdP are in `idp_bearer.rs`.

use crate::helpers::wait_ready;
use crate::helpers::{header, new_dir, spawn_in, test_settings, TestApp, ALICE, ALICE_PASSWORD};
use crate::support::bearer::{assert_refused, b64, verify, INVALID_TOKEN};
use crate::support::idp::oidc_provider;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsSigner, ES256, HS256, RS256};
use josekit::jwt::{self, JwtPayload};
use sealgate::clock::ManualClock;
use sealgate::config::{Access, RuleSettings, Settings};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const AUDIENCE: &str = "orders-api";
const NOW: i64 = 1_900_000_000;

/// What the fake issuer's JWKS endpoint answers right now.
#[derive(Clone)]
enum JwksAnswer {
    Keys(Value),
    /// 503, as a provider that is down behind its load balancer.
    Unavailable,
    /// Nothing for a minute, as a stuck provider (sealgate times out first).
    Hanging,
}

#[derive(Clone)]
struct Published(Arc<Mutex<JwksAnswer>>);

impl Respond for Published {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        match self.0.lock().unwrap().clone() {
            JwksAnswer::Keys(jwks) => ResponseTemplate::new(200).set_body_json(jwks),
            JwksAnswer::Unavailable => ResponseTemplate::new(503),
            JwksAnswer::Hanging => ResponseTemplate::new(200).set_delay(Duration::from_secs(60)),
        }
    }
}

struct SigningKey {
    kid: String,
    alg: &'static str,
    public: Jwk,
    signer: Box<dyn JwsSigner>,
}

impl SigningKey {
    fn es256(kid: &str) -> SigningKey {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        public.set_key_use("sig");
        SigningKey {
            kid: kid.into(),
            alg: "ES256",
            public,
            signer: Box::new(ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap()),
        }
    }

    fn rs256(kid: &str) -> SigningKey {
        let pair = RS256.generate_key_pair(2048).unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        public.set_algorithm("RS256");
        SigningKey {
            kid: kid.into(),
            alg: "RS256",
            public,
            signer: Box::new(RS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap()),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Sign any claims JSON, bypassing josekit's claim checks.
    fn sign_raw(&self, claims: &Value) -> String {
        let input = format!("{}.{}", b64(&json!({"alg": self.alg, "kid": self.kid})), b64(claims));
        let signature = self.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(kid);
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&payload, &header, self.signer.as_ref()).unwrap()
    }
}

struct FakeIssuer {
    server: MockServer,
    published: Published,
}

impl FakeIssuer {
    async fn start(keys: &[&SigningKey]) -> FakeIssuer {
        let server = MockServer::start().await;
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            })))
            .mount(&server)
            .await;
        let published = Published(Arc::new(Mutex::new(JwksAnswer::Unavailable)));
        Mock::given(method("GET")).and(path("/jwks")).respond_with(published.clone()).mount(&server).await;
        let fake = FakeIssuer { server, published };
        fake.publish(keys);
        fake
    }

    fn publish(&self, keys: &[&SigningKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| Value::Object(k.public.as_ref().clone())).collect();
        self.answer(JwksAnswer::Keys(json!({ "keys": keys })));
    }

    fn answer(&self, answer: JwksAnswer) {
        *self.published.0.lock().unwrap() = answer;
    }

    fn issuer(&self) -> String {
        self.server.uri()
    }

    async fn jwks_requests(&self) -> usize {
        self.server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/jwks").count()
    }

    /// Claims of a valid access token for `sub`, issued at `NOW`.
    fn claims(&self, sub: &str) -> Value {
        json!({
            "iss": self.issuer(),
            "sub": sub,
            "aud": AUDIENCE,
            "iat": NOW,
            "exp": NOW + 300,
            "scope": "orders:read orders:write",
            "email": format!("{sub}@example.com"),
            "groups": ["buyers"],
        })
    }
}

async fn spawn_for(fake: &FakeIssuer, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    let mut provider = oidc_provider(&fake.issuer());
    provider.bearer.jwt = true;
    provider.bearer.audiences = vec![AUDIENCE.into()];
    settings.providers.insert("corp".into(), provider);
    configure(&mut settings);
    let app = spawn_in(dir, settings, ManualClock::at(NOW)).await;
    // Discovery runs in the background; a token seen before it is done is refused.
    wait_ready(&app).await;
    app
}

fn segments(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn a_jwt_from_a_configured_issuer_is_an_identity_with_its_source() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let app = spawn_for(&fake, |_| {}).await;
    let token = key.sign(&fake.claims("svc-42"));

    let verified = verify(&app, &token).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(header(&verified, "x-auth-user"), Some("svc-42"));
    assert_eq!(header(&verified, "x-auth-email"), Some("svc-42@example.com"));
    assert_eq!(header(&verified, "x-auth-groups"), Some("buyers"));
    assert_eq!(header(&verified, "x-auth-provider"), Some("corp"));
    assert_eq!(header(&verified, "x-auth-source"), Some("provider_jwt"));

    let session: Value = reqwest::Client::new()
        .get(app.url("/auth/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["authenticated"], true);
    assert_eq!(session["source"], "provider_jwt");
    assert_eq!(session["user"]["id"], "svc-42");
    let expires_at = chrono::DateTime::from_timestamp(NOW + 300, 0).unwrap().to_rfc3339();
    assert_eq!(session["expires_at"], expires_at.as_str());

    // Verified once: the second request is served from the opened-token cache
    // (one JWKS fetch at discovery, one for the first token, none after).
    let before = fake.jwks_requests().await;
    for _ in 0..5 {
        assert_eq!(verify(&app, &token).await.status(), 200);
    }
    assert_eq!(fake.jwks_requests().await, before);
}

#[tokio::test]
async fn only_access_tokens_are_credentials_unless_the_provider_accepts_id_tokens() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let with = |claims: &[(&str, Value)]| {
        let mut token = fake.claims("svc");
        for (name, value) in claims {
            token[*name] = value.clone();
        }
        key.sign(&token)
    };
    // Every mark of an ID token, each on its own, signed by the issuer for our audience.
    let id_tokens = [
        with(&[("nonce", json!("n-1"))]),
        with(&[("at_hash", json!("x1"))]),
        with(&[("c_hash", json!("x2"))]),
        with(&[("typ", json!("ID"))]), // Keycloak
    ];
    // Refresh tokens in JWT form (Keycloak: `typ` Refresh / Offline; Ory: `token_use`).
    let refresh_tokens = [
        with(&[("typ", json!("Refresh"))]),
        with(&[("typ", json!("Offline"))]),
        with(&[("token_use", json!("refresh_token"))]),
    ];
    let access = with(&[]);
    let keycloak_access = with(&[("typ", json!("Bearer")), ("nonce", json!("n-2"))]);

    let app = spawn_for(&fake, |_| {}).await;
    assert_eq!(verify(&app, &access).await.status(), 200);
    assert_eq!(verify(&app, &keycloak_access).await.status(), 200, "typed Bearer, whatever else it carries");
    for token in id_tokens.iter().chain(&refresh_tokens) {
        assert_refused(&app, token, "not an access token").await;
    }

    let app = spawn_for(&fake, |s| s.providers.get_mut("corp").unwrap().bearer.accept_id_tokens = true).await;
    for token in &id_tokens {
        assert_eq!(verify(&app, token).await.status(), 200, "accept_id_tokens = true");
    }
    for token in &refresh_tokens {
        assert_refused(&app, token, "a refresh token, even where ID tokens are accepted").await;
    }
}

#[tokio::test]
async fn expiry_and_not_before_are_checked_to_the_second() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let app = spawn_for(&fake, |_| {}).await;
    let token = key.sign(&fake.claims("svc"));

    app.clock.set(NOW + 299);
    assert_eq!(verify(&app, &token).await.status(), 200, "one second before exp");
    app.clock.set(NOW + 300);
    assert_refused(&app, &token, "at exp").await;

    // nbf in the future: refused until 30 s (the allowed skew) before it.
    let mut claims = fake.claims("later");
    claims["nbf"] = json!(NOW + 100);
    claims["exp"] = json!(NOW + 1000);
    let later = key.sign(&claims);
    app.clock.set(NOW + 69);
    assert_refused(&app, &later, "nbf - 31").await;
    app.clock.set(NOW + 70);
    assert_eq!(verify(&app, &later).await.status(), 200, "nbf - 30");
}

#[tokio::test]
async fn every_forgery_and_mismatch_is_a_401() {
    let key = SigningKey::rs256("rsa-1");
    let other = SigningKey::rs256("rsa-1"); // same kid, a key the issuer never published
    let fake = FakeIssuer::start(&[&key]).await;
    let app = spawn_for(&fake, |_| {}).await;
    let good = fake.claims("mallory");
    assert_eq!(verify(&app, &key.sign(&good)).await.status(), 200);

    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        key.sign(&claims)
    };
    assert_refused(&app, &with(&|c| c["aud"] = json!("another-api")), "wrong aud").await;
    assert_refused(&app, &with(&|c| c["aud"] = json!(["x", "y"])), "aud list without ours").await;
    assert_refused(&app, &with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))), "no aud").await;
    assert_refused(&app, &with(&|c| c["iss"] = json!("https://evil.example")), "another issuer").await;
    assert_refused(&app, &with(&|c| c["iss"] = json!(format!("{}/", fake.issuer()))), "issuer + slash").await;
    assert_refused(&app, &with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))), "no exp").await;
    let mut claims = good.clone();
    claims["exp"] = json!("never");
    assert_refused(&app, &key.sign_raw(&claims), "exp not a number").await;
    claims["exp"] = json!(NOW + 300);
    assert_eq!(verify(&app, &key.sign_raw(&claims)).await.status(), 200, "raw signing works");
    assert_refused(&app, &with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))), "no subject").await;
    assert_refused(&app, &other.sign(&good), "signed by an unpublished key with a known kid").await;

    let token = key.sign(&good);
    let (h, p, s) = segments(&token);
    let mut admin = good.clone();
    admin["sub"] = json!("admin");
    assert_refused(&app, &format!("{h}.{}.{s}", b64(&admin)), "payload swapped under the signature").await;
    let mut sig = URL_SAFE_NO_PAD.decode(&s).unwrap();
    sig[10] ^= 1;
    assert_refused(&app, &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig)), "flipped signature bit").await;
    assert_refused(&app, &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig[..16])), "truncated signature").await;

    // alg none, with and without a signature.
    let none = b64(&json!({"alg": "none", "kid": key.kid, "typ": "JWT"}));
    assert_refused(&app, &format!("{none}.{p}."), "alg none, empty signature").await;
    assert_refused(&app, &format!("{none}.{p}.{s}"), "alg none, old signature").await;

    // HS256 keyed with the issuer's public key (the classic confusion attack).
    let public_n = key.public.parameter("n").and_then(Value::as_str).unwrap().to_owned();
    for secret in [public_n.as_bytes().to_vec(), serde_json::to_vec(key.public.as_ref()).unwrap()] {
        let mut secret = secret;
        secret.resize(secret.len().max(32), 0);
        let hs = HS256.signer_from_bytes(&secret).unwrap();
        let mut header = JwsHeader::new();
        header.set_key_id(&key.kid);
        let forged =
            jwt::encode_with_signer(&JwtPayload::from_map(good.as_object().unwrap().clone()).unwrap(), &header, &hs)
                .unwrap();
        assert_refused(&app, &forged, "HS256 with the public key").await;
    }

    // The key is published for RS256 only: a PS256 header is refused even before the signature.
    let ps = b64(&json!({"alg": "PS256", "kid": key.kid}));
    assert_refused(&app, &format!("{ps}.{p}.{s}"), "alg swapped to PS256").await;
    // Header tricks: an embedded key or key URL is never used.
    let jku = b64(&json!({"alg": "RS256", "kid": "attacker", "jku": "https://evil.example/jwks"}));
    assert_refused(&app, &format!("{jku}.{p}.{s}"), "jku").await;
    let crit = b64(&json!({"alg": "RS256", "kid": key.kid, "crit": ["exp"]}));
    assert_refused(&app, &format!("{crit}.{p}.{s}"), "crit").await;

    // Still serving, and the good token still works.
    assert_eq!(verify(&app, &token).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_interval() {
    let old = SigningKey::es256("2026-old");
    let new = SigningKey::es256("2026-new");
    let fake = FakeIssuer::start(&[&old]).await;
    let app = spawn_for(&fake, |_| {}).await;
    assert_eq!(verify(&app, &old.sign(&fake.claims("a"))).await.status(), 200);
    let baseline = fake.jwks_requests().await;

    // The issuer rotates: a token with the new kid makes sealgate fetch the JWKS again.
    fake.publish(&[&old, &new]);
    app.clock.advance(31);
    assert_eq!(verify(&app, &new.sign(&fake.claims("b"))).await.status(), 200, "rotated key");
    assert_eq!(fake.jwks_requests().await, baseline + 1);

    // A flood of random kids right after: no further fetch within the interval.
    for i in 0..25 {
        assert_refused(&app, &new.sign_as(&format!("random-{i}"), &fake.claims("c")), "random kid").await;
    }
    assert_eq!(fake.jwks_requests().await, baseline + 1, "rate-limited");

    // 29 s later still limited; at 30 s one fetch is allowed again, and only one.
    app.clock.advance(29);
    assert_refused(&app, &new.sign_as("random-x", &fake.claims("c")), "random kid").await;
    assert_eq!(fake.jwks_requests().await, baseline + 1);
    app.clock.advance(1);
    for i in 0..10 {
        assert_refused(&app, &new.sign_as(&format!("again-{i}"), &fake.claims("c")), "random kid").await;
    }
    assert_eq!(fake.jwks_requests().await, baseline + 2);

    // Known keys keep working throughout.
    assert_eq!(verify(&app, &old.sign(&fake.claims("d"))).await.status(), 200);
}

#[tokio::test]
async fn a_bearer_jwt_decides_alone_and_scopes_feed_policies() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let app = spawn_for(&fake, |settings| {
        settings.policy.rules.push(RuleSettings {
            paths: vec!["/orders/admin".into()],
            allow: Access::Authenticated,
            scopes: vec!["orders:admin".into()],
            ..RuleSettings::default()
        });
        settings.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.sign_in(ALICE, ALICE_PASSWORD).await;

    // A good JWT next to Alice's cookie: the JWT's identity.
    let token = key.sign(&fake.claims("svc"));
    let both = app.client.get(app.url("/auth/verify")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(header(&both, "x-auth-user"), Some("svc"));
    // A bad one next to the cookie: refused, not quietly Alice.
    let mut claims = fake.claims("svc");
    claims["aud"] = json!("elsewhere");
    let bad = app.client.get(app.url("/auth/verify")).bearer_auth(key.sign(&claims)).send().await.unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(header(&bad, "www-authenticate"), Some(INVALID_TOKEN));
    assert_eq!(app.client.get(app.url("/auth/verify")).send().await.unwrap().status(), 200, "the cookie alone");
    assert_eq!(header(&app.client.get(app.url("/auth/verify")).send().await.unwrap(), "x-auth-user"), Some(ALICE));

    // Scopes from the token's `scope` claim meet the rule's scope list.
    let admin_path = |token: String| {
        reqwest::Client::new()
            .get(app.url("/auth/verify"))
            .header("X-Forwarded-Uri", "/orders/admin/refunds")
            .header("X-Forwarded-Host", "shop.test")
            .bearer_auth(token)
            .send()
    };
    assert_eq!(admin_path(token.clone()).await.unwrap().status(), 403, "orders:read only");
    let mut claims = fake.claims("ops");
    claims["scope"] = json!("orders:read orders:admin");
    assert_eq!(admin_path(key.sign(&claims)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_issuer_whose_keys_cannot_be_had_is_not_ready_and_its_tokens_get_401_with_a_bounded_retry() {
    let key = SigningKey::es256("k1");
    for (why, broken) in [
        (
            "a JWKS without a usable key",
            JwksAnswer::Keys(json!({"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}]})),
        ),
        ("a JWKS that answers 503", JwksAnswer::Unavailable),
    ] {
        let fake = FakeIssuer::start(&[&key]).await;
        fake.answer(broken);
        let dir = Arc::new(new_dir());
        let mut settings = test_settings(&dir);
        let mut provider = oidc_provider(&fake.issuer());
        provider.bearer.jwt = true;
        provider.bearer.audiences = vec![AUDIENCE.into()];
        settings.providers.insert("corp".into(), provider);
        settings.oauth.discovery_attempts = 1;
        let app = spawn_in(dir, settings, ManualClock::at(NOW)).await;
        while fake.jwks_requests().await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Discovered, but no key to check an ID token or a JWT with: not ready.
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), 503, "{why}");
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["providers_not_ready"], json!(["corp"]), "{why}");

        let token = key.sign(&fake.claims("svc"));
        assert_refused(&app, &token, why).await;
        let after_first = fake.jwks_requests().await;
        for _ in 0..10 {
            assert_refused(&app, &token, why).await;
        }
        assert!(fake.jwks_requests().await <= after_first + 1, "{why}: a down issuer is not asked on every request");
        assert_eq!(app.get("/healthz").await.status(), 200);

        // The issuer is back: past the interval its keys are fetched, and all is well.
        fake.publish(&[&key]);
        app.clock.advance(30);
        assert_eq!(verify(&app, &token).await.status(), 200, "{why}");
        assert_eq!(app.get("/readyz").await.status(), 200, "{why}");
    }
}

#[tokio::test]
async fn an_issuer_that_comes_back_makes_the_gateway_ready_without_any_traffic() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    fake.answer(JwksAnswer::Unavailable);
    let dir = Arc::new(new_dir());
    let mut settings = test_settings(&dir);
    settings.providers.insert("corp".into(), oidc_provider(&fake.issuer()));
    settings.oauth.discovery_attempts = 1;
    let app = spawn_in(dir, settings, ManualClock::at(NOW)).await;
    while fake.jwks_requests().await == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 503);

    // Start-up gave up; the issuer is back. Only readiness probes come (no
    // sign-in, no token): past the refetch interval they bring the keys in.
    fake.publish(&[&key]);
    app.clock.advance(30);
    let mut status = 503;
    for _ in 0..100 {
        status = app.get("/readyz").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
    // Probes are rate-limited like tokens: one fetch brought the keys.
    assert_eq!(fake.jwks_requests().await, 2);
}

#[tokio::test]
async fn a_made_up_kid_while_the_issuer_hangs_neither_fails_nor_slows_valid_tokens() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let app = spawn_for(&fake, |s| s.oauth.timeout = Duration::from_secs(3)).await;
    assert_eq!(verify(&app, &key.sign(&fake.claims("first"))).await.status(), 200);

    // The issuer gets stuck; past the refetch interval, a token names a made-up kid.
    fake.answer(JwksAnswer::Hanging);
    app.clock.advance(31);
    let made_up = key.sign_as("made-up", &fake.claims("mallory"));
    let attacker = {
        let url = app.url("/auth/verify");
        tokio::spawn(async move { reqwest::Client::new().get(url).bearer_auth(made_up).send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While sealgate waits for the JWKS, tokens signed with a key it has are
    // answered at once, and after the fetch failed the key is still there.
    let fast = |i: usize, when: &'static str| {
        let token = key.sign(&fake.claims(&format!("user-{when}-{i}")));
        let app = &app;
        async move {
            let started = Instant::now();
            assert_eq!(verify(app, &token).await.status(), 200, "{when}");
            assert!(started.elapsed() < Duration::from_millis(1500), "{when}: took {:?}", started.elapsed());
        }
    };
    for i in 0..3 {
        fast(i, "during the fetch").await;
    }
    let refused = attacker.await.unwrap();
    assert_eq!(refused.status(), 401, "the made-up kid");
    for i in 0..3 {
        fast(i, "after the failed fetch").await;
    }
    // Within the interval, more made-up kids are refused at once, without asking the issuer.
    let started = Instant::now();
    assert_refused(&app, &key.sign_as("made-up-2", &fake.claims("mallory")), "made-up kid").await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    // An interval later, the keys still outlive another failed fetch.
    app.clock.advance(31);
    assert_refused(&app, &key.sign_as("made-up-3", &fake.claims("mallory")), "made-up kid").await;
    fast(0, "after a second failed fetch").await;
}

#[tokio::test]
async fn malformed_bearer_tokens_get_401_when_provider_tokens_are_accepted() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let app = spawn_for(&fake, |_| {}).await;
    let valid = key.sign(&fake.claims("svc"));
    let (h, p, s) = segments(&valid);
    let corpus = [
        "x".to_owned(),
        "..".to_owned(),
        "a.b.c".to_owned(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"), // five segments: tried (and refused) as a sealgate API token
        format!("{h}..{s}"),
        format!("{h}.{p}.!!"),
        format!("{}.{p}.{s}", "e".repeat(3000)),
        format!("{}.{}.{s}", b64(&json!({"alg": "ES256"})), "A".repeat(12_000)),
        format!("{}.{p}.{s}", b64(&json!("just a string"))),
        format!("{}.{p}.{s}", b64(&json!({"alg": ["ES256"]}))),
        format!("{h}.{}.{s}", b64(&json!({"iss": fake.issuer(), "exp": 1e300}))),
    ];
    for token in &corpus {
        assert_refused(&app, token, token).await;
    }
    // Still serving, and a good token still works (nothing poisoned the caches).
    assert_eq!(verify(&app, &valid).await.status(), 200);
}

#[tokio::test]
async fn a_failed_introspection_is_not_cached_and_inactive_answers_are() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let introspection = format!("{}/introspect", fake.issuer());
    let app = spawn_for(&fake, |settings| {
        let bearer = &mut settings.providers.get_mut("corp").unwrap().bearer;
        bearer.introspection = true;
        bearer.introspection_url = Some(introspection);
    })
    .await;
    let asked = |token: &'static str| {
        let server = &fake.server;
        async move {
            let requests = server.received_requests().await.unwrap();
            requests
                .iter()
                .filter(|r| r.url.path() == "/introspect")
                .filter(|r| String::from_utf8_lossy(&r.body).contains(&format!("token={token}")))
                .count()
        }
    };

    // The provider is down: refused, and the failure is not remembered.
    let down = Mock::given(method("POST")).and(path("/introspect")).respond_with(ResponseTemplate::new(503));
    let guard = fake.server.register_as_scoped(down).await;
    assert_refused(&app, "opaque-1", "introspection unavailable").await;
    drop(guard);
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(wiremock::matchers::body_string_contains("token=opaque-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "active": true, "sub": "svc-7", "scope": "orders:read", "exp": NOW + 120, "iss": fake.issuer(),
            "token_type": "Bearer",
            "aud": AUDIENCE, // checked because `audiences` is configured
        })))
        .mount(&fake.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"active": false})))
        .mount(&fake.server)
        .await;
    let back = verify(&app, "opaque-1").await;
    assert_eq!(back.status(), 200, "asked again once the provider is back");
    assert_eq!(header(&back, "x-auth-user"), Some("svc-7"));
    assert_eq!(header(&back, "x-auth-source"), Some("introspection"));
    assert_eq!(asked("opaque-1").await, 2);

    // Inactive: refused, and asked about once.
    assert_refused(&app, "opaque-2", "inactive").await;
    assert_refused(&app, "opaque-2", "inactive, again").await;
    assert_eq!(asked("opaque-2").await, 1);

    // The client's credentials went with the call (client_secret_basic), never the token in a URL.
    let requests = fake.server.received_requests().await.unwrap();
    let call = requests.iter().find(|r| r.url.path() == "/introspect").unwrap();
    assert!(call.headers.get("authorization").unwrap().to_str().unwrap().starts_with("Basic "));
    assert!(!call.url.as_str().contains("opaque"));
}

#[tokio::test]
async fn a_jwt_from_an_issuer_only_trusted_by_introspection_is_asked_about_again_after_the_cache_time() {
    let key = SigningKey::es256("k1");
    let fake = FakeIssuer::start(&[&key]).await;
    let introspection = format!("{}/introspect", fake.issuer());
    let app = spawn_for(&fake, |settings| {
        let bearer = &mut settings.providers.get_mut("corp").unwrap().bearer;
        bearer.jwt = false;
        bearer.introspection = true;
        bearer.introspection_url = Some(introspection);
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "active": true, "sub": "svc-9", "exp": NOW + 1000, "aud": AUDIENCE, "token_type": "Bearer",
        })))
        .mount(&fake.server)
        .await;
    let calls = || async {
        fake.server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/introspect").count()
    };
    let token = key.sign(&fake.claims("svc-9"));
    for _ in 0..3 {
        let response = verify(&app, &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-auth-source"), Some("introspection"), "not checked as a JWT");
    }
    assert_eq!(calls().await, 1);
    app.clock.advance(60); // the default introspection_cache
    assert_eq!(verify(&app, &token).await.status(), 200);
    assert_eq!(calls().await, 2, "asked again: a revocation shows within the cache time");
}

#[tokio::test]
async fn a_verified_jwt_is_cached_until_exp_while_new_tokens_need_a_published_key() {
    let old = SigningKey::es256("old");
    let new = SigningKey::es256("new");
    let fake = FakeIssuer::start(&[&old]).await;
    let app = spawn_for(&fake, |_| {}).await;
    let seen = old.sign(&fake.claims("seen"));
    assert_eq!(verify(&app, &seen).await.status(), 200);

    // The issuer withdraws the old key; a token with the new kid makes sealgate fetch the new set.
    fake.publish(&[&new]);
    app.clock.advance(31);
    assert_eq!(verify(&app, &new.sign(&fake.claims("fresh"))).await.status(), 200);
    // The token verified earlier is served from the cache (no second signature check) until its exp...
    assert_eq!(verify(&app, &seen).await.status(), 200);
    app.clock.set(NOW + 300);
    assert_refused(&app, &seen, "past exp").await;
    // ...while a token not seen before that names the withdrawn key is refused.
    app.clock.set(NOW + 31);
    assert_refused(&app, &old.sign(&fake.claims("unseen")), "withdrawn key").await;
}
