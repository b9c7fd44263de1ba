//! sealgate API tokens: `Authorization: Bearer` credentials for scripts and
//! API clients, sealed with the API-token purpose key (so a cookie is never
//! accepted as one, nor one as a cookie).
//!
//! Each carries a subject (the user), a name, scopes, an expiry and a token
//! id (`jti`). A deny-list file of token ids, reloaded when it changes,
//! revokes single tokens without any state in the gateway. The file must be
//! readable at start; when it later disappears or cannot be read, the last
//! list read stays in force (revoked tokens never work again by accident).

use crate::clock::SharedClock;
use crate::crypto::jwe::{SealError, Sealer};
use crate::crypto::keys::{JwkSet, Purpose};
use crate::identity::{Identity, ProviderId, Source, User};
use crate::reload::Reloadable;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::sync::RwLock;
use std::time::SystemTime;

pub const API_TOKEN_VERSION: u8 = 1;

/// The provider an API token's identity names.
pub const PROVIDER: &str = "api-token";

/// What an API token says, once opened and checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    v: u8,
    typ: String,
    pub jti: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub usr: User,
}

impl ApiToken {
    /// The identity the token carries.
    pub fn identified(self) -> super::Identified {
        let identity = Identity {
            id: self.jti,
            user: self.usr,
            provider: ProviderId::known(PROVIDER),
            source: Source::ApiToken,
            scopes: Some(self.scopes),
            issued_at: self.iat,
            expires_at: self.exp,
        };
        super::Identified::new(identity, None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiTokenError {
    #[error("the token does not open")]
    Sealed,
    #[error("the token is not an API token")]
    Payload,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
}

/// A token id as `token mint` prints it: base64url, short.
pub fn is_token_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Token ids listed in a file, one per line (`#` comments), re-read when
/// the file changes (looked at at most once a second, as tokens are
/// checked) and on `SIGHUP` (through the reloader). A file with a line
/// that is no token id is refused whole, and the last list read stays.
struct DenyList {
    path: Option<PathBuf>,
    ids: RwLock<(Option<SystemTime>, HashSet<String>)>,
    checked_at: AtomicI64,
    /// Whether the last look at the file failed (so the error is logged once).
    failing: AtomicBool,
}

/// What a [`DenyList`] could not read.
#[derive(Debug, thiserror::Error)]
enum DenyListError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

impl DenyList {
    /// The ids in `bytes`; an error naming the first line that is no token id.
    fn parse(bytes: &[u8]) -> Result<HashSet<String>, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "the file is not UTF-8".to_owned())?;
        let mut ids = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            let id = line.split('#').next().unwrap_or_default().trim();
            if id.is_empty() {
                continue;
            }
            if !is_token_id(id) {
                // The line is not shown: it may be a whole token pasted by mistake.
                return Err(format!("line {} is not a token id (base64url, at most 64 characters)", number + 1));
            }
            ids.insert(id.to_owned());
        }
        Ok(ids)
    }

    /// Read the file now; an error when it cannot be read or does not parse.
    fn load(&self) -> Result<usize, DenyListError> {
        let Some(path) = &self.path else { return Ok(0) };
        let modified = std::fs::metadata(path)?.modified()?;
        let fresh = DenyList::parse(&std::fs::read(path)?).map_err(DenyListError::Invalid)?;
        Ok(self.put_in_force(Some(modified), fresh))
    }

    fn put_in_force(&self, modified: Option<SystemTime>, fresh: HashSet<String>) -> usize {
        let revoked = fresh.len();
        if let Ok(mut ids) = self.ids.write() {
            *ids = (modified, fresh);
        }
        self.failing.store(false, Ordering::Relaxed);
        revoked
    }

    /// Re-read the file if it changed; keep the last list when it cannot be read.
    fn refresh(&self, path: &PathBuf) {
        let modified = std::fs::metadata(path).and_then(|m| m.modified());
        let unchanged = match &modified {
            Ok(modified) => self.ids.read().map(|ids| ids.0 == Some(*modified)).unwrap_or(false),
            Err(_) => false,
        };
        if unchanged {
            return;
        }
        match modified.map_err(DenyListError::from).and_then(|_| self.load()) {
            Ok(revoked) => tracing::info!(path = %path.display(), revoked, "API token deny list loaded"),
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        path = %path.display(),
                        %error,
                        "API token deny list cannot be read or is malformed; the last list read stays in force"
                    );
                }
            }
        }
    }

    fn contains(&self, jti: &str, now: i64) -> bool {
        let Some(path) = &self.path else { return false };
        if self.checked_at.swap(now, Ordering::Relaxed) != now {
            self.refresh(path);
        }
        self.ids.read().map(|ids| ids.1.contains(jti)).unwrap_or(true)
    }
}

impl Reloadable for DenyList {
    fn what(&self) -> &'static str {
        "API token deny list"
    }

    fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    fn reload(&self, bytes: &[u8]) -> Result<Option<String>, String> {
        let fresh = DenyList::parse(bytes)?;
        let modified = self.path.as_ref().and_then(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok());
        if self.ids.read().map(|ids| ids.1 == fresh).unwrap_or(false) {
            return Ok(None);
        }
        let revoked = self.put_in_force(modified, fresh);
        Ok(Some(format!("{revoked} revoked token id(s)")))
    }
}

pub struct ApiTokens {
    sealer: Sealer,
    clock: SharedClock,
    deny: Arc<DenyList>,
    pub max_lifetime: i64,
    /// Whether a token minted from a session may outlive the session's absolute expiry.
    pub outlive_session: bool,
}

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokens").field("max_lifetime", &self.max_lifetime).finish()
    }
}

impl ApiTokens {
    pub fn new(
        keys: &JwkSet,
        clock: SharedClock,
        deny_list: Option<PathBuf>,
        max_lifetime: i64,
    ) -> Result<ApiTokens, SealError> {
        let deny = Arc::new(DenyList {
            path: deny_list,
            ids: RwLock::new((None, HashSet::new())),
            checked_at: AtomicI64::new(i64::MIN),
            failing: AtomicBool::new(false),
        });
        Ok(ApiTokens {
            sealer: Sealer::new(keys, Purpose::ApiToken, 16 * 1024)?,
            clock,
            deny,
            max_lifetime,
            outlive_session: false,
        })
    }

    /// Let tokens minted from a session outlive it (`api_tokens.outlive_session`).
    pub fn outliving_sessions(mut self, outlive_session: bool) -> ApiTokens {
        self.outlive_session = outlive_session;
        self
    }

    /// Read the deny list now: at start, a configured file that cannot be
    /// read is an error (sealgate refuses to start).
    pub fn load_deny_list(&self) -> Result<(), String> {
        let path = self.deny.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        match self.deny.load() {
            Ok(revoked) if self.deny.path.is_some() => {
                tracing::info!(%path, revoked, "API token deny list loaded");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(DenyListError::Io(error)) => Err(format!("api_tokens.deny_list `{path}` cannot be read: {error}")),
            Err(DenyListError::Invalid(error)) => Err(format!("api_tokens.deny_list `{path}`: {error}")),
        }
    }

    /// The deny list as a file for the reloader (on `SIGHUP`), if one is configured.
    pub fn deny_list_file(&self) -> Option<Arc<dyn Reloadable>> {
        self.deny.path.is_some().then(|| self.deny.clone() as Arc<dyn Reloadable>)
    }

    /// Mint a token for `user`; returns it with its claims.
    pub fn mint(&self, user: User, name: &str, scopes: Vec<String>, ttl: i64) -> Result<(String, ApiToken), SealError> {
        let now = self.clock.now();
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let claims = ApiToken {
            v: API_TOKEN_VERSION,
            typ: Purpose::ApiToken.label().into(),
            jti: URL_SAFE_NO_PAD.encode(id),
            name: name.into(),
            scopes,
            iat: now,
            exp: now + ttl.max(1),
            usr: user,
        };
        let token = self.sealer.seal(&serde_json::to_vec(&claims).map_err(|_| SealError::Encrypt)?)?;
        Ok((token, claims))
    }

    /// Whether an opened token is still accepted: not expired, not revoked.
    /// Checked on every use (the open-cache keeps only the opening).
    pub fn check(&self, token: &Identity) -> Result<(), ApiTokenError> {
        let now = self.clock.now();
        if !token.is_live_at(now) {
            return Err(ApiTokenError::Expired);
        }
        if self.deny.contains(&token.id, now) {
            return Err(ApiTokenError::Revoked);
        }
        Ok(())
    }

    /// Open a token and check it now, without any cache (for tools and tests).
    pub fn open(&self, token: &str) -> Result<Identity, ApiTokenError> {
        let identity = self.open_uncached(token)?.identified().identity;
        self.check(&identity)?;
        Ok(identity)
    }

    /// Open and check a token without the cache (no expiry or deny-list check).
    pub fn open_uncached(&self, token: &str) -> Result<ApiToken, ApiTokenError> {
        let payload = self.sealer.open(token).map_err(|_| ApiTokenError::Sealed)?;
        let claims: ApiToken = serde_json::from_slice(&payload).map_err(|_| ApiTokenError::Payload)?;
        if claims.v != API_TOKEN_VERSION || claims.typ != Purpose::ApiToken.label() || claims.usr.validate().is_err() {
            return Err(ApiTokenError::Payload);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::keys::KeyAlg;
    use std::sync::Arc;

    #[test]
    fn the_api_token_provider_id_is_well_formed() {
        assert_eq!(ProviderId::parse(PROVIDER).unwrap().as_str(), PROVIDER);
    }

    #[test]
    fn a_revoked_token_stays_revoked_when_the_deny_list_goes_missing_or_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(1000);
        let tokens = ApiTokens::new(&keys, Arc::new(clock.clone()), Some(path.clone()), 3600).unwrap();
        let (revoked, claims) = tokens.mint(User::new("ci"), "ci", Vec::new(), 600).unwrap();
        let (kept, _) = tokens.mint(User::new("ci"), "other", Vec::new(), 600).unwrap();

        // At start, a configured file that is not there is an error.
        assert!(tokens.load_deny_list().unwrap_err().contains("api_tokens.deny_list"));
        std::fs::write(&path, format!("# revoked\n{}\n", claims.jti)).unwrap();
        tokens.load_deny_list().unwrap();
        assert_eq!(tokens.open(&revoked).unwrap_err(), ApiTokenError::Revoked);
        assert!(tokens.open(&kept).is_ok());

        std::fs::remove_file(&path).unwrap();
        clock.advance(2);
        assert_eq!(tokens.open(&revoked).unwrap_err(), ApiTokenError::Revoked, "the file disappeared");

        std::fs::create_dir(&path).unwrap();
        clock.advance(2);
        assert_eq!(tokens.open(&revoked).unwrap_err(), ApiTokenError::Revoked, "the file cannot be read");

        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, format!("{}\n{revoked}\n", claims.jti)).unwrap();
        clock.advance(2);
        assert_eq!(tokens.open(&revoked).unwrap_err(), ApiTokenError::Revoked, "a line that is no id: refused");

        std::fs::write(&path, "# nothing revoked\n").unwrap();
        clock.advance(2);
        assert!(tokens.open(&revoked).is_ok(), "a readable new list replaces the old one");
    }

    #[test]
    fn the_deny_list_reloads_as_a_file_and_refuses_a_line_that_is_no_token_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        std::fs::write(&path, "").unwrap();
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(1000);
        let tokens = ApiTokens::new(&keys, Arc::new(clock.clone()), Some(path.clone()), 3600).unwrap();
        tokens.load_deny_list().unwrap();
        let (token, claims) = tokens.mint(User::new("ci"), "ci", Vec::new(), 600).unwrap();
        let file = tokens.deny_list_file().expect("a configured list is a file to reload");
        assert_eq!(file.path(), path);

        let listed = format!("# revoked\n{}  # leaked in a log\n", claims.jti);
        assert_eq!(file.reload(listed.as_bytes()), Ok(Some("1 revoked token id(s)".into())));
        assert_eq!(tokens.open(&token).unwrap_err(), ApiTokenError::Revoked);
        assert_eq!(file.reload(listed.as_bytes()), Ok(None), "the same ids change nothing");

        let pasted = format!("{}\n{token}\n", claims.jti);
        let refused = file.reload(pasted.as_bytes()).unwrap_err();
        assert!(refused.contains("line 2") && !refused.contains(&token), "{refused}");
        assert_eq!(file.reload(b"\xff\n"), Err("the file is not UTF-8".into()));
        assert_eq!(tokens.open(&token).unwrap_err(), ApiTokenError::Revoked, "the last good list stays");
        assert!(ApiTokens::new(&keys, Arc::new(clock), None, 3600).unwrap().deny_list_file().is_none());
    }
}
