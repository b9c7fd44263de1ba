//! The one place where errors become HTTP responses.
//!
//! Bad client input is a 4xx with a short JSON body naming a stable error
//! code. A 401 carries `WWW-Authenticate`. A 500 has an empty body, and its
//! cause is logged here, once, without secrets.

use actix_web::body::BoxBody;
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("the Bearer token is invalid")]
    InvalidToken,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A 400 that says why, in fixed words (never echoing the request), as
    /// OpenID Connect Back-Channel Logout 1.0 (2.8) asks of a refused logout.
    #[error("bad request: {code}: {description}")]
    BadRequestBecause { code: &'static str, description: &'static str },
    /// A sign-in that could not start, answered as JSON (a client that
    /// asked for it): 400 with the sign-in page's `?error=` code.
    #[error("sign-in failed: {0}")]
    SigninFailed(String),
    /// A password sign-in refused (wrong password, a hook's denial), as
    /// JSON: 401 with the sign-in page's `?error=` code.
    #[error("sign-in refused: {0}")]
    SigninRefused(String),
    #[error("payload too large")]
    TooLarge,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// Too many failed sign-ins: 429, `Retry-After` and
    /// `{"error":"rate_limited","retry_after":N}`.
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// Too much work already waiting (password checks); try again shortly.
    #[error("overloaded")]
    Overloaded { retry_after_secs: u64 },
    #[error("the provider's access token has expired and cannot be refreshed")]
    TokenExpired,
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The request clashes with what exists (a username already taken): 409.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn internal(error: impl std::fmt::Display) -> AppError {
        AppError::Internal(anyhow::anyhow!("{error}"))
    }

    /// The stable code in the response body.
    pub fn code(&self) -> &str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidToken => "invalid_token",
            AppError::Forbidden(code)
            | AppError::BadRequest(code)
            | AppError::NotFound(code)
            | AppError::Conflict(code)
            | AppError::Unavailable(code) => code,
            AppError::BadRequestBecause { code, .. } => code,
            AppError::SigninFailed(code) | AppError::SigninRefused(code) => code,
            AppError::TokenExpired => "token_expired",
            AppError::TooLarge => "payload_too_large",
            AppError::RequestTimeout => "request_timeout",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Overloaded { .. } => "overloaded",
            AppError::Internal(_) => "internal",
        }
    }
}

/// The realm in `WWW-Authenticate` challenges.
pub const CHALLENGE: &str = "Bearer realm=\"sealgate\"";
const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"sealgate\", error=\"invalid_token\"";
const TOKEN_EXPIRED_CHALLENGE: &str =
    "Bearer realm=\"sealgate\", error=\"invalid_token\", error_description=\"the provider token has expired\"";

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated
            | AppError::TokenExpired
            | AppError::InvalidToken
            | AppError::SigninRefused(_) => StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unavailable(_) | AppError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) | AppError::BadRequestBecause { .. } | AppError::SigninFailed(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            AppError::Internal(cause) => {
                tracing::error!(error = %cause, "request failed");
                return HttpResponse::new(self.status_code());
            }
            // The hot path's answer to every anonymous request: no allocation.
            AppError::Unauthenticated => BoxBody::new(r#"{"error":"unauthenticated"}"#),
            AppError::BadRequestBecause { code, description } => {
                BoxBody::new(serde_json::json!({ "error": code, "error_description": description }).to_string())
            }
            AppError::SigninFailed(code) | AppError::SigninRefused(code) => {
                BoxBody::new(serde_json::json!({ "error": code }).to_string())
            }
            AppError::RateLimited { retry_after_secs } => {
                BoxBody::new(format!(r#"{{"error":"rate_limited","retry_after":{retry_after_secs}}}"#))
            }
            // Codes are fixed identifiers, so no escaping is needed.
            other => BoxBody::new(format!(r#"{{"error":"{}"}}"#, other.code())),
        };
        let challenge = match self {
            // A refused sign-in: the client may sign in again, or use a Bearer token.
            AppError::Unauthenticated | AppError::SigninRefused(_) => Some(CHALLENGE),
            AppError::InvalidToken => Some(INVALID_TOKEN_CHALLENGE),
            AppError::TokenExpired => Some(TOKEN_EXPIRED_CHALLENGE),
            _ => None,
        };
        let mut response = HttpResponse::with_body(self.status_code(), body);
        // A fresh map and distinct names: `append` gives the map `insert`
        // would, without moving out a replaced value (this is the hot path's 401).
        let headers = response.headers_mut();
        if let Some(challenge) = challenge {
            headers.append(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let AppError::RateLimited { retry_after_secs } | AppError::Overloaded { retry_after_secs } = self {
            headers.append(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The rest of a refused body is not read: the connection cannot be reused.
        if matches!(self, AppError::TooLarge | AppError::RequestTimeout) {
            response.head_mut().set_connection_type(ConnectionType::Close);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::http::header::HeaderName;

    #[test]
    fn internal_errors_have_an_empty_body() {
        let response = AppError::internal("database password is hunter2").error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.into_body().try_into_bytes().unwrap().is_empty());
    }

    fn once(response: &HttpResponse, name: HeaderName) -> Option<&str> {
        let mut values = response.headers().get_all(&name);
        let value = values.next().map(|v| v.to_str().unwrap());
        assert!(values.next().is_none(), "{name} sent twice");
        value
    }

    #[test]
    fn every_error_answers_with_its_code_and_headers_each_sent_once() {
        let cases = [
            (AppError::Unauthenticated, 401, Some(CHALLENGE), None),
            (AppError::InvalidToken, 401, Some(INVALID_TOKEN_CHALLENGE), None),
            (AppError::TokenExpired, 401, Some(TOKEN_EXPIRED_CHALLENGE), None),
            (AppError::Forbidden("forbidden"), 403, None, None),
            (AppError::Conflict("username_taken"), 409, None, None),
            (AppError::Overloaded { retry_after_secs: 1 }, 503, None, Some("1")),
            (AppError::TooLarge, 413, None, None),
            (AppError::RequestTimeout, 408, None, None),
        ];
        for (error, status, challenge, retry_after) in cases {
            let code = error.code();
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(once(&response, WWW_AUTHENTICATE), challenge, "{code}");
            assert_eq!(once(&response, RETRY_AFTER), retry_after, "{code}");
            assert_eq!(once(&response, CACHE_CONTROL), Some("no-store"), "{code}");
            assert_eq!(once(&response, CONTENT_TYPE), Some("application/json"), "{code}");
            let body = response.into_body().try_into_bytes().unwrap();
            assert_eq!(body, format!(r#"{{"error":"{code}"}}"#).as_bytes(), "{code}");
        }
    }

    #[test]
    fn a_rate_limited_or_failed_sign_in_says_so_as_json() {
        let response = AppError::RateLimited { retry_after_secs: 900 }.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(once(&response, RETRY_AFTER), Some("900"));
        let body = response.into_body().try_into_bytes().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, serde_json::json!({"error": "rate_limited", "retry_after": 900}));

        let response = AppError::SigninRefused("invalid_credentials".into()).error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(once(&response, WWW_AUTHENTICATE), Some(CHALLENGE));
        let body = response.into_body().try_into_bytes().unwrap();
        assert_eq!(body, r#"{"error":"invalid_credentials"}"#.as_bytes());
    }

    #[test]
    fn a_described_bad_request_says_why_as_json() {
        let error = AppError::BadRequestBecause { code: "invalid_request", description: "the \"token\" is bad" };
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(once(&response, CACHE_CONTROL), Some("no-store"));
        let body = response.into_body().try_into_bytes().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, serde_json::json!({"error": "invalid_request", "error_description": "the \"token\" is bad"}));
    }

    #[test]
    fn unauthenticated_carries_a_challenge() {
        let response = AppError::Unauthenticated.error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get(WWW_AUTHENTICATE).unwrap(), CHALLENGE);
    }
}
