//! Password users who sign themselves up (`credentials.signup`, issue 24).
//!
//! Their accounts live in the store ([`crate::store::accounts`]) beside the
//! users file's, and their sessions carry the provider id [`PROVIDER_ID`]
//! (`accounts`), so the users file's per-request check (is this user still
//! in the file?) never mistakes one for a deleted file user. A username the
//! users file has cannot be signed up; a sign-in tries the users file first.
//!
//! A new account is unconfirmed: its first sign-in (the one the sign-up
//! starts) waits for the code e-mailed to its address, and confirming it
//! keeps the account for good. Unconfirmed, it is forgotten after
//! `credentials.unconfirmed_lifetime`.
//!
//! Passwords are hashed (argon2id, default parameters) and checked on the
//! users file's verification pool, so sign-ups share its bound on memory.
//! A new password has at least `credentials.min_password_length`
//! characters and is not on the bundled list of common passwords, one
//! repeated character or two, or the account's username or address.

use crate::clock::SharedClock;
use crate::identity::{comparable, User};
use crate::providers::credentials::{Busy, CredentialsProvider, MAX_PASSWORD};
use crate::store::{AccountRecord, Created, Store, StoreError};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The provider id of signed-up password users' sessions.
pub const PROVIDER_ID: &str = "accounts";

/// Usernames a person may choose: this many characters.
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=64;
/// The longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Why an account operation was refused, with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidUsername,
    InvalidEmail,
    PasswordTooShort,
    PasswordTooLong,
    PasswordTooCommon,
    UsernameTaken,
    EmailTaken,
    /// The current password given to change it is not right.
    WrongPassword,
    /// The session is not a signed-up account's (a users-file user's, or a provider's).
    NotAnAccount,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidUsername => "invalid_username",
            Refusal::InvalidEmail => "invalid_email",
            Refusal::PasswordTooShort => "password_too_short",
            Refusal::PasswordTooLong => "password_too_long",
            Refusal::PasswordTooCommon => "password_too_common",
            Refusal::UsernameTaken => "username_taken",
            Refusal::EmailTaken => "email_taken",
            Refusal::WrongPassword => "invalid_password",
            Refusal::NotAnAccount => "no_password",
        }
    }

    /// The words a page shows. `min`: `credentials.min_password_length`.
    pub fn message(self, min: usize) -> String {
        match self {
            Refusal::InvalidUsername => format!(
                "Choose a username of {} to {} characters, without spaces.",
                USERNAME_CHARS.start(),
                USERNAME_CHARS.end()
            ),
            Refusal::InvalidEmail => "That is not an e-mail address.".into(),
            Refusal::PasswordTooShort => format!("Choose a password of at least {min} characters."),
            Refusal::PasswordTooLong => "That password is too long.".into(),
            Refusal::PasswordTooCommon => "That password is too common or too easy to guess. Choose another.".into(),
            Refusal::UsernameTaken => "That username is taken. Choose another.".into(),
            Refusal::EmailTaken => "An account with that e-mail address exists already. Sign in instead.".into(),
            Refusal::WrongPassword => "Your current password is not right.".into(),
            Refusal::NotAnAccount => "This account's password is not changed here.".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("refused: {}", .0.code())]
    Refused(Refusal),
    #[error("too many password checks are waiting")]
    Busy,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Hash(String),
}

impl From<Refusal> for AccountError {
    fn from(refusal: Refusal) -> Self {
        AccountError::Refused(refusal)
    }
}

impl From<Busy> for AccountError {
    fn from(_: Busy) -> Self {
        AccountError::Busy
    }
}

/// What a person fills in to sign up.
pub struct SignUp {
    pub username: String,
    pub email: String,
    pub password: SecretString,
}

/// A signed-up account that a password opened.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    /// Whether its address has been confirmed; a sign-in to an unconfirmed
    /// account waits for the e-mailed code.
    pub confirmed: bool,
}

/// The signed-up accounts, in the store.
pub struct Accounts {
    store: Store,
    clock: SharedClock,
    min_password: usize,
    unconfirmed_lifetime: Duration,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").field("store", &self.store).finish_non_exhaustive()
    }
}

fn user_of(record: &AccountRecord) -> User {
    User {
        id: record.username.clone(),
        username: Some(record.username.clone()),
        email: Some(record.email.clone()),
        name: None,
        avatar_url: None,
        groups: Vec::new(),
        claims: Default::default(),
    }
}

fn check_username(username: &str) -> Result<(), Refusal> {
    let chars = username.chars().count();
    let plain = !username.chars().any(|c| c.is_whitespace() || c.is_control());
    if USERNAME_CHARS.contains(&chars) && plain {
        Ok(())
    } else {
        Err(Refusal::InvalidUsername)
    }
}

fn check_email(email: &str) -> Result<(), Refusal> {
    let parsed = email.parse::<lettre::Address>();
    if email.len() <= MAX_EMAIL && parsed.is_ok_and(|address| address.domain().contains('.')) {
        Ok(())
    } else {
        Err(Refusal::InvalidEmail)
    }
}

/// Whether `password` may be an account's new password.
pub fn check_password(password: &str, username: &str, email: &str, min: usize) -> Result<(), Refusal> {
    if password.len() > MAX_PASSWORD {
        return Err(Refusal::PasswordTooLong);
    }
    if password.chars().count() < min {
        return Err(Refusal::PasswordTooShort);
    }
    let folded = password.to_lowercase();
    let distinct: HashSet<char> = folded.chars().collect();
    let email = comparable(email);
    let local_part = email.split('@').next().unwrap_or_default();
    let guessable = COMMON_PASSWORDS.contains(folded.as_str())
        || distinct.len() < 3
        || [comparable(username).as_str(), email.as_str(), local_part].contains(&folded.as_str());
    if guessable {
        return Err(Refusal::PasswordTooCommon);
    }
    Ok(())
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Accounts {
    pub fn new(store: Store, clock: SharedClock, min_password: usize, unconfirmed_lifetime: Duration) -> Accounts {
        Accounts { store, clock, min_password, unconfirmed_lifetime }
    }

    pub fn min_password(&self) -> usize {
        self.min_password
    }

    /// Create an unconfirmed account. `passwords`: the users file's
    /// provider, whose usernames cannot be taken and whose pool hashes.
    pub async fn sign_up(&self, passwords: &Arc<CredentialsProvider>, form: SignUp) -> Result<User, AccountError> {
        let (username, email) = (form.username.trim(), form.email.trim());
        check_username(username)?;
        check_email(email)?;
        check_password(form.password.expose_secret(), username, email, self.min_password)?;
        if passwords.account_id(username).is_some() {
            return Err(Refusal::UsernameTaken.into());
        }
        let password_hash = passwords.hash_new(form.password).await?.map_err(AccountError::Hash)?;
        let now = self.clock.now();
        let record = AccountRecord {
            username: username.to_owned(),
            email: email.to_owned(),
            password_hash,
            created: now,
            confirmed: None,
            expires: Some(now.saturating_add(secs(self.unconfirmed_lifetime))),
        };
        match self.store.create_account(&record).await? {
            Created::Created => Ok(user_of(&record)),
            Created::UsernameTaken => Err(Refusal::UsernameTaken.into()),
            Created::EmailTaken => Err(Refusal::EmailTaken.into()),
        }
    }

    /// The account `username` names, when `password` is its password.
    /// Verifies one hash whether or not the account exists.
    pub async fn sign_in(
        &self,
        passwords: &Arc<CredentialsProvider>,
        username: &str,
        password: SecretString,
    ) -> Result<Option<Account>, AccountError> {
        let record = self.store.account(username).await?;
        let matches = passwords.verify_stored(record.as_ref().map(|r| r.password_hash.as_str()), password).await?;
        Ok(record
            .filter(|_| matches)
            .map(|record| Account { user: user_of(&record), confirmed: record.confirmed.is_some() }))
    }

    /// The account's address is confirmed (its code was right).
    pub async fn confirm(&self, username: &str) -> Result<bool, StoreError> {
        self.store.confirm_account(username).await
    }

    /// Change the password of the account `user` signed in to, given its
    /// current one.
    pub async fn change_password(
        &self,
        passwords: &Arc<CredentialsProvider>,
        user: &User,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), AccountError> {
        let record = self.store.account(&user.id).await?;
        let matches = passwords.verify_stored(record.as_ref().map(|r| r.password_hash.as_str()), current).await?;
        let Some(record) = record else { return Err(Refusal::NotAnAccount.into()) };
        if !matches {
            return Err(Refusal::WrongPassword.into());
        }
        check_password(new.expose_secret(), &record.username, &record.email, self.min_password)?;
        let password_hash = passwords.hash_new(new).await?.map_err(AccountError::Hash)?;
        if !self.store.set_password_hash(&record.username, &password_hash).await? {
            return Err(Refusal::NotAnAccount.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_is_long_enough_uncommon_and_not_the_account_itself() {
        let check = |password: &str| check_password(password, "Alice", "Alice.Smith@example.com", 10);
        assert_eq!(check("correct horse battery"), Ok(()));
        assert_eq!(check("short one"), Err(Refusal::PasswordTooShort), "9 characters");
        assert_eq!(check("ünïcödé pw"), Ok(()), "10 characters, more bytes");
        for common in ["password123", "PASSWORD123", "qwertyuiop", "1234567890", "Iloveyou123"] {
            assert_eq!(check(common), Err(Refusal::PasswordTooCommon), "{common}");
        }
        assert_eq!(check("aaaaaaaaaaaa"), Err(Refusal::PasswordTooCommon), "one character");
        assert_eq!(check("abababababab"), Err(Refusal::PasswordTooCommon), "two characters");
        assert_eq!(
            check_password("alice.smith@example.com", "bob", "Alice.Smith@example.com", 10),
            Err(Refusal::PasswordTooCommon)
        );
        assert_eq!(
            check_password("alice.smith", "bob", "alice.smith@example.com", 10),
            Err(Refusal::PasswordTooCommon),
            "the address's local part"
        );
        assert_eq!(
            check_password("CorrectHorse", "correcthorse", "x@example.com", 10),
            Err(Refusal::PasswordTooCommon),
            "the username"
        );
        assert_eq!(check(&"x1".repeat(MAX_PASSWORD)), Err(Refusal::PasswordTooLong));
    }

    #[test]
    fn the_bundled_list_is_read_without_its_comments() {
        assert!(COMMON_PASSWORDS.len() > 100);
        assert!(COMMON_PASSWORDS.iter().all(|p| !p.starts_with('#') && *p == p.to_lowercase()));
    }

    #[test]
    fn usernames_and_addresses_are_checked() {
        for good in ["bob", "alice.smith", "a_b-c", "Zoë"] {
            assert_eq!(check_username(good), Ok(()), "{good}");
        }
        for bad in ["ab", "has space", "tab\tname", &"x".repeat(65)] {
            assert_eq!(check_username(bad), Err(Refusal::InvalidUsername), "{bad}");
        }
        assert_eq!(check_email("alice@example.com"), Ok(()));
        for bad in ["alice", "alice@", "@example.com", "alice@localhost", "a b@example.com"] {
            assert_eq!(check_email(bad), Err(Refusal::InvalidEmail), "{bad}");
        }
        assert_eq!(check_email(&format!("{}@example.com", "a".repeat(250))), Err(Refusal::InvalidEmail));
    }

    #[test]
    fn every_refusal_has_a_stable_code_and_words() {
        let all = [
            Refusal::InvalidUsername,
            Refusal::InvalidEmail,
            Refusal::PasswordTooShort,
            Refusal::PasswordTooLong,
            Refusal::PasswordTooCommon,
            Refusal::UsernameTaken,
            Refusal::EmailTaken,
            Refusal::WrongPassword,
            Refusal::NotAnAccount,
        ];
        let codes: HashSet<&str> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(Refusal::PasswordTooShort.message(12).contains("12"));
    }
}
