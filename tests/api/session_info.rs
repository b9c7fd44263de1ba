//! `/auth/session`: JSON for single-page apps, never tokens; a session
//! once per key algorithm.

use crate::helpers::{spawn_app, Spawn};
use crate::support::per_key_alg;
use sealgate::crypto::keys::KeyAlg;

per_key_alg!(a_session_is_described_without_its_tokens);
use sealgate::crypto::ProviderTokens;
use sealgate::identity::User;
use secrecy::SecretString;

#[tokio::test]
async fn anonymous_is_not_authenticated() {
    let app = spawn_app().await;
    let body: serde_json::Value = app.get("/auth/session").await.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "authenticated": false }));
}

async fn a_session_is_described_without_its_tokens(alg: KeyAlg) {
    let app = Spawn::new().alg(alg).run().await;
    let tokens = ProviderTokens {
        access_token: SecretString::from("AT-must-not-leak".to_owned()),
        token_type: "Bearer".into(),
        refresh_token: Some(SecretString::from("RT-must-not-leak".to_owned())),
        id_token: Some(SecretString::from("IDT-must-not-leak".to_owned())),
        expires_at: None,
        obtained_at: sealgate::clock::Clock::now(&app.clock),
        scope: None,
    };
    let mut user = User::new("erin-sub");
    user.email = Some("erin@example.com".into());
    user.groups = vec!["ops".into()];
    let session = app.sessions.codec.start(user, "corp", true, Some(&tokens)).unwrap();
    let response = app.get_with_cookie("/auth/session", &app.cookie_for(&session)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("must-not-leak") && !text.contains("\"tok\""), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["provider"], "corp");
    assert_eq!(body["user"]["id"], "erin-sub");
    assert_eq!(body["user"]["email"], "erin@example.com");
    assert_eq!(body["user"]["groups"], serde_json::json!(["ops"]));
    let created = chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(created.timestamp(), session.created_at);
    assert_eq!(expires.timestamp(), session.expires_at);
}
