//! The nested session format (`session.format = "nested"`): a sign-in tier
//! that holds every key, and a verify-only replica (`session.role =
//! "verify"`) that holds the file `sealgate keys export --verify-only`
//! writes: it opens and checks sessions, and can mint none. Switching
//! formats is a rotation. (The whole session suite also runs in the nested
//! format: scripts/test.sh, `SEALGATE_TEST_SESSION_FORMAT`.)

use crate::helpers::{captured_logs, header, location, sealed_alg, set_cookies, spawn_in, test_settings};
use crate::helpers::{try_spawn_in, TestApp};
use crate::helpers::{ALICE, ALICE_PASSWORD};
use crate::keys::eventually;
use sealgate::clock::ManualClock;
use sealgate::config::{SessionFormat, SessionRole, Settings};
use sealgate::crypto::keys::{self, EncCurve, JwkSet, KeyAlg, KeyState, PairKind, SignAlg};
use sealgate::identity::User;
use sealgate::session::{Lifetimes, SessionCodec};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

const KINDS: [(EncCurve, SignAlg); 2] = [(EncCurve::P256, SignAlg::Es256), (EncCurve::X25519, SignAlg::EdDsa)];

/// A directory with the test users and a nested key set (as `sealgate keygen
/// --alg ECDH-ES+A256KW --curve ... --sign ...` writes it on an empty file:
/// a `dir` key and both key pairs).
fn nested_dir(enc: EncCurve, sig: SignAlg) -> Arc<TempDir> {
    let dir = crate::helpers::new_dir_for(KeyAlg::Dir);
    std::fs::remove_file(dir.path().join("keys.json")).unwrap();
    let (_, _, oct) =
        keys::keygen_pair(&dir.path().join("keys.json"), PairKind::Enc(enc), PairKind::Sig(sig), false).unwrap();
    assert!(oct.is_some(), "keygen adds the symmetric key flows need");
    Arc::new(dir)
}

fn nested(settings: &mut Settings) {
    settings.session.format = SessionFormat::Nested;
}

/// The sign-in tier, and a verify-only replica on the exported key file
/// (same clock, its own directory).
async fn tier_and_replica(enc: EncCurve, sig: SignAlg, edit: impl Fn(&mut Settings)) -> (TestApp, TestApp) {
    let dir = nested_dir(enc, sig);
    let mut settings = test_settings(&dir);
    nested(&mut settings);
    let clock = ManualClock::at(chrono::Utc::now().timestamp());
    let tier = spawn_in(dir.clone(), settings.clone(), clock.clone()).await;
    let verify_path = dir.path().join("verify.jwks.json");
    keys::export_verify_only(&tier.keys_path, &verify_path).unwrap();
    settings.keys.path = verify_path;
    settings.session.role = SessionRole::Verify;
    edit(&mut settings);
    let replica = spawn_in(dir, settings, clock).await;
    (tier, replica)
}

fn session_cookie(app: &TestApp, response: &reqwest::Response) -> String {
    let cookie = set_cookies(response.headers()).into_iter().find(|c| c.name == app.cookie_name() && !c.is_removal());
    cookie.map(|c| c.value).expect("a session cookie")
}

#[tokio::test]
async fn a_verify_only_replica_opens_sessions_from_the_sign_in_tier_and_refuses_sign_ins() {
    for (enc, sig) in KINDS {
        let (tier, replica) = tier_and_replica(enc, sig, |_| {}).await;
        let signed_in = tier.sign_in(ALICE, ALICE_PASSWORD).await;
        assert_eq!(signed_in.status(), 303);
        let value = session_cookie(&tier, &signed_in);
        assert_eq!(sealed_alg(&value), "ECDH-ES+A256KW");
        let cookie = format!("{}={value}", tier.cookie_name());

        let verified = replica.get_with_cookie("/auth/verify", &cookie).await;
        assert_eq!(verified.status(), 200, "{enc:?}");
        assert_eq!(header(&verified, "x-auth-user"), Some(ALICE));

        // Sign-in starts, password posts, OAuth callbacks and token minting are refused.
        let page = replica.get("/auth/signin").await;
        assert_eq!(page.status(), 403);
        assert!(page.text().await.unwrap().contains("verify_only_replica"));
        let posted = replica.sign_in(ALICE, ALICE_PASSWORD).await;
        assert_eq!(posted.status(), 403);
        assert!(set_cookies(posted.headers()).is_empty(), "no cookie from a verify-only replica");
        for path in ["/auth/signin/corp", "/auth/callback/corp?code=c&state=s"] {
            let response =
                replica.client.get(replica.url(path)).header("accept", "application/json").send().await.unwrap();
            assert_eq!(response.status(), 403, "{path}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"], "verify_only_replica", "{path}");
        }
        let minted = replica
            .client
            .post(replica.url("/auth/tokens"))
            .header("cookie", &cookie)
            .json(&serde_json::json!({"name": "ci"}))
            .send()
            .await
            .unwrap();
        assert_eq!(minted.status(), 403);
        // Verifying, and the session endpoint, still work with the tier's cookie.
        let info = replica.get_with_cookie("/auth/session", &cookie).await;
        assert_eq!(info.status(), 200);
    }
}

#[tokio::test]
async fn a_verify_only_replica_sends_browsers_to_the_sign_in_tier_when_configured() {
    let (_tier, replica) = tier_and_replica(EncCurve::P256, SignAlg::Es256, |s| {
        s.session.signin_url = Some("https://login.example.com/auth/signin".into());
    })
    .await;
    let response = replica.get("/auth/signin?redirect_to=https%3A%2F%2Fapp.example.com%2F").await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "https://login.example.com/auth/signin?redirect_to=https%3A%2F%2Fapp.example.com%2F"
    );
    // A password post is still refused: it would mint a session here.
    assert_eq!(replica.sign_in(ALICE, ALICE_PASSWORD).await.status(), 403);
}

#[tokio::test]
async fn a_verify_only_replica_never_renews_and_the_session_ends_at_its_own_expiry() {
    let (tier, replica) = tier_and_replica(EncCurve::X25519, SignAlg::EdDsa, |_| {}).await;
    let value = session_cookie(&tier, &tier.sign_in(ALICE, ALICE_PASSWORD).await);
    let cookie = format!("{}={value}", tier.cookie_name());
    let idle = tier.settings.session.idle_lifetime.as_secs() as i64;
    // Past half the idle lifetime: the tier would renew; the replica does not.
    tier.clock.advance(idle / 2 + 10);
    let verified = replica.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(verified.status(), 200);
    assert!(set_cookies(verified.headers()).is_empty(), "no renewal on a verify-only replica");
    let renewed = tier.get_with_cookie("/auth/verify", &cookie).await;
    assert!(set_cookies(renewed.headers()).iter().any(|c| c.name == tier.cookie_name()), "the tier renews");
    // At its own expiry the session ends on the replica.
    tier.clock.advance(idle / 2);
    assert_eq!(replica.verify_cookie(&cookie).await, 401);
}

#[tokio::test]
async fn startup_accepts_a_key_file_without_the_signing_private_key_only_in_role_verify() {
    let dir = nested_dir(EncCurve::P256, SignAlg::Es256);
    let verify_path = dir.path().join("verify.jwks.json");
    keys::export_verify_only(&dir.path().join("keys.json"), &verify_path).unwrap();
    let clock = ManualClock::at(chrono::Utc::now().timestamp());

    let mut full = test_settings(&dir);
    nested(&mut full);
    full.keys.path = verify_path.clone();
    let refused = try_spawn_in(dir.clone(), full.clone(), clock.clone()).await.err().expect("refused in role full");
    assert!(refused.contains("cannot sign"), "{refused}");

    // ...and a verify-only replica refuses a key file that could mint.
    let mut leaky = test_settings(&dir);
    nested(&mut leaky);
    leaky.session.role = SessionRole::Verify;
    let refused = try_spawn_in(dir.clone(), leaky.clone(), clock.clone()).await.err().expect("refused in role verify");
    assert!(refused.contains("could mint"), "{refused}");
    // A verify-only replica in the sealed format makes no sense, and says so.
    leaky.keys.path = verify_path.clone();
    leaky.session.format = SessionFormat::Sealed;
    let refused = try_spawn_in(dir.clone(), leaky.clone(), clock.clone()).await.err().expect("refused");
    assert!(refused.contains("session.format"), "{refused}");

    leaky.session.format = SessionFormat::Nested;
    let replica = try_spawn_in(dir, leaky, clock).await.expect("role verify starts on the exported file");
    assert!(!replica.sessions.codec.can_mint());
    let session = replica.sessions.codec.start(User::new(ALICE), "cli", true, None).unwrap();
    assert!(replica.sessions.codec.seal(&session).is_err(), "a verify-only replica cannot seal a session");
}

/// A verify-only replica's key file is reloaded while it runs (on change and
/// on `SIGHUP`, through one check). A file that would give it a key that
/// mints (the tier's whole set; the export plus a symmetric root key; the
/// export with the signing private key put back) is refused whole, with an
/// error in the log, and the keys in force stay: it still opens the tier's
/// sessions and still renews none. A rotated export is taken.
#[tokio::test]
async fn a_verify_only_replica_refuses_a_reloaded_key_file_that_could_mint() {
    let (tier, replica) = tier_and_replica(EncCurve::P256, SignAlg::Es256, |s| {
        s.keys.reload_interval = Duration::from_millis(50);
    })
    .await;
    let cookie =
        format!("{}={}", tier.cookie_name(), session_cookie(&tier, &tier.sign_in(ALICE, ALICE_PASSWORD).await));
    assert_eq!(replica.verify_cookie(&cookie).await, 200);
    assert!(!replica.sessions.codec.can_mint());

    let tier_text = std::fs::read_to_string(&tier.keys_path).unwrap();
    let exported = std::fs::read_to_string(&replica.keys_path).unwrap();
    let signing_d = |file: &serde_json::Value| {
        file["keys"].as_array().unwrap().iter().find(|k| k["use"] == "sig").unwrap()["d"].clone()
    };
    let tier_file: serde_json::Value = serde_json::from_str(&tier_text).unwrap();
    let secret = signing_d(&tier_file);
    let with_signer = {
        let mut file: serde_json::Value = serde_json::from_str(&exported).unwrap();
        for key in file["keys"].as_array_mut().unwrap().iter_mut().filter(|k| k["use"] == "sig") {
            key["d"] = secret.clone();
        }
        file.to_string()
    };
    let with_root = {
        let mut set = JwkSet::from_json(&exported).unwrap();
        set.add_generated(KeyAlg::Dir, KeyState::Next);
        set.to_json()
    };
    let shown = replica.keys_path.display().to_string();
    let refusals = || {
        captured_logs()
            .lines()
            .filter(|line| line.contains("reload refused") && line.contains(&shown) && line.contains("could mint"))
            .count()
    };
    for (what, text) in
        [("the tier's key file", &tier_text), ("a root key", &with_root), ("the signing d", &with_signer)]
    {
        let before = refusals();
        std::fs::write(&replica.keys_path, text).unwrap();
        eventually(&format!("{what} is refused"), || async { refusals() > before }).await;
        assert!(!replica.sessions.codec.can_mint(), "{what}: the replica cannot mint");
        assert_eq!(replica.verify_cookie(&cookie).await, 200, "{what}: the keys in force stay");
    }
    // Past half the idle lifetime: with a signing key in force it would renew; it does not.
    replica.clock.advance(replica.settings.session.idle_lifetime.as_secs() as i64 / 2 + 10);
    let verified = replica.get_with_cookie("/auth/verify", &cookie).await;
    assert_eq!(verified.status(), 200);
    assert!(set_cookies(verified.headers()).is_empty(), "no renewal: no key that mints was taken in");
    assert!(!captured_logs().contains(secret.as_str().unwrap()), "the signing private key is never logged");

    // The tier rotates its key pairs; the new export is taken, and its sessions open on the replica.
    keys::keygen_pair(&tier.keys_path, PairKind::Enc(EncCurve::P256), PairKind::Sig(SignAlg::Es256), false).unwrap();
    keys::export_verify_only(&tier.keys_path, &replica.keys_path).unwrap();
    let rotated = keys::read_key_set(&tier.keys_path).unwrap();
    let lifetimes = Lifetimes { idle: 3600, absolute: 7200 };
    let codec =
        SessionCodec::in_format(&rotated, Arc::new(tier.clock.clone()), lifetimes, 16384, SessionFormat::Nested, false)
            .unwrap();
    let session = codec.start(User::new(ALICE), "credentials", true, None).unwrap();
    let rotated_cookie = format!("{}={}", tier.cookie_name(), codec.seal(&session).unwrap());
    eventually("the rotated export is taken", || async { replica.verify_cookie(&rotated_cookie).await == 200 }).await;
    assert_eq!(replica.verify_cookie(&cookie).await, 200, "sessions of the previous keys still open");
    assert!(!replica.sessions.codec.can_mint());
}

/// The verify-only key file with its signing key's public half replaced by
/// a forger's own key pair (same kid, or its own), and a symmetric root key
/// added: everything a forger could hold. Returns codecs that seal with it.
fn forgers(verify_file: &Path, clock: &ManualClock) -> Vec<SessionCodec> {
    let text = std::fs::read_to_string(verify_file).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut forger = JwkSet::from_json(&text).unwrap();
    let theirs_kid = forger.add_generated_pair(PairKind::Sig(SignAlg::Es256), KeyState::Current).unwrap();
    forger.add_generated(KeyAlg::Dir, KeyState::Current);
    let theirs: serde_json::Value = serde_json::from_str(&forger.to_json()).unwrap();
    let their_sig =
        theirs["keys"].as_array().unwrap().iter().find(|k| k["kid"] == theirs_kid.as_str()).unwrap().clone();
    // Their key pair under our signing kid.
    for key in file["keys"].as_array_mut().unwrap() {
        if key["use"] == "sig" {
            let kid = key["kid"].clone();
            *key = their_sig.clone();
            key["kid"] = kid;
            key["sealgate_state"] = "current".into();
        }
    }
    let same_kid = JwkSet::from_json(&file.to_string()).unwrap();
    let lifetimes = Lifetimes { idle: 3600, absolute: 7200 };
    let codec = |set: &JwkSet, format| {
        SessionCodec::in_format(set, Arc::new(clock.clone()), lifetimes, 16384, format, false).unwrap()
    };
    vec![
        codec(&same_kid, SessionFormat::Nested),
        codec(&forger, SessionFormat::Nested),
        codec(&forger, SessionFormat::Sealed),
    ]
}

#[tokio::test]
async fn a_cookie_forged_with_another_signing_key_is_refused_everywhere() {
    let (tier, replica) = tier_and_replica(EncCurve::P256, SignAlg::Es256, |_| {}).await;
    for (i, forger) in forgers(&replica.keys_path, &tier.clock).into_iter().enumerate() {
        let session = forger.start(User::new(ALICE), "credentials", true, None).unwrap();
        let value = forger.seal(&session).unwrap();
        assert!(forger.open(&value).is_ok(), "the forger's own cookie opens for the forger");
        let cookie = format!("{}={value}", tier.cookie_name());
        assert_eq!(replica.verify_cookie(&cookie).await, 401, "forger {i} on the replica");
        assert_eq!(tier.verify_cookie(&cookie).await, 401, "forger {i} on the tier");
    }
}

#[tokio::test]
async fn switching_formats_is_a_rotation_in_both_directions() {
    let dir = nested_dir(EncCurve::P256, SignAlg::Es256);
    let clock = ManualClock::at(chrono::Utc::now().timestamp());
    let sealed_settings = test_settings(&dir);
    let mut nested_settings = sealed_settings.clone();
    nested(&mut nested_settings);
    let sealed_app = spawn_in(dir.clone(), sealed_settings.clone(), clock.clone()).await;
    let nested_app = spawn_in(dir.clone(), nested_settings.clone(), clock.clone()).await;

    let sealed = session_cookie(&sealed_app, &sealed_app.sign_in(ALICE, ALICE_PASSWORD).await);
    let nested_value = session_cookie(&nested_app, &nested_app.sign_in(ALICE, ALICE_PASSWORD).await);
    assert_eq!(sealed_alg(&sealed), "dir");
    assert_eq!(sealed_alg(&nested_value), "ECDH-ES+A256KW");
    let name = sealed_app.cookie_name();
    let (sealed, nested_cookie) = (format!("{name}={sealed}"), format!("{name}={nested_value}"));
    // Both open on both while keys of each kind are present.
    for app in [&sealed_app, &nested_app] {
        assert_eq!(app.verify_cookie(&sealed).await, 200);
        assert_eq!(app.verify_cookie(&nested_cookie).await, 200);
    }
    // Once the switch is done (accept_other_format = false), the other format is refused.
    let mut done = nested_settings.clone();
    done.session.accept_other_format = false;
    let nested_only = spawn_in(dir.clone(), done, clock.clone()).await;
    assert_eq!(nested_only.verify_cookie(&nested_cookie).await, 200);
    assert_eq!(nested_only.verify_cookie(&sealed).await, 401);
    let mut back = sealed_settings.clone();
    back.session.accept_other_format = false;
    let sealed_only = spawn_in(dir, back, clock).await;
    assert_eq!(sealed_only.verify_cookie(&sealed).await, 200);
    assert_eq!(sealed_only.verify_cookie(&nested_cookie).await, 401);
}

#[tokio::test]
async fn flow_cookies_and_api_tokens_stay_symmetric_and_are_not_sessions() {
    let dir = nested_dir(EncCurve::X25519, SignAlg::EdDsa);
    let mut settings = test_settings(&dir);
    nested(&mut settings);
    let app = spawn_in(dir, settings, ManualClock::at(chrono::Utc::now().timestamp())).await;
    let (token, _) = app.sessions.api_tokens.mint(User::new(ALICE), "ci", Vec::new(), 3600).unwrap();
    assert_eq!(sealed_alg(&token), "dir", "API tokens are sealed with the symmetric key");
    let bearer = app.client.get(app.url("/auth/verify")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(bearer.status(), 200);
    assert_eq!(app.verify_cookie(&format!("{}={token}", app.cookie_name())).await, 401, "an API token is no session");
}
