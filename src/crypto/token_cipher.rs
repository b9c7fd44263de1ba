//! The provider's OAuth tokens, encrypted a second time inside the session.
//!
//! The blob is AES-256-GCM (aes-gcm crate) under the provider-tokens purpose
//! key, with the session id in the associated data: a blob lifted from one
//! session and pasted into another does not open. The session is readable
//! without opening this blob, so the hot path never decrypts tokens it does
//! not need, and `/auth/session` has nothing to leak.
//!
//! Format: `kid.nonce.ciphertext`, each part base64url.

use crate::crypto::keys::{derive, serves, JwkSet, KeyState, Keyed, Purpose};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A provider's tokens, as the gateway holds them in memory.
#[derive(Clone)]
pub struct ProviderTokens {
    pub access_token: SecretString,
    pub token_type: String,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    /// When the access token expires (seconds since the epoch), if the provider said.
    pub expires_at: Option<i64>,
    /// When these tokens were obtained.
    pub obtained_at: i64,
    pub scope: Option<String>,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("obtained_at", &self.obtained_at)
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensWire {
    v: u8,
    at: String,
    tt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    it: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    obt: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scp: Option<String>,
}

impl Drop for TokensWire {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.at.zeroize();
        if let Some(rt) = self.rt.as_mut() {
            rt.zeroize();
        }
        if let Some(it) = self.it.as_mut() {
            it.zeroize();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokensError {
    #[error("the token blob is malformed")]
    Malformed,
    #[error("the token blob was sealed with an unknown key")]
    UnknownKey,
    #[error("the token blob does not open for this session")]
    Decrypt,
    #[error("the token blob could not be sealed")]
    Seal,
}

const AAD_PREFIX: &[u8] = b"sealgate/provider-tokens/v1\0";
const NONCE_BYTES: usize = 12;

/// Seals and opens [`ProviderTokens`] for one session id. Follows the key
/// ring of the set it was built from, like a [`Sealer`](crate::crypto::jwe::Sealer).
pub struct TokenCipher {
    keys: std::sync::Arc<Keyed<Ciphers>>,
}

/// (kid, cipher) for every key of a set; `current` seals.
struct Ciphers {
    keys: Vec<(String, Aes256Gcm)>,
    current: usize,
}

impl Ciphers {
    fn build(set: &JwkSet) -> Ciphers {
        let roots = || set.iter().filter(|root| serves(root, Purpose::ProviderTokens));
        let current = roots().position(|root| root.state() == KeyState::Current).unwrap_or(usize::MAX);
        let keys = roots()
            .map(|root| {
                let key = derive(root, Purpose::ProviderTokens);
                (key.kid.clone(), Aes256Gcm::new(key.bytes.as_slice().into()))
            })
            .collect();
        Ciphers { keys, current }
    }
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCipher").field("keys", &self.keys.load().keys.len()).finish()
    }
}

fn aad(session_id: &str) -> Vec<u8> {
    [AAD_PREFIX, session_id.as_bytes()].concat()
}

impl TokenCipher {
    pub fn new(set: &JwkSet) -> TokenCipher {
        let keys = match set.ring() {
            Some(ring) => match ring.follow(|set| Ok::<_, std::convert::Infallible>(Ciphers::build(set))) {
                Ok(keys) => keys,
                Err(never) => match never {},
            },
            None => Keyed::fixed(Ciphers::build(set)),
        };
        TokenCipher { keys }
    }

    pub fn seal(&self, tokens: &ProviderTokens, session_id: &str) -> Result<String, TokensError> {
        let keys = self.keys.load();
        let (kid, cipher) = keys.keys.get(keys.current).ok_or(TokensError::Seal)?;
        let wire = TokensWire {
            v: 1,
            at: tokens.access_token.expose_secret().to_owned(),
            tt: tokens.token_type.clone(),
            rt: tokens.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
            it: tokens.id_token.as_ref().map(|t| t.expose_secret().to_owned()),
            exp: tokens.expires_at,
            obt: tokens.obtained_at,
            scp: tokens.scope.clone(),
        };
        let plaintext = Zeroizing::new(serde_json::to_vec(&wire).map_err(|_| TokensError::Seal)?);
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(session_id);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plaintext, aad: &aad })
            .map_err(|_| TokensError::Seal)?;
        Ok(format!("{kid}.{}.{}", URL_SAFE_NO_PAD.encode(nonce), URL_SAFE_NO_PAD.encode(ciphertext)))
    }

    pub fn open(&self, blob: &str, session_id: &str) -> Result<ProviderTokens, TokensError> {
        let mut parts = blob.split('.');
        let (Some(kid), Some(nonce), Some(ciphertext), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokensError::Malformed);
        };
        let keys = self.keys.load();
        let (_, cipher) = keys.keys.iter().find(|(k, _)| k == kid).ok_or(TokensError::UnknownKey)?;
        let mut nonce_bytes = [0u8; NONCE_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(nonce.as_bytes(), &mut nonce_bytes) {
            Ok(NONCE_BYTES) => {}
            _ => return Err(TokensError::Malformed),
        }
        let ciphertext = URL_SAFE_NO_PAD.decode(ciphertext.as_bytes()).map_err(|_| TokensError::Malformed)?;
        // aes-gcm requires the full 16-byte tag: shorter input fails here.
        let aad = aad(session_id);
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: &ciphertext, aad: &aad })
                .map_err(|_| TokensError::Decrypt)?,
        );
        let wire: TokensWire = serde_json::from_slice(&plaintext).map_err(|_| TokensError::Malformed)?;
        if wire.v != 1 {
            return Err(TokensError::Malformed);
        }
        Ok(ProviderTokens {
            access_token: SecretString::from(wire.at.clone()),
            token_type: wire.tt.clone(),
            refresh_token: wire.rt.clone().map(SecretString::from),
            id_token: wire.it.clone().map(SecretString::from),
            expires_at: wire.exp,
            obtained_at: wire.obt,
            scope: wire.scp.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::KeyAlg;

    fn tokens() -> ProviderTokens {
        ProviderTokens {
            access_token: SecretString::from("at-SECRET-1".to_owned()),
            token_type: "Bearer".into(),
            refresh_token: Some(SecretString::from("rt-SECRET-2".to_owned())),
            id_token: None,
            expires_at: Some(1_900_000_000),
            obtained_at: 1_800_000_000,
            scope: Some("openid".into()),
        }
    }

    #[test]
    fn round_trip_is_bound_to_the_session_id() {
        let cipher = TokenCipher::new(&JwkSet::generate(KeyAlg::Dir));
        let blob = cipher.seal(&tokens(), "session-a").unwrap();
        assert!(!blob.contains("SECRET"));
        let opened = cipher.open(&blob, "session-a").unwrap();
        assert_eq!(opened.access_token.expose_secret(), "at-SECRET-1");
        assert_eq!(opened.refresh_token.unwrap().expose_secret(), "rt-SECRET-2");
        assert_eq!(opened.expires_at, Some(1_900_000_000));
        assert_eq!(cipher.open(&blob, "session-b").unwrap_err(), TokensError::Decrypt);
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let cipher = TokenCipher::new(&JwkSet::generate(KeyAlg::Dir));
        let other = TokenCipher::new(&JwkSet::generate(KeyAlg::Dir));
        let blob = cipher.seal(&tokens(), "s").unwrap();
        assert_eq!(other.open(&blob, "s").unwrap_err(), TokensError::UnknownKey);
        let cut = &blob[..blob.len() - 4];
        assert!(cipher.open(cut, "s").is_err());
        assert_eq!(cipher.open("a.b", "s").unwrap_err(), TokensError::Malformed);
    }

    #[test]
    fn debug_redacts_every_token() {
        let shown = format!("{:?}", tokens());
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
