//! `Authorization: Bearer` at `/auth/verify`: send a token, assert one is
//! refused, and build the base64url JSON parts of a forged JWT.

use crate::helpers::{header, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The challenge of a 401 for a bearer token that is not accepted.
pub const INVALID_TOKEN: &str = "Bearer realm=\"sealgate\", error=\"invalid_token\"";

/// `GET /auth/verify` with `token` as bearer, and no cookie.
pub async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/auth/verify"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

/// `token` is refused as `invalid_token`, with no identity (`why` names the case).
pub async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let response = verify(app, token).await;
    assert_eq!(response.status(), 401, "{why}");
    assert_eq!(header(&response, "www-authenticate"), Some(INVALID_TOKEN), "{why}");
    assert_eq!(header(&response, "x-auth-user"), None, "{why}");
}

/// `value` as JSON, base64url without padding (a JWT header or payload).
pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}
