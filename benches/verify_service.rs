#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The whole application, in-process: routing, the session middleware,
//! extractors and handlers, for `/auth/verify` next to `/healthz`.
//!
//! The load test (`scripts/bench-verify.sh`) measures the same thing with
//! the network and wrk in it, where two shared cores make figures noisy.
//! This bench leaves the kernel out, so the user-space difference between
//! the two endpoints is measured to a few nanoseconds.
//!
//! Run: `cargo bench --bench verify_service` (quick: `-- --warm-up-time 1 --measurement-time 3`).
//!
//! `VERIFY_SERVICE_SETUP` changes the gateway, to count what a feature adds
//! to the hot path (`scripts/count-verify.sh` runs each):
//! - unset or `default`: the shipped config (the local store, an empty revocation view);
//! - `no-store`: `store.kind = "none"` (no revocation view at all);
//! - `revoked-100k`: the local store, with 100,000 revoked session ids and
//!   1,000 per-user marks in the view (none of them the benchmarked session);
//! - `assertion`: `X-Auth-Assertion` on, with a fixed audience.

use actix_web::http::header::{AUTHORIZATION, COOKIE};
use actix_web::http::StatusCode;
use actix_web::{rt::System, test};
use criterion::{criterion_group, criterion_main, Criterion};
use sealgate::clock::SystemClock;
use sealgate::config::{Settings, DEFAULT_CONFIG};
use sealgate::crypto::keys::{self, KeyAlg};
use sealgate::crypto::ProviderTokens;
use sealgate::identity::User;
use sealgate::startup::{app, Gateway, KeyInit};
use secrecy::SecretString;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests built ahead of each timed run.
const BATCH: u64 = 1000;

fn verify_service(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
    settings.keys.path = dir.path().join("keys.json");
    // `Settings::from_toml` resolves no paths: the demo users file, as the
    // shipped config names it next to itself.
    settings.credentials.users_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/users.toml");
    keys::keygen(&settings.keys.path, KeyAlg::Dir).unwrap();
    settings.store.path = dir.path().join("sealgate.db");
    let setup = std::env::var("VERIFY_SERVICE_SETUP").unwrap_or_default();
    match setup.as_str() {
        "" | "default" | "revoked-100k" => {}
        "no-store" => settings.store.kind = sealgate::config::store::StoreKind::None,
        "assertion" => {
            use sealgate::assertion::{keys::write, AssertionKeys};
            use sealgate::crypto::keys::SignAlg;
            let path = dir.path().join("assertion.jwks.json");
            write(&path, &AssertionKeys::generate(SignAlg::Es256, chrono::Utc::now().timestamp()).unwrap()).unwrap();
            settings.assertion.enabled = true;
            settings.assertion.audience = Some("app.example.com".into());
            settings.assertion.keys_path = Some(path);
        }
        other => panic!("VERIFY_SERVICE_SETUP={other}: not default, no-store, revoked-100k or assertion"),
    }
    let gateway = Gateway::assemble(settings, Arc::new(SystemClock), KeyInit::ReadOnly).unwrap();
    if setup == "revoked-100k" {
        use sealgate::store::{FeedEvent, Revocation};
        // In one batch: the view is copied once. Nothing follows the store
        // here (the server's start-up does that), so nothing replaces them.
        let view = gateway.state.revocations.as_ref().expect("the local store keeps a revocation view");
        let until = chrono::Utc::now().timestamp() + 30 * 86400;
        let sessions = (0..100_000).map(|i| Revocation::Session { id: format!("revoked-session-{i:06}"), until });
        let users = (0..1_000).map(|i| Revocation::User { user: format!("user-{i}"), before: 1, until });
        view.apply(sessions.chain(users).map(FeedEvent::Revoked));
        assert_eq!(view.len(), 101_000);
    }

    // As `scripts/bench-verify.sh` mints it: about 1.5 KB, mostly sealed provider tokens.
    let codec = &gateway.credentials.codec;
    let now = codec.now();
    // The demo user of the default users file: a password session is looked
    // up in the users file on every request, and that lookup is measured too.
    let mut user = User::new("demo");
    user.email = Some("bench@example.com".into());
    user.name = Some("Bench User".into());
    user.groups = vec!["admins".into(), "staff".into()];
    let tokens = ProviderTokens {
        access_token: SecretString::from(format!("bench-access-token-{}", "5a".repeat(232))),
        token_type: "Bearer".into(),
        refresh_token: None,
        id_token: None,
        expires_at: Some(now + 86400),
        obtained_at: now,
        scope: None,
    };
    let session = codec.start_with_ttl(user.clone(), "credentials", 7 * 24 * 3600, Some(&tokens)).unwrap();
    let token = codec.seal(&session).unwrap();
    let cookie = format!("{}={token}", gateway.credentials.cookies.name);
    let (rest, tag) = token.rsplit_once('.').unwrap();
    let forged = format!(
        "{}={rest}.{}{}",
        gateway.credentials.cookies.name,
        if tag.starts_with('A') { 'B' } else { 'A' },
        &tag[1..]
    );
    let (api_token, _) = gateway.credentials.api_tokens.mint(user, "bench", vec![], 86400).unwrap();
    let bearer = format!("Bearer {api_token}");
    println!("cookie: {} bytes", cookie.len());

    let system = System::new();
    let service = system.block_on(test::init_service(app(gateway.credentials.clone(), gateway.state.clone())));
    let cases: [(&str, &str, Option<(_, &str)>, StatusCode); 6] = [
        ("healthz", "/healthz", None, StatusCode::OK),
        ("healthz_same_cookie", "/healthz", Some((COOKIE, cookie.as_str())), StatusCode::OK),
        ("verify_valid", "/auth/verify", Some((COOKIE, cookie.as_str())), StatusCode::OK),
        ("verify_invalid", "/auth/verify", Some((COOKIE, forged.as_str())), StatusCode::UNAUTHORIZED),
        ("verify_no_cookie", "/auth/verify", None, StatusCode::UNAUTHORIZED),
        ("verify_bearer", "/auth/verify", Some((AUTHORIZATION, bearer.as_str())), StatusCode::OK),
    ];
    let request = |path: &str, header: Option<(actix_web::http::header::HeaderName, &str)>| {
        let mut req = test::TestRequest::get().uri(path);
        if let Some((name, value)) = header {
            req = req.insert_header((name, value));
        }
        req.to_request()
    };

    // `VERIFY_SERVICE_COUNT=<case>:<n>`: serve that case n times and stop,
    // for counting instructions (see `scripts/count-verify.sh`).
    if let Ok(spec) = std::env::var("VERIFY_SERVICE_COUNT") {
        let (name, n) = spec.split_once(':').expect("VERIFY_SERVICE_COUNT=<case>:<n>");
        let n: u64 = n.parse().expect("a count");
        let (_, path, header, expected) = cases.iter().find(|case| case.0 == name).expect("a known case").clone();
        system.block_on(async {
            for _ in 0..n {
                let response = test::call_service(&service, request(path, header.clone())).await;
                assert_eq!(response.status(), expected);
            }
        });
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("in_process");
    for (name, path, header, expected) in cases {
        let status =
            system.block_on(async { test::call_service(&service, request(path, header.clone())).await.status() });
        assert_eq!(status, expected, "{name}");
        group.bench_function(name, |b| {
            // Requests are built outside the timed part, a batch at a time:
            // building one with a 1.5 KB header costs about as much as serving it.
            b.iter_custom(|iters| {
                system.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let batch: Vec<_> = (0..left.min(BATCH)).map(|_| request(path, header.clone())).collect();
                        left -= batch.len() as u64;
                        let start = Instant::now();
                        for req in batch {
                            let response = test::call_service(&service, req).await;
                            black_box(response.status());
                        }
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, verify_service);
criterion_main!(benches);
