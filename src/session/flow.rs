//! The sign-in flow cookie: what a started OAuth sign-in must remember until
//! its callback (state, nonce, PKCE verifier, provider, `redirect_to`),
//! sealed with its own purpose key and alive for minutes.
//!
//! Each flow has its own cookie, named after the start of its `state`, so two
//! sign-ins started in two tabs can both finish.

use crate::clock::SharedClock;
use crate::jwe::{OpenError, SealError, Sealer};
use crate::keys::{JwkSet, Purpose};
use crate::session::cookie::CookieSpec;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie};
use serde::{Deserialize, Serialize};

pub const FLOW_VERSION: u8 = 1;
/// How many characters of the state name the cookie.
const NAME_CHARS: usize = 16;

/// A started sign-in.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    v: u8,
    typ: String,
    /// The provider the sign-in was started with; the callback must be for it.
    pub provider: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<String>,
    pub redirect_to: String,
    pub iat: i64,
    pub exp: i64,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").field("provider", &self.provider).field("redirect_to", &self.redirect_to).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("the flow cookie does not open: {0}")]
    Sealed(#[from] OpenError),
    #[error("the flow cookie is not a flow")]
    Payload,
    #[error("the flow has expired")]
    Expired,
}

pub struct FlowCodec {
    sealer: Sealer,
    clock: SharedClock,
    lifetime: i64,
}

impl std::fmt::Debug for FlowCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowCodec").field("lifetime", &self.lifetime).finish()
    }
}

/// The flow cookie's name for a given state.
pub fn cookie_name(cookies: &CookieSpec, state: &str) -> String {
    let prefix: String =
        state.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(NAME_CHARS).collect();
    format!("{}-flow-{prefix}", cookies.name)
}

impl FlowCodec {
    pub fn new(keys: &JwkSet, clock: SharedClock, lifetime: i64) -> Result<FlowCodec, SealError> {
        Ok(FlowCodec { sealer: Sealer::new(keys, Purpose::Flow, 8 * 1024)?, clock, lifetime })
    }

    pub fn start(
        &self,
        provider: &str,
        state: String,
        nonce: Option<String>,
        pkce_verifier: Option<String>,
        redirect_to: String,
    ) -> Flow {
        let now = self.clock.now();
        Flow {
            v: FLOW_VERSION,
            typ: Purpose::Flow.label().into(),
            provider: provider.into(),
            state,
            nonce,
            pkce_verifier,
            redirect_to,
            iat: now,
            exp: now + self.lifetime,
        }
    }

    pub fn seal(&self, flow: &Flow) -> Result<String, SealError> {
        self.sealer.seal(&serde_json::to_vec(flow).map_err(|_| SealError::Encrypt)?)
    }

    pub fn open(&self, token: &str) -> Result<Flow, FlowError> {
        let flow: Flow = serde_json::from_slice(&self.sealer.open(token)?).map_err(|_| FlowError::Payload)?;
        if flow.v != FLOW_VERSION || flow.typ != Purpose::Flow.label() {
            return Err(FlowError::Payload);
        }
        if self.clock.now() >= flow.exp {
            return Err(FlowError::Expired);
        }
        Ok(flow)
    }

    /// The cookie that carries `flow`.
    pub fn cookie(&self, cookies: &CookieSpec, flow: &Flow, value: String) -> Cookie<'static> {
        let mut cookie = cookies.build(cookie_name(cookies, &flow.state), value);
        cookie.set_max_age(CookieDuration::seconds(self.lifetime));
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::KeyAlg;
    use std::sync::Arc;

    #[test]
    fn a_flow_expires_and_never_opens_as_a_session() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(1000);
        let codec = FlowCodec::new(&keys, Arc::new(clock.clone()), 600).unwrap();
        let flow = codec.start("corp", "state-1".into(), Some("n".into()), Some("v".into()), "/".into());
        let token = codec.seal(&flow).unwrap();
        assert_eq!(codec.open(&token).unwrap().state, "state-1");
        let session_sealer = Sealer::new(&keys, Purpose::Session, 8192).unwrap();
        assert!(session_sealer.open(&token).is_err());
        clock.advance(600);
        assert_eq!(codec.open(&token).unwrap_err(), FlowError::Expired);
    }
}
