//! `X-Sealgate-Signature: t=<unix seconds>,v1=<hex>`: an HMAC-SHA256, keyed
//! with `hooks.secret`, over `<t>.<body>` (the scheme Stripe's webhooks use),
//! so a hook can tell sealgate's requests from anyone else's, and refuse
//! an old one replayed.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The request header that carries the signature.
pub const HEADER: &str = "X-Sealgate-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &SecretString, timestamp: i64, body: &[u8]) -> Option<Vec<u8>> {
    let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac.finalize().into_bytes().to_vec())
}

/// The header value for `body`, sent at `timestamp`.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> Option<String> {
    Some(format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)?)))
}

/// Whether `header` signs `body` with `secret`, at most `tolerance` seconds
/// from `now` (what a hook checks; sealgate itself only signs).
pub fn verify(secret: &SecretString, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v1)) => signatures.extend(hex::decode(v1).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp.filter(|t| (now - t).abs() <= tolerance) else { return false };
    let Some(expected) = mac(secret, timestamp, body) else { return false };
    signatures.iter().any(|given| bool::from(given.as_slice().ct_eq(&expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("k".repeat(32))
    }

    #[test]
    fn signs_the_timestamp_and_body_as_documented() {
        // Python: hmac.new(b"k"*32, b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(&secret(), 1_700_000_000, br#"{"a":1}"#).unwrap(),
            "t=1700000000,v1=6935b796c0fec66e5dee52c86c7fd1218a424c32f1adb239ff2893c31e54f033"
        );
    }

    #[test]
    fn verifies_only_the_same_body_key_and_a_recent_time() {
        let header = sign(&secret(), 1000, b"body").unwrap();
        assert!(verify(&secret(), &header, b"body", 1100, 300));
        assert!(!verify(&secret(), &header, b"bodY", 1100, 300));
        assert!(!verify(&SecretString::from("j".repeat(32)), &header, b"body", 1100, 300));
        assert!(!verify(&secret(), &header, b"body", 1301, 300), "too old");
        assert!(!verify(&secret(), "t=1000", b"body", 1000, 300));
        assert!(!verify(&secret(), "v1=zz,t=x", b"body", 1000, 300));
    }
}
