//! The credentials provider: usernames and argon2id password hashes from a
//! users file, checked a bounded number at a time. It owns the provider
//! itself (load, verify, reload, how usernames appear in logs); the users
//! file's format and checks are in `users_file`, the hashes in `hash`,
//! and the pool that runs verifications in `gate`.

mod gate;
mod hash;
mod users_file;

pub use gate::{Busy, VerifyLimits};
pub use hash::{hash_password, hash_password_with};
pub use users_file::{MAX_PASSWORD, MAX_USERNAME};

use crate::identity::User;
use crate::reload::Reloadable;
use arc_swap::ArcSwap;
use gate::Gate;
use hash::StoredHash;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use users_file::Accounts;

/// The provider id of password sign-ins, as sessions record it.
pub const PROVIDER_ID: &str = "credentials";

pub struct CredentialsProvider {
    accounts: ArcSwap<Accounts>,
    path: PathBuf,
    production: bool,
    gate: Arc<Gate>,
    /// Keys the short hash that stands for unknown usernames in logs.
    log_key: [u8; 32],
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsProvider").field("accounts", &self.accounts.load().len()).finish()
    }
}

/// How a username appears in logs: an account's name as it is, anything
/// else (a typo, or a password typed into the wrong field) as a short keyed
/// hash that tells repeated attempts apart and nothing more.
pub struct LoggedName<'a> {
    known: Option<&'a str>,
    hash: [u8; 4],
}

impl std::fmt::Display for LoggedName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.known {
            Some(name) => f.write_str(name),
            None => {
                f.write_str("unknown:")?;
                self.hash.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

impl CredentialsProvider {
    /// Load and check the users file. Every problem is returned.
    pub fn load(path: &Path, production: bool, limits: VerifyLimits) -> Result<CredentialsProvider, Vec<String>> {
        let text =
            std::fs::read(path).map_err(|e| vec![format!("credentials.users_file `{}`: {e}", path.display())])?;
        Ok(CredentialsProvider {
            accounts: ArcSwap::from_pointee(Accounts::parse(&text, path, production)?),
            path: path.to_owned(),
            production,
            gate: Gate::new(limits),
            log_key: rand::random(),
        })
    }

    /// Check a username and password on the blocking pool, waiting for a
    /// turn. Always verifies one hash, whether or not the user exists.
    /// `Err(Busy)` when too many checks are already waiting.
    pub async fn verify(self: &Arc<Self>, username: &str, password: SecretString) -> Result<Option<User>, Busy> {
        let accounts = self.accounts.load_full();
        let username = username.to_owned();
        self.gate.run(accounts.blocks, move |memory| accounts.check(&username, &password, memory)).await
    }

    /// Check `password` against an argon2id PHC string kept elsewhere (a
    /// signed-up account's, from the store), on the same pool and with the
    /// same bound as the users file's checks. Without a hash (no such
    /// account), or with one that is not argon2id, a dummy with the default
    /// parameters is checked instead, so the time taken does not tell.
    pub async fn verify_stored(self: &Arc<Self>, phc: Option<&str>, password: SecretString) -> Result<bool, Busy> {
        let stored = phc.and_then(|phc| StoredHash::parse(phc).ok());
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| StoredHash::dummy_like(&StoredHash::default_params()));
        let blocks = hash.blocks();
        let matches = self
            .gate
            .run(blocks, move |memory| {
                let password = password.expose_secret().as_bytes();
                password.len() <= MAX_PASSWORD && hash.matches(password, memory)
            })
            .await?;
        Ok(known && matches)
    }

    /// A new argon2id hash of `password` (the default parameters), made on
    /// the verification pool so sign-ups share its bound on memory.
    pub async fn hash_new(self: &Arc<Self>, password: SecretString) -> Result<Result<String, String>, Busy> {
        self.gate.run(0, move |_memory| hash_password(&password)).await
    }

    /// Whether `username` is an account of the users file in force and not
    /// disabled: a lookup in memory (the accounts the last reload put in
    /// force), cheap enough for every request.
    pub fn is_active(&self, username: &str) -> bool {
        self.accounts.load().is_active(username)
    }

    /// How many accounts the users file in force has.
    pub fn accounts(&self) -> usize {
        self.accounts.load().len()
    }

    /// The user id of the account `username` names, compared without case
    /// (`ALICE` gives the file's `alice`).
    pub fn account_id(&self, username: &str) -> Option<String> {
        self.accounts.load().account_id(username).map(str::to_owned)
    }

    /// The username as logs may show it.
    pub fn logged_name<'a>(&'a self, username: &'a str) -> LoggedName<'a> {
        let known = self.accounts.load().contains(username).then_some(username);
        let digest = Sha256::new().chain_update(self.log_key).chain_update(username.as_bytes()).finalize();
        let mut hash = [0u8; 4];
        hash.iter_mut().zip(digest.iter()).for_each(|(to, from)| *to = *from);
        LoggedName { known, hash }
    }
}

/// The users file is reloaded when it changes (and on `SIGHUP`): a file with
/// any problem is refused whole, and the accounts in force stay.
impl Reloadable for CredentialsProvider {
    fn what(&self) -> &'static str {
        "users file"
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn reload(&self, bytes: &[u8]) -> Result<Option<String>, String> {
        let accounts = Accounts::parse(bytes, &self.path, self.production).map_err(|problems| problems.join("; "))?;
        let summary = format!("{} user(s)", accounts.len());
        self.accounts.store(Arc::new(accounts));
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    const ONE: VerifyLimits = VerifyLimits { concurrent: 1, queue: 0 };

    fn users_file(body: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), body).unwrap();
        file
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn cheap() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[tokio::test]
    async fn verifies_known_users_only() {
        let hash = hash_password(&secret("correct horse")).unwrap();
        let file = users_file(&format!(
            "[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\nemail = \"alice@example.com\"\ngroups = [\"admins\"]\n"
        ));
        let provider = Arc::new(CredentialsProvider::load(file.path(), false, ONE).unwrap());
        let user = provider.verify("alice", secret("correct horse")).await.unwrap().unwrap();
        assert_eq!(user.email.as_deref(), Some("alice@example.com"));
        assert_eq!(user.groups, ["admins"]);
        assert!(provider.verify("alice", secret("wrong")).await.unwrap().is_none());
        assert!(provider.verify("bob", secret("correct horse")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn usernames_are_compared_trimmed_and_without_case() {
        let hash = hash_password_with(&secret("correct horse"), cheap()).unwrap();
        let file = users_file(&format!("[[users]]\nusername = \"Alice\"\npassword_hash = \"{hash}\"\n"));
        let provider = Arc::new(CredentialsProvider::load(file.path(), false, ONE).unwrap());
        for typed in ["alice", "ALICE", " Alice "] {
            let user = provider.verify(typed, secret("correct horse")).await.unwrap();
            assert_eq!(user.map(|u| u.id).as_deref(), Some("Alice"), "{typed:?}");
            assert!(provider.is_active(typed), "{typed:?}");
        }
        assert_eq!(provider.account_id("aLiCe").as_deref(), Some("Alice"));
        assert_eq!(provider.account_id("bob"), None);
        let twice = users_file(&format!(
            "[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\n[[users]]\nusername = \"ALICE\"\npassword_hash = \"{hash}\"\n"
        ));
        let problems = CredentialsProvider::load(twice.path(), false, ONE).err().unwrap();
        assert!(problems.iter().any(|p| p.contains("appears twice")), "{problems:?}");
    }

    #[tokio::test]
    async fn a_disabled_user_cannot_sign_in_and_is_not_active() {
        let hash = hash_password_with(&secret("correct horse"), cheap()).unwrap();
        let file = users_file(&format!(
            "[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\ndisabled = true\n\
             [[users]]\nusername = \"bob\"\npassword_hash = \"{hash}\"\ndisabled = false\n"
        ));
        let provider = Arc::new(CredentialsProvider::load(file.path(), false, ONE).unwrap());
        assert!(provider.verify("alice", secret("correct horse")).await.unwrap().is_none(), "the right password");
        assert!(!provider.is_active("alice"));
        assert!(provider.verify("bob", secret("correct horse")).await.unwrap().is_some());
        assert!(provider.is_active("bob"));
        assert!(!provider.is_active("carol"), "not in the file");

        // A reload puts the change in force for the next lookup.
        provider.reload(format!("[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\n").as_bytes()).unwrap();
        assert!(provider.is_active("alice"));
        assert!(!provider.is_active("bob"), "removed");
        let not_a_flag =
            users_file(&format!("[[users]]\nusername = \"x\"\npassword_hash = \"{hash}\"\ndisabled = \"yes\"\n"));
        let problems = CredentialsProvider::load(not_a_flag.path(), false, ONE).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("disabled")), "{problems:?}");
    }

    #[test]
    fn production_refuses_demo_users_and_bad_hashes() {
        let file = users_file("[[users]]\nusername = \"demo\"\npassword_hash = \"plain\"\ndemo = true\n");
        let problems = CredentialsProvider::load(file.path(), true, ONE).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("demo users are refused")));
        assert!(problems.iter().any(|p| p.contains("not a PHC string")));
    }

    #[test]
    fn hashes_other_than_argon2id_are_refused_at_load() {
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, cheap())
            .hash_password(b"pw", &SaltString::generate(&mut rand::rngs::OsRng))
            .unwrap()
            .to_string();
        let no_output = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ";
        for (hash, problem) in [(argon2i.as_str(), "must be argon2id"), (no_output, "not a PHC string")] {
            let file = users_file(&format!("[[users]]\nusername = \"u\"\npassword_hash = \"{hash}\"\n"));
            let problems = CredentialsProvider::load(file.path(), false, ONE).unwrap_err();
            assert!(problems.iter().any(|p| p.contains(problem)), "{hash}: {problems:?}");
        }
    }

    #[test]
    fn logs_show_account_names_and_only_a_short_hash_of_anything_else() {
        let hash = hash_password_with(&secret("x"), cheap()).unwrap();
        let file = users_file(&format!("[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\n"));
        let provider = CredentialsProvider::load(file.path(), false, ONE).unwrap();
        assert_eq!(provider.logged_name("alice").to_string(), "alice");
        let typed = "my secret passphrase";
        let shown = provider.logged_name(typed).to_string();
        assert!(shown.starts_with("unknown:") && shown.len() == "unknown:".len() + 8, "{shown}");
        assert!(!shown.contains("secret"));
        assert_eq!(shown, provider.logged_name(typed).to_string(), "the same name, the same hash");
        assert_ne!(shown, provider.logged_name("my secret passphrasf").to_string());
    }
}
