//! The credentials provider: usernames and argon2id password hashes from a
//! users file (`config/users.toml`).
//!
//! Unknown usernames are checked against a dummy hash, so the time a failed
//! attempt takes does not tell whether the user exists.

use crate::domain::User;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// The provider id of password sign-ins, as sessions record it.
pub const PROVIDER_ID: &str = "credentials";

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
}

struct Account {
    user: User,
    password_hash: String,
}

pub struct CredentialsProvider {
    accounts: HashMap<String, Account>,
    dummy_hash: String,
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsProvider").field("accounts", &self.accounts.len()).finish()
    }
}

/// Hash a password with argon2id and the crate's default (OWASP) parameters.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash: {e}"))
}

/// Longest username and password accepted; longer input fails like a wrong password.
pub const MAX_USERNAME: usize = 256;
pub const MAX_PASSWORD: usize = 1024;

impl CredentialsProvider {
    /// Load and check the users file. Every problem is returned.
    pub fn load(path: &Path, production: bool) -> Result<CredentialsProvider, Vec<String>> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| vec![format!("credentials.users_file `{shown}`: {e}")])?;
        let file: UsersFile =
            toml::from_str(&text).map_err(|e| vec![format!("credentials.users_file `{shown}`: {e}")])?;
        let mut problems = Vec::new();
        let mut accounts = HashMap::new();
        for entry in file.users {
            let who = format!("{shown}: user `{}`", entry.username);
            if entry.username.is_empty() || entry.username.len() > MAX_USERNAME {
                problems.push(format!("{shown}: a username is empty or longer than {MAX_USERNAME} bytes"));
                continue;
            }
            if entry.demo && production {
                problems.push(format!("{who} is a demo user; demo users are refused in production mode"));
            }
            match PasswordHash::new(&entry.password_hash) {
                Ok(hash) if hash.algorithm.as_str() == "argon2id" => {}
                Ok(_) => problems.push(format!("{who}: password_hash must be argon2id")),
                Err(_) => {
                    problems.push(format!("{who}: password_hash is not a PHC string; use `sealgate hash-password`"))
                }
            }
            let user = User {
                id: entry.username.clone(),
                username: Some(entry.username.clone()),
                email: entry.email,
                name: entry.name,
                avatar_url: None,
                groups: entry.groups,
            };
            if let Err(e) = user.validate() {
                problems.push(format!("{who}: {e}"));
            }
            let account = Account { user, password_hash: entry.password_hash };
            if accounts.insert(entry.username.clone(), account).is_some() {
                problems.push(format!("{who} appears twice"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let dummy = SecretString::from(format!("dummy-{}", rand::random::<u64>()));
        let dummy_hash = hash_password(&dummy).map_err(|e| vec![e])?;
        Ok(CredentialsProvider { accounts, dummy_hash })
    }

    /// Check a username and password. CPU-heavy (argon2): call it off the
    /// async workers. Always verifies one hash, whether or not the user exists.
    pub fn verify(&self, username: &str, password: &SecretString) -> Option<User> {
        let account = self.accounts.get(username);
        let hash = account.map_or(self.dummy_hash.as_str(), |a| a.password_hash.as_str());
        let password = password.expose_secret().as_bytes();
        let matches = password.len() <= MAX_PASSWORD
            && PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok());
        match account {
            Some(account) if matches => Some(account.user.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_file(body: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), body).unwrap();
        file
    }

    #[test]
    fn verifies_known_users_only() {
        let hash = hash_password(&SecretString::from("correct horse".to_owned())).unwrap();
        let file = users_file(&format!(
            "[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\nemail = \"alice@example.com\"\ngroups = [\"admins\"]\n"
        ));
        let provider = CredentialsProvider::load(file.path(), false).unwrap();
        let user = provider.verify("alice", &SecretString::from("correct horse".to_owned())).unwrap();
        assert_eq!(user.email.as_deref(), Some("alice@example.com"));
        assert_eq!(user.groups, ["admins"]);
        assert!(provider.verify("alice", &SecretString::from("wrong".to_owned())).is_none());
        assert!(provider.verify("bob", &SecretString::from("correct horse".to_owned())).is_none());
    }

    #[test]
    fn production_refuses_demo_users_and_bad_hashes() {
        let file = users_file("[[users]]\nusername = \"demo\"\npassword_hash = \"plain\"\ndemo = true\n");
        let problems = CredentialsProvider::load(file.path(), true).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("demo users are refused")));
        assert!(problems.iter().any(|p| p.contains("not a PHC string")));
    }
}
