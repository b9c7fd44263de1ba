//! The sign-in flow cookie: what a started OAuth sign-in must remember until
//! its callback (state, nonce, PKCE verifier, provider, `redirect_to` (or
//! `success_to`), `failure_to`),
//! sealed with its own purpose key and alive for minutes.
//!
//! A browser holds at most [`MAX_FLOWS`] flow cookies, in named slots
//! (`NAME-flow-1` ..= `NAME-flow-3`), so sign-ins started in several tabs can
//! all finish, while a page that starts sign-ins over and over (a "cookie
//! bomb") only ever replaces the oldest: the slot names are fixed, so even
//! starts sent in parallel cannot grow the cookie jar past them. The callback
//! finds its flow among the slots by `state`, compared in constant time.

use crate::clock::SharedClock;
use crate::crypto::jwe::{OpenError, SealError, Sealer};
use crate::crypto::keys::{JwkSet, Purpose};
use crate::session::cookie::find_cookie;
use crate::session::cookie::CookieSpec;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie};
use actix_web::HttpRequest;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::ConstantTimeEq;

pub const FLOW_VERSION: u8 = 1;
/// The most flow cookies (sign-ins in progress) a browser holds at once.
pub const MAX_FLOWS: usize = 3;

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
    pub nonce: Option<FlowSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<FlowSecret>,
    /// Where the person goes once signed in (`success_to`, else `redirect_to`).
    pub redirect_to: String,
    /// Where the person goes if the sign-in fails (`failure_to`), with `?error=CODE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_to: Option<String>,
    /// A link flow (`GET /auth/link/{id}`): the id of the signed-in session
    /// that started it, which alone may finish it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub iat: i64,
    /// Orders flows started within the same second (by this process), so
    /// the oldest is the one replaced.
    #[serde(default)]
    pub seq: u64,
    pub exp: i64,
}

/// A one-use secret the flow carries to its callback (the OIDC nonce, the
/// PKCE verifier): redacted in `Debug`, exposed only where it is sent.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct FlowSecret(SecretString);

impl FlowSecret {
    pub fn new(value: String) -> FlowSecret {
        FlowSecret(SecretString::from(value))
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Sealed into the flow cookie, so written out whole (JWE-encrypted).
impl Serialize for FlowSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

impl std::fmt::Debug for FlowSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("provider", &self.provider)
            .field("redirect_to", &self.redirect_to)
            .field("failure_to", &self.failure_to)
            .field("link", &self.link.is_some())
            .finish()
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
    started: AtomicU64,
}

impl std::fmt::Debug for FlowCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowCodec").field("lifetime", &self.lifetime).finish()
    }
}

/// The name of flow slot `slot` (1 ..= [`MAX_FLOWS`]).
pub fn slot_name(cookies: &CookieSpec, slot: usize) -> String {
    format!("{}-flow-{slot}", cookies.name)
}

/// One flow cookie a request carried: its name, and what opening it gave.
#[derive(Debug)]
pub struct Carried {
    pub name: String,
    pub flow: Result<Flow, FlowError>,
}

/// What a callback's `state` found among the flow cookies.
#[derive(Debug)]
pub enum Found {
    /// The flow whose state it is, and the name of its cookie.
    Flow { name: String, flow: Flow },
    /// Live flows, none with this state (tampered, or another browser's).
    /// The newest of them says where to send the person.
    Mismatch { newest: Flow },
    /// No live flow at all; these cookies were expired or did not open.
    Nothing { dead: Vec<String> },
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl FlowCodec {
    pub fn new(keys: &JwkSet, clock: SharedClock, lifetime: i64) -> Result<FlowCodec, SealError> {
        Ok(FlowCodec {
            sealer: Sealer::new(keys, Purpose::Flow, 8 * 1024)?,
            clock,
            lifetime,
            started: AtomicU64::new(0),
        })
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
            nonce: nonce.map(FlowSecret::new),
            pkce_verifier: pkce_verifier.map(FlowSecret::new),
            redirect_to,
            failure_to: None,
            link: None,
            iat: now,
            seq: self.started.fetch_add(1, Ordering::Relaxed),
            exp: now + self.lifetime,
        }
    }

    /// `flow`, sending the person to `failure_to` if the sign-in fails.
    pub fn failing_to(&self, mut flow: Flow, failure_to: Option<String>) -> Flow {
        flow.failure_to = failure_to;
        flow
    }

    /// `flow`, linking its provider to the session `session_id` instead of signing in.
    pub fn linking(&self, mut flow: Flow, session_id: &str) -> Flow {
        flow.link = Some(session_id.into());
        flow
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

    /// The flow cookies `req` carries, each opened.
    pub fn carried(&self, cookies: &CookieSpec, req: &HttpRequest) -> Vec<Carried> {
        (1..=MAX_FLOWS)
            .filter_map(|slot| {
                let name = slot_name(cookies, slot);
                let flow = self.open(find_cookie(req, &name)?);
                Some(Carried { name, flow })
            })
            .collect()
    }

    /// The cookie that carries a new flow, sealed as `value`: in a free
    /// slot, else in a slot whose flow is dead, else in the oldest flow's.
    pub fn cookie(&self, cookies: &CookieSpec, carried: &[Carried], value: String) -> Cookie<'static> {
        // A free slot first, then a dead flow's, then the oldest live flow's.
        let rank = |name: &str| match carried.iter().find(|c| c.name == name).map(|c| c.flow.as_ref()) {
            None => (0, 0, 0),
            Some(Err(_)) => (1, 0, 0),
            Some(Ok(flow)) => (2, flow.iat, flow.seq),
        };
        let name = (1..=MAX_FLOWS)
            .map(|slot| slot_name(cookies, slot))
            .min_by_key(|name| rank(name))
            .unwrap_or_else(|| slot_name(cookies, 1));
        let mut cookie = cookies.build(name, value);
        cookie.set_max_age(CookieDuration::seconds(self.lifetime));
        cookie
    }
}

/// The flow among `carried` whose state is `state`.
pub fn find(carried: Vec<Carried>, state: &str) -> Found {
    let mut newest: Option<Flow> = None;
    let mut dead = Vec::new();
    for Carried { name, flow } in carried {
        match flow {
            Ok(flow) if same(&flow.state, state) => return Found::Flow { name, flow },
            Ok(flow) => {
                if newest.as_ref().is_none_or(|n| (n.iat, n.seq) <= (flow.iat, flow.seq)) {
                    newest = Some(flow);
                }
            }
            Err(_) => dead.push(name),
        }
    }
    match newest {
        Some(newest) => Found::Mismatch { newest },
        None => Found::Nothing { dead },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::keys::KeyAlg;
    use std::sync::Arc;

    #[test]
    fn a_flow_expires_and_never_opens_as_a_session() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(1000);
        let codec = FlowCodec::new(&keys, Arc::new(clock.clone()), 600).unwrap();
        let flow = codec.start("corp", "state-1".into(), Some("n".into()), Some("v".into()), "/".into());
        let token = codec.seal(&flow).unwrap();
        let opened = codec.open(&token).unwrap();
        assert_eq!(opened.state, "state-1");
        assert_eq!(opened.pkce_verifier.as_ref().map(FlowSecret::expose_secret), Some("v"));
        assert_eq!(format!("{:?} {:?}", opened.nonce, opened.pkce_verifier), "Some([redacted]) Some([redacted])");
        let session_sealer = Sealer::new(&keys, Purpose::Session, 8192).unwrap();
        assert!(session_sealer.open(&token).is_err());
        clock.advance(600);
        assert_eq!(codec.open(&token).unwrap_err(), FlowError::Expired);
    }

    #[test]
    fn a_flow_carries_its_failure_target_and_older_flows_still_open() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let codec = FlowCodec::new(&keys, Arc::new(ManualClock::at(1000)), 600).unwrap();
        let flow = codec.start("corp", "s".into(), None, None, "/ok".into());
        let flow = codec.failing_to(flow, Some("/failed?x=1".into()));
        let opened = codec.open(&codec.seal(&flow).unwrap()).unwrap();
        assert_eq!((opened.redirect_to.as_str(), opened.failure_to.as_deref()), ("/ok", Some("/failed?x=1")));
        // A flow sealed before `failure_to` existed has none.
        let plain = codec.start("corp", "s".into(), None, None, "/".into());
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("failure_to"), "{json}");
        let old = codec.sealer.seal(json.as_bytes()).unwrap();
        assert_eq!(codec.open(&old).unwrap().failure_to, None);
    }

    fn spec() -> CookieSpec {
        let mut settings = crate::config::Settings::from_toml("mode = \"development\"").unwrap();
        settings.cookie.insecure_http = true;
        CookieSpec::from_settings(&settings)
    }

    #[test]
    fn a_new_flow_takes_a_free_slot_then_a_dead_one_then_the_oldest() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(1000);
        let codec = FlowCodec::new(&keys, Arc::new(clock.clone()), 600).unwrap();
        let cookies = spec();
        let live = |name: &str, iat: i64| {
            let mut flow = codec.start("corp", format!("state-{iat}"), None, None, "/".into());
            flow.iat = iat;
            Carried { name: name.into(), flow: Ok(flow) }
        };
        let dead = |name: &str| Carried { name: name.into(), flow: Err(FlowError::Expired) };
        let slot = |carried: &[Carried]| codec.cookie(&cookies, carried, "v".into()).name().to_owned();

        assert_eq!(slot(&[]), "sealgate-flow-1");
        assert_eq!(slot(&[live("sealgate-flow-1", 5)]), "sealgate-flow-2");
        assert_eq!(slot(&[live("sealgate-flow-1", 5), dead("sealgate-flow-2")]), "sealgate-flow-3");
        let full = [live("sealgate-flow-1", 7), dead("sealgate-flow-2"), live("sealgate-flow-3", 6)];
        assert_eq!(slot(&full), "sealgate-flow-2");
        let full = [live("sealgate-flow-1", 7), live("sealgate-flow-2", 5), live("sealgate-flow-3", 6)];
        assert_eq!(slot(&full), "sealgate-flow-2");
        // Started within the same second: the start order decides.
        let mut same_second = [live("sealgate-flow-1", 9), live("sealgate-flow-2", 9), live("sealgate-flow-3", 9)];
        for (seq, carried) in [(5, 0), (3, 1), (4, 2)] {
            same_second[carried].flow.as_mut().unwrap().seq = seq;
        }
        assert_eq!(slot(&same_second), "sealgate-flow-2");
        assert_eq!(codec.cookie(&cookies, &full, "v".into()).max_age(), Some(CookieDuration::seconds(600)));

        match find(full.into_iter().collect(), "state-6") {
            Found::Flow { name, flow } => assert_eq!((name.as_str(), flow.iat), ("sealgate-flow-3", 6)),
            other => panic!("{other:?}"),
        }
        let full = vec![live("sealgate-flow-1", 7), dead("sealgate-flow-2")];
        assert!(matches!(find(full, "state-8"), Found::Mismatch { newest } if newest.iat == 7));
        let all_dead = vec![dead("sealgate-flow-1"), dead("sealgate-flow-3")];
        assert!(matches!(find(all_dead, "state-1"), Found::Nothing { dead } if dead.len() == 2));
    }
}
