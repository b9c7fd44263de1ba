//! The users file (`config/users.toml`): its format, the checks it passes
//! before any of it is used, and the accounts it yields.
//!
//! Unknown usernames are checked against a dummy hash with the parameters of
//! the strongest hash in the file, so the time a failed attempt takes does
//! not tell whether the user exists.

use super::gate::Memory;
use super::hash::StoredHash;
use crate::identity::{comparable, User};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// Longest username and password accepted; longer input fails like a wrong password.
pub const MAX_USERNAME: usize = 256;
pub const MAX_PASSWORD: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    username: String,
    password_hash: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    /// A demo account: refused in production mode.
    #[serde(default)]
    demo: bool,
    /// A deprovisioned account: cannot sign in, and its sessions are refused.
    #[serde(default)]
    disabled: bool,
}

struct Account {
    user: User,
    hash: StoredHash,
    disabled: bool,
}

/// The users file's accounts as one value, swapped whole when the file is
/// reloaded, with the dummy hash and the memory they need.
pub(super) struct Accounts {
    /// By [`comparable`] username: `Alice` signs in as `alice ` too.
    by_name: HashMap<String, Account>,
    dummy: StoredHash,
    /// The most working memory any check needs.
    pub(super) blocks: usize,
}

impl Accounts {
    /// Read and check a users file's contents. Every problem is returned.
    pub(super) fn parse(text: &[u8], path: &Path, production: bool) -> Result<Accounts, Vec<String>> {
        let shown = path.display();
        let file: UsersFile = std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str(text).map_err(|e| e.to_string()))
            .map_err(|e| vec![format!("credentials.users_file `{shown}`: {e}")])?;
        let mut problems = Vec::new();
        let mut accounts = HashMap::new();
        for entry in file.users {
            let who = format!("{shown}: user `{}`", entry.username);
            if entry.username.is_empty() || entry.username.len() > MAX_USERNAME {
                problems.push(format!("{shown}: a username is empty or longer than {MAX_USERNAME} bytes"));
                continue;
            }
            if entry.demo && production {
                problems.push(format!(
                    "{who} is a demo user; demo users are refused in production mode: remove it from the \
                     users file (add your own with `sealgate hash-password`), or turn password sign-in off \
                     (credentials.enabled = false, or SEALGATE__CREDENTIALS__ENABLED=false)"
                ));
            }
            let user = User {
                id: entry.username.clone(),
                username: Some(entry.username.clone()),
                email: entry.email,
                name: entry.name,
                avatar_url: None,
                groups: entry.groups,
                claims: Default::default(),
            };
            if let Err(e) = user.validate() {
                problems.push(format!("{who}: {e}"));
            }
            let hash = match StoredHash::parse(&entry.password_hash) {
                Ok(hash) => hash,
                Err(e) => {
                    problems.push(format!("{who}: {e}"));
                    continue;
                }
            };
            let account = Account { user, hash, disabled: entry.disabled };
            if accounts.insert(comparable(&entry.username), account).is_some() {
                problems.push(format!("{who} appears twice (usernames are compared without case)"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let default = StoredHash::default_params();
        let strongest = accounts.values().map(|a| &a.hash).max_by_key(|h| h.cost()).unwrap_or(&default);
        let dummy = StoredHash::dummy_like(strongest);
        let blocks = accounts.values().map(|a| a.hash.blocks()).chain([dummy.blocks()]).max().unwrap_or(0);
        Ok(Accounts { by_name: accounts, dummy, blocks })
    }

    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(super) fn contains(&self, username: &str) -> bool {
        self.by_name.contains_key(&comparable(username))
    }

    /// The account's user id (its username as the file spells it).
    pub(super) fn account_id(&self, username: &str) -> Option<&str> {
        self.by_name.get(&comparable(username)).map(|account| account.user.id.as_str())
    }

    /// Whether `username` is in the file and not disabled.
    pub(super) fn is_active(&self, username: &str) -> bool {
        self.by_name.get(&comparable(username)).is_some_and(|account| !account.disabled)
    }

    /// The user, when `password` is theirs and the account is not disabled.
    /// Always verifies one hash, whether or not the user exists or is
    /// disabled, so the time taken tells neither.
    pub(super) fn check(&self, username: &str, password: &SecretString, memory: &mut Memory) -> Option<User> {
        let account = self.by_name.get(&comparable(username));
        let hash = account.map_or(&self.dummy, |a| &a.hash);
        let password = password.expose_secret().as_bytes();
        let matches = password.len() <= MAX_PASSWORD && hash.matches(password, memory);
        match account {
            Some(account) if matches && !account.disabled => Some(account.user.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::hash_password_with;
    use super::*;
    use argon2::Params;
    use std::time::{Duration, Instant};

    fn parse(body: &str, production: bool) -> Result<Accounts, Vec<String>> {
        Accounts::parse(body.as_bytes(), Path::new("users.toml"), production)
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn the_dummy_hash_is_as_costly_as_the_strongest_users_hash() {
        let weak = hash_password_with(&secret("a"), Params::new(1024, 1, 1, None).unwrap()).unwrap();
        let strong = hash_password_with(&secret("b"), Params::new(2048, 3, 1, None).unwrap()).unwrap();
        let accounts = parse(&format!(
            "[[users]]\nusername = \"weak\"\npassword_hash = \"{weak}\"\n[[users]]\nusername = \"strong\"\npassword_hash = \"{strong}\"\n"
        ), false)
        .unwrap();
        let params = accounts.dummy.argon2.params();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (2048, 3, 1));
        assert_eq!(accounts.blocks, 2048);
    }

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    /// Timing on a shared machine: interleave the kinds of attempt and
    /// compare medians, so a busy moment slows each alike. The strong hash
    /// has a third of the work of the default parameters and twelve times
    /// that of the weak one, so a dummy hash with the defaults, or with the
    /// weak user's parameters, misses the bounds by far.
    #[test]
    fn an_unknown_user_takes_as_long_as_a_wrong_password_for_the_strongest_hash() {
        let weak = hash_password_with(&secret("a"), Params::new(1024, 1, 1, None).unwrap()).unwrap();
        let strong = hash_password_with(&secret("b"), Params::new(4 * 1024, 3, 1, None).unwrap()).unwrap();
        let accounts = parse(&format!(
            "[[users]]\nusername = \"weak\"\npassword_hash = \"{weak}\"\n[[users]]\nusername = \"strong\"\npassword_hash = \"{strong}\"\n"
        ), false)
        .unwrap();
        let mut memory = Memory::new(accounts.blocks);
        let mut time = |username: &str| {
            let started = Instant::now();
            assert!(accounts.check(username, &secret("wrong"), &mut memory).is_none());
            started.elapsed()
        };
        let (mut strong, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..21 {
            strong.push(time("strong"));
            unknown.push(time("nobody"));
            time("weak");
        }
        let (strong, unknown) = (median(strong), median(unknown));
        let ratio = unknown.as_secs_f64() / strong.as_secs_f64();
        assert!((0.67..1.5).contains(&ratio), "unknown user {unknown:?}, wrong password {strong:?}");
    }
}
