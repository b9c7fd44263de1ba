//! The whole application in-process: a `GET` of a fuzzed URI (seeds use
//! `/auth/verify`), with fuzzed `Authorization`, `Cookie` and forwarded
//! headers from a trusted proxy. This reaches the Bearer-header parse, API
//! tokens, the cookie reader, chunk joining, the JWE split, the policy
//! target and the forwarded headers through the code that serves them.
//! Input, split at `\n`: URI, Authorization, Cookie, Cookie,
//! X-Forwarded-Host, X-Forwarded-Uri, X-Forwarded-Proto, X-Forwarded-For.
//! In the Authorization and Cookie values `$T` stands for a valid API token
//! and `$S` for a valid session, so mutations start from real credentials.
//! Checks: no panic, and never a 5xx: bad input is a 4xx or a redirect.
#![no_main]

use actix_web::http::header::{HeaderValue, AUTHORIZATION, COOKIE};
use actix_web::http::Uri;
use actix_web::{rt::System, test};
use libfuzzer_sys::fuzz_target;
use sealgate::clock::SystemClock;
use sealgate::config::{Settings, DEFAULT_CONFIG};
use sealgate::identity::User;
use sealgate::crypto::keys::{self, KeyAlg};
use sealgate::startup::{app, Gateway, KeyInit};
use std::sync::Arc;

struct Fixture {
    /// Sends a request through the application; gives the status.
    call: Box<dyn Fn(test::TestRequest) -> u16>,
    session: String,
    api_token: String,
}

thread_local! {
    // Leaked, so it is never dropped: dropping the actix system in the
    // thread-local teardown at exit touched thread-locals already gone
    // (a panic after the run's last input, reported as a crash on an empty one).
    static FIXTURE: &'static Fixture = Box::leak(Box::new(fixture()));
}

fn fixture() -> Fixture {
    let path = std::env::temp_dir().join(format!("sealgate-fuzz-keys-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    keys::keygen(&path, KeyAlg::Dir).unwrap();
    let mut settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
    settings.keys.path = path;
    settings.credentials.users_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/users.toml").into();
    let gateway = Gateway::assemble(settings, Arc::new(SystemClock), KeyInit::ReadOnly).unwrap();
    // An account of the users file: a password session of anyone else is refused.
    let mut user = User::new("demo");
    user.groups = vec!["staff".into()];
    let codec = &gateway.credentials.codec;
    let session = codec.seal(&codec.start(user.clone(), "credentials", false, None).unwrap()).unwrap();
    let (api_token, _) = gateway.credentials.api_tokens.mint(user, "fuzz", vec!["read".into()], 3600).unwrap();
    let system = System::new();
    let service = system.block_on(test::init_service(app(gateway.credentials.clone(), gateway.state.clone())));
    let call = Box::new(move |req: test::TestRequest| {
        system.block_on(async {
            match test::try_call_service(&service, req.to_request()).await {
                Ok(response) => response.status().as_u16(),
                Err(error) => error.as_response_error().status_code().as_u16(),
            }
        })
    });
    Fixture { call, session, api_token }
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == b'\n');
    let Some(Ok(uri)) = fields.next().map(std::str::from_utf8) else { return };
    if Uri::try_from(uri).is_err() {
        return;
    }
    FIXTURE.with(|fixture| {
        let mut req = test::TestRequest::get().uri(uri).peer_addr("127.0.0.1:40000".parse().unwrap());
        let names = [AUTHORIZATION.as_str(), COOKIE.as_str(), COOKIE.as_str(), "x-forwarded-host", "x-forwarded-uri"]
            .into_iter()
            .chain(["x-forwarded-proto", "x-forwarded-for"]);
        for (name, value) in names.zip(fields) {
            let value = if name == "authorization" || name == "cookie" {
                let text = String::from_utf8_lossy(value);
                if text.contains('$') {
                    text.replace("$T", &fixture.api_token).replace("$S", &fixture.session).into_bytes()
                } else {
                    value.to_vec()
                }
            } else {
                value.to_vec()
            };
            let Ok(value) = HeaderValue::from_bytes(&value) else { continue };
            req = req.append_header((name, value));
        }
        let status = (fixture.call)(req);
        assert!(status < 500, "status {status}");
    });
});
