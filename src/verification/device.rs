//! The known-device cookie: set after a verified sign-in, it tells a later
//! sign-in of the same user in the same browser apart from an unusual one.
//! Sealed with the key set under the flow purpose, with its own `typ`
//! (`device`), so it never opens as a flow cookie nor a flow as it; bound
//! to the provider and user id, and alive for `verification.device_lifetime`.

use crate::clock::SharedClock;
use crate::crypto::jwe::{SealError, Sealer};
use crate::crypto::keys::{JwkSet, Purpose};
use crate::session::cookie::{find_cookie, CookieSpec};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie};
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

const DEVICE_VERSION: u8 = 1;
const DEVICE_TYP: &str = "device";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Device {
    v: u8,
    typ: String,
    prv: String,
    uid: String,
    exp: i64,
}

pub struct DeviceCodec {
    sealer: Sealer,
    clock: SharedClock,
    lifetime: i64,
}

impl std::fmt::Debug for DeviceCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodec").field("lifetime", &self.lifetime).finish()
    }
}

/// The known-device cookie's name: the session cookie's, with `-device`.
pub fn cookie_name(cookies: &CookieSpec) -> String {
    format!("{}-device", cookies.name)
}

impl DeviceCodec {
    pub fn new(keys: &JwkSet, clock: SharedClock, lifetime: i64) -> Result<DeviceCodec, SealError> {
        Ok(DeviceCodec { sealer: Sealer::new(keys, Purpose::Flow, 2048)?, clock, lifetime })
    }

    /// The cookie that makes this browser a known device of `user` at `provider`.
    pub fn cookie(&self, cookies: &CookieSpec, provider: &str, user: &str) -> Result<Cookie<'static>, SealError> {
        let device = Device {
            v: DEVICE_VERSION,
            typ: DEVICE_TYP.into(),
            prv: provider.into(),
            uid: user.into(),
            exp: self.clock.now() + self.lifetime,
        };
        let value = self.sealer.seal(&serde_json::to_vec(&device).map_err(|_| SealError::Encrypt)?)?;
        let mut cookie = cookies.build(cookie_name(cookies), value);
        cookie.set_max_age(CookieDuration::seconds(self.lifetime));
        Ok(cookie)
    }

    /// Whether `value` is a live known-device cookie of `user` at `provider`.
    pub fn knows(&self, value: &str, provider: &str, user: &str) -> bool {
        let Ok(payload) = self.sealer.open(value) else { return false };
        let Ok(device) = serde_json::from_slice::<Device>(&payload) else { return false };
        device.v == DEVICE_VERSION
            && device.typ == DEVICE_TYP
            && device.prv == provider
            && device.uid == user
            && self.clock.now() < device.exp
    }

    /// Whether `req` comes from a known device of `user` at `provider`.
    pub fn known(&self, cookies: &CookieSpec, req: &HttpRequest, provider: &str, user: &str) -> bool {
        find_cookie(req, &cookie_name(cookies)).is_some_and(|value| self.knows(value, provider, user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::keys::KeyAlg;
    use crate::session::flow::FlowCodec;
    use std::sync::Arc;

    fn spec() -> CookieSpec {
        let mut settings = crate::config::Settings::from_toml("mode = \"development\"").unwrap();
        settings.cookie.insecure_http = true;
        CookieSpec::from_settings(&settings)
    }

    #[test]
    fn a_device_cookie_is_bound_to_its_user_expires_and_is_no_flow() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(1000);
        let codec = DeviceCodec::new(&keys, Arc::new(clock.clone()), 3600).unwrap();
        let cookie = codec.cookie(&spec(), "credentials", "alice").unwrap();
        assert_eq!(cookie.name(), "sealgate-device");
        assert_eq!(cookie.max_age(), Some(CookieDuration::seconds(3600)));
        let value = cookie.value();
        assert!(codec.knows(value, "credentials", "alice"));
        assert!(!codec.knows(value, "credentials", "bob"), "another user");
        assert!(!codec.knows(value, "corp", "alice"), "the same id at another provider");
        let flows = FlowCodec::new(&keys, Arc::new(clock.clone()), 600).unwrap();
        assert!(flows.open(value).is_err(), "a device cookie is not a flow");
        let flow = flows.seal(&flows.start("corp", "s".into(), None, None, "/".into())).unwrap();
        assert!(!codec.knows(&flow, "corp", "alice"), "a flow is not a device cookie");
        clock.advance(3600);
        assert!(!codec.knows(value, "credentials", "alice"), "expired");
        assert!(!codec.knows("garbage", "credentials", "alice"));
    }
}
