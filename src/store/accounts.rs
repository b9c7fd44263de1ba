//! Accounts of people who signed themselves up (`credentials.signup`): the
//! one kind of record the store keeps for good rather than for a while.
//!
//! An account is found by its username and its e-mail address, each
//! compared [`comparable`] (trimmed, lower-cased); neither may belong to two
//! accounts, which [`Store::create_account`] settles atomically on every
//! kind of store. An account stays unconfirmed until its address is
//! confirmed with an e-mailed code; an unconfirmed one is forgotten at its
//! `expires` (by the injected clock), and its username and address are free
//! again.

use super::{Store, StoreError};
use crate::identity::comparable;

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// The username as the person typed it (trimmed): the user id of their sessions.
    pub username: String,
    /// The e-mail address as typed (trimmed).
    pub email: String,
    /// argon2id, as a PHC string.
    pub password_hash: String,
    /// Sign-up time, Unix seconds.
    pub created: i64,
    /// When the address was confirmed; `None` until then.
    pub confirmed: Option<i64>,
    /// When an unconfirmed account is forgotten; `None` once confirmed.
    pub expires: Option<i64>,
}

/// The hash stays out of `Debug`.
impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("created", &self.created)
            .field("confirmed", &self.confirmed)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl AccountRecord {
    /// The key the account is found by.
    pub fn name_key(&self) -> String {
        comparable(&self.username)
    }

    /// The key its address is held under.
    pub fn email_key(&self) -> String {
        comparable(&self.email)
    }

    /// Whether the account still counts at `now` (confirmed, or unconfirmed and not expired).
    pub fn is_live(&self, now: i64) -> bool {
        self.expires.is_none_or(|expires| expires > now)
    }
}

/// What [`Store::create_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    UsernameTaken,
    EmailTaken,
}

impl Store {
    /// Add `account` unless a live account has its username or its address.
    /// Atomic across replicas: of two sign-ups racing for one name, one wins.
    pub async fn create_account(&self, account: &AccountRecord) -> Result<Created, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.create_account(account).await,
            Store::Redis(redis) => redis.create_account(account).await,
        }
    }

    /// The live account `username` names (compared without case).
    pub async fn account(&self, username: &str) -> Result<Option<AccountRecord>, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.account(&comparable(username)).await,
            Store::Redis(redis) => redis.account(&comparable(username)).await,
        }
    }

    /// Mark the account's address confirmed (at the first call; later calls
    /// change nothing) and keep the account for good. False: no live account.
    pub async fn confirm_account(&self, username: &str) -> Result<bool, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.confirm_account(&comparable(username)).await,
            Store::Redis(redis) => redis.confirm_account(&comparable(username)).await,
        }
    }

    /// Replace the account's password hash. False: no live account.
    pub async fn set_password_hash(&self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.set_password_hash(&comparable(username), password_hash).await,
            Store::Redis(redis) => redis.set_password_hash(&comparable(username), password_hash).await,
        }
    }
}
