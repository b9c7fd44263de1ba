//! Opening each kind of credential through the one open-cache.

use super::*;
use crate::clock::ManualClock;
use crate::config::{Settings, DEFAULT_CONFIG};
use crate::crypto::keys::{JwkSet, KeyAlg, KeyRing, KeyState};
use crate::crypto::{ProviderTokens, TokensError};
use crate::identity::{Source, User};
use crate::session::Lifetimes;
use secrecy::{ExposeSecret, SecretString};

const T0: i64 = 1_800_000_000;

fn credentials(keys: &JwkSet, clock: &ManualClock) -> Credentials {
    let settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
    let lifetimes = Lifetimes { idle: 3600, absolute: 3 * 3600 };
    let codec = SessionCodec::new(keys, Arc::new(clock.clone()), lifetimes, 8192).unwrap();
    let api_tokens = ApiTokens::new(keys, Arc::new(clock.clone()), None, 3600).unwrap();
    let provider_tokens = ProviderBearer::none(Arc::new(clock.clone()));
    Credentials::new(codec, CookieSpec::from_settings(&settings), api_tokens, provider_tokens)
}

fn user_of(opened: Result<Arc<Identified>, Refusal>) -> Result<String, Refusal> {
    opened.map(|identified| identified.identity.user.id.clone())
}

#[test]
fn the_open_cache_only_answers_for_the_exact_token() {
    let keys = JwkSet::generate(KeyAlg::Dir);
    let clock = ManualClock::at(T0);
    let credentials = credentials(&keys, &clock);
    let codec = &credentials.codec;
    let session = codec.start(User::new("alice"), "credentials", true, None).unwrap();
    let token = codec.seal(&session).unwrap();
    let open = |token: &str| user_of(credentials.open_session_cookie(token.as_bytes()));
    assert_eq!(open(&token).unwrap(), "alice");
    // Same tag, different ciphertext: not the cached token, so it is opened (and refused).
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let ciphertext = parts[3].clone();
    let flipped = if ciphertext.starts_with('A') { "B" } else { "A" };
    parts[3] = format!("{flipped}{}", &ciphertext[1..]);
    let forged = parts.join(".");
    let decrypt = Refusal::Session(SessionError::Sealed(OpenError::Decrypt));
    assert_eq!(open(&forged).unwrap_err(), decrypt);
    assert_eq!(open(&forged).unwrap_err(), decrypt, "refusals are cached");
    assert_eq!(open(&token).unwrap(), "alice", "the real token still opens");
    // A cached session still expires to the second.
    clock.set(session.expires_at);
    assert_eq!(open(&token).unwrap_err(), Refusal::Session(SessionError::Expired));
}

#[test]
fn one_opening_serves_every_request_with_the_token() {
    let keys = JwkSet::generate(KeyAlg::Dir);
    let clock = ManualClock::at(T0);
    let credentials = credentials(&keys, &clock);
    let session = credentials.codec.start(User::new("alice"), "credentials", true, None).unwrap();
    let token = credentials.codec.seal(&session).unwrap();
    let first = credentials.open_session_cookie(token.as_bytes()).unwrap();
    let again = credentials.open_session_cookie(token.as_bytes()).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "opened once, then answered from the cache");
    assert_eq!(first.identity.source, Source::Cookie);
    assert_eq!(first.identity.scopes, None);
    assert_eq!(first.session.as_ref().map(|s| s.id.as_str()), Some(first.identity.id.as_str()));
}

#[test]
fn a_session_the_cache_opened_stops_opening_once_its_key_is_retired() {
    let mut set = JwkSet::generate(KeyAlg::Dir);
    let old = set.current().kid().to_owned();
    let ring = KeyRing::new(set.clone());
    let clock = ManualClock::at(T0);
    let credentials = credentials(&ring.set(), &clock);
    let codec = &credentials.codec;
    let tokens = ProviderTokens {
        access_token: SecretString::from("at".to_owned()),
        token_type: "Bearer".into(),
        refresh_token: None,
        id_token: None,
        expires_at: None,
        obtained_at: T0,
        scope: None,
    };
    let session = codec.start(User::new("alice"), "corp", true, Some(&tokens)).unwrap();
    let token = codec.seal(&session).unwrap();
    assert_eq!(user_of(credentials.open_session_cookie(token.as_bytes())).unwrap(), "alice");

    set.add_generated(KeyAlg::Dir, KeyState::Current);
    ring.replace(set.clone()).unwrap();
    let opened = credentials.open_session_cookie(token.as_bytes()).unwrap();
    let opened = opened.session.as_ref().unwrap();
    assert_eq!(codec.tokens(opened).unwrap().unwrap().access_token.expose_secret(), "at", "rotation signs nobody out");

    set.retire(&old).unwrap();
    ring.replace(set).unwrap();
    assert_eq!(
        credentials.open_session_cookie(token.as_bytes()).unwrap_err(),
        Refusal::Session(SessionError::Sealed(OpenError::UnknownHeader)),
        "no answer from before the reload"
    );
    assert_eq!(codec.tokens(&session).unwrap_err(), TokensError::UnknownKey);
}

#[test]
fn an_api_token_is_opened_once_and_checked_on_every_use() {
    let keys = JwkSet::generate(KeyAlg::Dir);
    let clock = ManualClock::at(T0);
    let credentials = credentials(&keys, &clock);
    let (token, claims) = credentials.api_tokens.mint(User::new("ci"), "deploy", vec!["deploy".into()], 600).unwrap();
    let first = credentials.open_api_token(&token).unwrap();
    assert!(Arc::ptr_eq(&first, &credentials.open_api_token(&token).unwrap()));
    assert_eq!(first.identity.id, claims.jti);
    assert_eq!(first.identity.source, Source::ApiToken);
    assert_eq!(first.identity.provider.as_str(), "api-token");
    assert_eq!(first.identity.scopes.as_deref(), Some(&["deploy".to_owned()][..]));
    assert!(first.session.is_none(), "no session stands behind a token");
    clock.advance(600);
    assert_eq!(credentials.open_api_token(&token).unwrap_err(), Refusal::ApiToken(ApiTokenError::Expired));
    // A session cookie is not an API token, nor the other way round.
    let session = credentials.codec.start(User::new("ci"), "credentials", true, None).unwrap();
    let cookie = credentials.codec.seal(&session).unwrap();
    assert!(credentials.open_api_token(&cookie).unwrap_err().is_bearer());
    assert!(!credentials.open_session_cookie(token.as_bytes()).unwrap_err().is_bearer());
}

#[test]
fn each_refusal_is_cached_only_when_it_cannot_change() {
    use crate::credentials::BearerError;
    let finals = [
        Refusal::Session(SessionError::Sealed(OpenError::Decrypt)),
        Refusal::Session(SessionError::Payload),
        Refusal::Session(SessionError::Version),
        Refusal::ApiToken(ApiTokenError::Payload),
        Refusal::ProviderToken(BearerError::Signature),
    ];
    let passing = [
        Refusal::Session(SessionError::Sealed(OpenError::Base64)),
        Refusal::Session(SessionError::Expired),
        Refusal::Session(SessionError::NotYetValid),
        Refusal::Session(SessionError::Chunks),
        Refusal::ApiToken(ApiTokenError::Sealed),
        Refusal::ApiToken(ApiTokenError::Revoked),
        Refusal::ProviderToken(BearerError::Unavailable),
        Refusal::ProviderToken(BearerError::UnknownKey),
        Refusal::NotBearer,
    ];
    assert!(finals.iter().all(|r| r.is_final()), "{finals:?}");
    assert!(passing.iter().all(|r| !r.is_final()), "{passing:?}");
}

#[test]
fn a_revoked_session_is_refused_after_the_cache_opened_it() {
    use crate::config::store::WhenUnavailable;
    use crate::store::{FeedEvent, Revocation, RevocationSnapshot, RevocationView};
    let keys = JwkSet::generate(KeyAlg::Dir);
    let clock = ManualClock::at(T0);
    let view = RevocationView::new(Arc::new(clock.clone()), WhenUnavailable::Deny);
    let credentials = credentials(&keys, &clock).revoking(Arc::clone(&view));
    let session = credentials.codec.start(User::new("alice"), "credentials", true, None).unwrap();
    let token = credentials.codec.seal(&session).unwrap();
    let open = || credentials.open_session_cookie(token.as_bytes()).map(|_| ());

    assert_eq!(open(), Err(Refusal::Session(SessionError::Unverifiable)), "deny: nothing known yet");
    view.apply([FeedEvent::Snapshot(RevocationSnapshot::default())]);
    assert_eq!(open(), Ok(()));
    view.insert(Revocation::Session { id: session.id.clone(), until: T0 + 60 });
    assert_eq!(open(), Err(Refusal::Session(SessionError::Revoked)), "cached, and still refused");
    assert!(!Refusal::Session(SessionError::Revoked).is_final(), "a revocation is not kept in the open-cache");
}

#[test]
fn a_session_waiting_for_its_code_is_refused_but_found_as_pending() {
    let keys = JwkSet::generate(KeyAlg::Dir);
    let clock = ManualClock::at(T0);
    let credentials = credentials(&keys, &clock);
    let mut session = credentials.codec.start(User::new("alice"), "credentials", true, None).unwrap();
    session.pending = true;
    let token = credentials.codec.seal(&session).unwrap();
    let pending = Refusal::Session(SessionError::PendingVerification);
    assert_eq!(user_of(credentials.open_session_cookie(token.as_bytes())).unwrap_err(), pending);
    assert_eq!(user_of(credentials.open_session_cookie(token.as_bytes())).unwrap_err(), pending, "cached too");
    assert!(Outcome::Refused(pending).pending_verification());
    let req = actix_web::test::TestRequest::default()
        .insert_header(("cookie", format!("{}={token}", credentials.cookies.name)))
        .to_http_request();
    assert_eq!(credentials.pending_session(&req).map(|s| s.user.id), Some("alice".to_owned()));
    clock.set(session.expires_at);
    assert!(credentials.pending_session(&req).is_none(), "an expired pending session is not pending");
    session.pending = false;
    let verified = credentials.codec.seal(&session).unwrap();
    clock.set(T0);
    let req = actix_web::test::TestRequest::default()
        .insert_header(("cookie", format!("{}={verified}", credentials.cookies.name)))
        .to_http_request();
    assert!(credentials.pending_session(&req).is_none(), "a verified session is not pending");
}

#[test]
fn a_nested_cookie_is_opened_once_and_then_served_from_the_cache() {
    use crate::config::SessionFormat;
    use crate::crypto::keys::{EncCurve, PairKind, SignAlg};
    let keys = JwkSet::generate_nested(PairKind::Enc(EncCurve::P256), PairKind::Sig(SignAlg::Es256)).unwrap();
    let clock = ManualClock::at(T0);
    let mut credentials = credentials(&keys, &clock);
    let lifetimes = Lifetimes { idle: 3600, absolute: 3 * 3600 };
    credentials.codec =
        SessionCodec::in_format(&keys, Arc::new(clock.clone()), lifetimes, 8192, SessionFormat::Nested, false).unwrap();
    let session = credentials.codec.start(User::new("alice"), "credentials", true, None).unwrap();
    let token = credentials.codec.seal(&session).unwrap();
    let first = credentials.open_session_cookie(token.as_bytes()).unwrap();
    let again = credentials.open_session_cookie(token.as_bytes()).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the second request is a cache hit: no ECDH, no signature check");
    assert_eq!(again.identity.user.id, "alice");
}

#[test]
fn opened_sessions_fill_the_cache_to_its_bytes_and_no_further() {
    let keys = JwkSet::generate(KeyAlg::Dir);
    let clock = ManualClock::at(T0);
    let credentials = credentials(&keys, &clock).caching(1 << 20);
    let tokens = ProviderTokens {
        access_token: SecretString::from("a".repeat(400)),
        token_type: "Bearer".into(),
        refresh_token: None,
        id_token: None,
        expires_at: Some(T0 + 3600),
        obtained_at: T0,
        scope: None,
    };
    let mut first = None;
    for i in 0..1500 {
        let mut user = User::new(format!("user-{i}"));
        user.email = Some(format!("user-{i}@example.com"));
        user.groups = vec!["staff".into(), "engineering".into()];
        let session = credentials.codec.start(user, "credentials", true, Some(&tokens)).unwrap();
        let token = credentials.codec.seal(&session).unwrap();
        credentials.open_session_cookie(token.as_bytes()).unwrap();
        if i == 0 {
            let (entries, bytes) = credentials.open_cache_size();
            assert_eq!(entries, 1);
            first = Some(bytes);
        }
    }
    let one = first.unwrap();
    // The weight counts what a session holds: its cookie (about 1 KB here),
    // the user twice over and the headers, the provider tokens twice.
    assert!(one > 3 * 1024, "one session weighs {one}");
    let (entries, bytes) = credentials.open_cache_size();
    assert!(1500 * one > 4 << 20, "the test offers more than the cache holds");
    assert!(bytes <= 1 << 20, "{entries} sessions weigh {bytes}, over 1 MiB");
    assert!(bytes > 1 << 19 && entries >= (1 << 19) / one, "{entries} sessions weigh {bytes}: the cache is used");
}
