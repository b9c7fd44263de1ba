//! The app's say in sign-in (`[hooks]`): the sign-in hook, asked about
//! every sign-in before its session is sealed ([`Hooks::apply`], the one
//! call), and the app's own error page for sign-in errors.
//!
//! The hook is POSTed JSON, signed (`signature`):
//!
//! ```json
//! {"v": 1, "event": "signin", "provider": "corp",
//!  "profile": {"sub": "...", "email": "..."},     the provider's claims (null for password sign-in)
//!  "user": {"id": "...", "email": "...", ...}}    the user sealgate would sign in
//! ```
//!
//! and answers as `answer` describes. Provider tokens are never sent (nor
//! the ID token's `nonce`, `at_hash`, `c_hash`). A hook that cannot be
//! asked — down, slower than `hooks.timeout`, not 2xx, over 64 KB, a
//! malformed answer — fails, and `hooks.on_failure` says what that means.

mod answer;
pub mod signature;

pub use answer::{AnswerError, DenyCode};

use crate::clock::SharedClock;
use crate::config::hooks::{HookSettings, OnFailure};
use crate::identity::User;
use answer::Answer;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Largest answer read from the sign-in hook.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The request's version (`v`).
pub const REQUEST_VERSION: u8 = 1;
/// ID token claims that are the flow's, not the person's, and stay here.
const FLOW_CLAIMS: [&str; 3] = ["nonce", "at_hash", "c_hash"];

/// A sign-in about to be sealed, as the hook is asked about it.
#[derive(Debug)]
pub struct Profile<'a> {
    /// `credentials` for a password sign-in.
    pub provider: &'a str,
    /// The provider's claims the user was made from, if it has any.
    pub claims: Option<&'a Value>,
    pub user: User,
    /// A password sign-in (its user id is the users-file account's, and stays).
    pub password: bool,
}

/// Why the hooks refused a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The hook said no, with this code.
    Denied(DenyCode),
    /// The hook could not be asked, and `hooks.on_failure = "deny"`.
    Failed,
}

#[derive(Debug, thiserror::Error)]
enum HookError {
    #[error("the hook could not be reached: {0}")]
    Unreachable(String),
    #[error("the hook did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the hook answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the hook's answer is over {MAX_ANSWER} bytes")]
    TooLarge,
    #[error("the request could not be signed")]
    Signing,
    #[error(transparent)]
    Answer(#[from] AnswerError),
}

#[derive(Serialize)]
struct Request<'a> {
    v: u8,
    event: &'static str,
    provider: &'a str,
    profile: Option<Value>,
    user: &'a User,
}

struct SigninHook {
    url: Url,
    secret: SecretString,
    timeout: Duration,
    on_failure: OnFailure,
}

impl std::fmt::Debug for SigninHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigninHook")
            .field("url", &self.url.as_str())
            .field("timeout", &self.timeout)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// The configured hooks.
pub struct Hooks {
    signin: Option<SigninHook>,
    error_page: Option<String>,
    http: reqwest::Client,
    clock: SharedClock,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("signin", &self.signin)
            .field("error_page", &self.error_page)
            .finish_non_exhaustive()
    }
}

impl Hooks {
    /// The hooks of validated settings, calling out through `http`.
    pub fn new(settings: &HookSettings, clock: SharedClock, http: reqwest::Client) -> Result<Hooks, String> {
        let signin = match &settings.signin {
            None => None,
            Some(target) => {
                let url = Url::parse(&target.url).map_err(|e| format!("hooks.signin.url: {e}"))?;
                let secret = settings.secret.as_ref().ok_or("hooks.secret is required with hooks.signin")?;
                let secret = secret.resolve().map_err(|e| format!("hooks.secret: {e}"))?;
                Some(SigninHook { url, secret, timeout: settings.timeout, on_failure: settings.on_failure })
            }
        };
        Ok(Hooks { signin, error_page: settings.error_url().map(str::to_owned), http, clock })
    }

    /// Whether a sign-in hook is configured (so a deny code may be shown).
    pub fn asks(&self) -> bool {
        self.signin.is_some()
    }

    /// The app's error page for sign-in errors (`hooks.error.url`).
    pub fn error_page(&self) -> Option<&str> {
        self.error_page.as_deref()
    }

    /// The user to seal for this sign-in: as the hook changed it, or
    /// unchanged without a hook (or with a failed one and `on_failure =
    /// "allow"`); a [`Refusal`] when the hook denies it or fails with
    /// `on_failure = "deny"`.
    #[tracing::instrument(skip_all, fields(provider = profile.provider))]
    pub async fn apply(&self, profile: Profile<'_>) -> Result<User, Refusal> {
        let Some(hook) = &self.signin else { return Ok(profile.user) };
        let answer = match tokio::time::timeout(hook.timeout, self.ask(hook, &profile)).await {
            Ok(answer) => answer,
            Err(_) => Err(HookError::TimedOut(hook.timeout)),
        };
        let changed = answer.and_then(|answer| match answer {
            Answer::Deny(code) => Ok(Err(code)),
            Answer::Change { user, groups, claims } => {
                Ok(Ok(answer::change(profile.user.clone(), user, groups, claims, profile.password)?))
            }
        });
        match changed {
            Ok(Ok(user)) => Ok(user),
            Ok(Err(code)) => {
                tracing::info!(user = %profile.user.id, code = code.as_str(), "the sign-in hook denied the sign-in");
                Err(Refusal::Denied(code))
            }
            Err(error) => {
                tracing::warn!(user = %profile.user.id, %error, on_failure = ?hook.on_failure, "the sign-in hook failed");
                match hook.on_failure {
                    OnFailure::Deny => Err(Refusal::Failed),
                    OnFailure::Allow => Ok(profile.user),
                }
            }
        }
    }

    async fn ask(&self, hook: &SigninHook, profile: &Profile<'_>) -> Result<Answer, HookError> {
        let claims = profile.claims.cloned().map(|mut claims| {
            if let Value::Object(map) = &mut claims {
                for name in FLOW_CLAIMS {
                    map.remove(name);
                }
            }
            claims
        });
        let request = Request {
            v: REQUEST_VERSION,
            event: "signin",
            provider: profile.provider,
            profile: claims,
            user: &profile.user,
        };
        let body = serde_json::to_vec(&request).map_err(|_| HookError::Signing)?;
        let signed = signature::sign(&hook.secret, self.clock.now(), &body).ok_or(HookError::Signing)?;
        let response = self
            .http
            .post(hook.url.clone())
            .timeout(hook.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .header(signature::HEADER, signed)
            .body(body)
            .send()
            .await
            .map_err(|e| HookError::Unreachable(crate::providers::describe_http_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(HookError::Status(status));
        }
        let body = read_limited(response).await?;
        Ok(Answer::parse(&body)?)
    }
}

/// The answer's body, refused past [`MAX_ANSWER`] bytes.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, HookError> {
    if response.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(HookError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| HookError::Unreachable(crate::providers::describe_http_error(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(HookError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hooks::HookTarget;
    use crate::config::SecretSource;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = "a-hook-secret-of-at-least-32-bytes-long";
        let settings = HookSettings {
            secret: Some(SecretSource::Inline(SecretString::from(secret))),
            signin: Some(HookTarget { url: "http://127.0.0.1:9/hook".into() }),
            ..HookSettings::default()
        };
        let hooks =
            Hooks::new(&settings, std::sync::Arc::new(crate::clock::ManualClock::at(0)), reqwest::Client::new());
        let shown = format!("{:?} {settings:?}", hooks.unwrap());
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("127.0.0.1:9/hook"), "{shown}");
    }
}
