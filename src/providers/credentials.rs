//! The credentials provider: usernames and argon2id password hashes from a
//! users file (`config/users.toml`), and the bounded way they are checked.
//!
//! Unknown usernames are checked against a dummy hash with the parameters of
//! the strongest hash in the file, so the time a failed attempt takes does
//! not tell whether the user exists.
//!
//! Argon2 needs its `m` KiB of working memory per verification (19 MiB with
//! the default parameters). Verifications run on the blocking pool, at most
//! `max_concurrent_verifications` at once; up to `verification_queue` more
//! wait, and any beyond that are turned away ([`Busy`]). The working memory
//! is kept in a pool while verifications follow each other, and handed back
//! to the system when the last one finishes.

use crate::domain::User;
use crate::reload::Reloadable;
use arc_swap::ArcSwap;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

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
    hash: StoredHash,
}

/// An argon2id PHC string taken apart once, at load: the hasher with its
/// parameters, the salt, and the output a right password reproduces.
struct StoredHash {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    output: Vec<u8>,
}

impl StoredHash {
    fn parse(phc: &str) -> Result<StoredHash, &'static str> {
        const NOT_PHC: &str = "password_hash is not a PHC string; use `sealgate hash-password`";
        let hash = PasswordHash::new(phc).map_err(|_| NOT_PHC)?;
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return Err("password_hash must be argon2id");
        }
        let version = hash.version.map_or(Ok(Version::default()), Version::try_from).map_err(|_| NOT_PHC)?;
        let params = Params::try_from(&hash).map_err(|_| "password_hash has unusable argon2 parameters")?;
        let mut salt = [0u8; 64];
        let salt = hash.salt.ok_or(NOT_PHC)?.decode_b64(&mut salt).map_err(|_| NOT_PHC)?.to_vec();
        let output = hash.hash.ok_or(NOT_PHC)?.as_bytes().to_vec();
        Ok(StoredHash { argon2: Argon2::new(Algorithm::Argon2id, version, params), salt, output })
    }

    /// A hash no password matches, as costly to check as `like`.
    fn dummy_like(like: &StoredHash) -> StoredHash {
        let salt: [u8; 16] = rand::random();
        let output: Vec<u8> = (0..like.output.len()).map(|_| rand::random()).collect();
        StoredHash { argon2: like.argon2.clone(), salt: salt.to_vec(), output }
    }

    fn blocks(&self) -> usize {
        self.argon2.params().block_count()
    }

    /// The work of one check: blocks filled per pass, times passes.
    fn cost(&self) -> (u64, usize) {
        let blocks = self.blocks();
        ((blocks as u64).saturating_mul(u64::from(self.argon2.params().t_cost())), blocks)
    }

    fn matches(&self, password: &[u8], memory: &mut Memory) -> bool {
        let mut output = Zeroizing::new(vec![0u8; self.output.len()]);
        let blocks = memory.at_least(self.blocks());
        self.argon2.hash_password_into_with_memory(password, &self.salt, &mut output, blocks).is_ok()
            && bool::from(output.ct_eq(&self.output))
    }
}

/// Argon2's working memory for one verification at a time.
struct Memory(Vec<Block>);

/// glibc serves no allocation above its largest mmap threshold (32 MiB on
/// 64-bit systems) from its arenas: such a buffer is mapped on its own and
/// unmapped when dropped, so the memory goes back to the system instead of
/// staying in an arena. Only the blocks argon2 uses are ever touched, so the
/// rest of the reservation costs address space, not memory.
const MAPPED_ON_ITS_OWN: usize = 32 * 1024 + 64;

impl Memory {
    fn new(blocks: usize) -> Memory {
        let mut memory = Vec::with_capacity(blocks.max(MAPPED_ON_ITS_OWN));
        memory.resize(blocks, Block::default());
        Memory(memory)
    }

    fn at_least(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            *self = Memory::new(blocks);
        }
        &mut self.0
    }
}

/// Too many sign-ins are already waiting for a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Busy;

/// How many password checks run at once, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyLimits {
    /// Checks that run at once; 0 means one per core.
    pub concurrent: usize,
    /// Checks that may wait for a turn.
    pub queue: usize,
}

/// Admission to the blocking pool, and the pool of working memory.
struct Gate {
    running: Arc<Semaphore>,
    /// Checks admitted and not yet finished: running and waiting.
    admitted: AtomicUsize,
    capacity: usize,
    /// Working memory between checks; emptied when the last check ends.
    spare: Mutex<Vec<Memory>>,
}

/// A place among the admitted checks. Dropping it when it was the last one
/// hands the spare working memory back.
struct Ticket {
    gate: Arc<Gate>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.gate.admitted.fetch_sub(1, Ordering::AcqRel) == 1 {
            let idle = std::mem::take(&mut *self.gate.spare.lock().unwrap_or_else(|e| e.into_inner()));
            drop(idle);
        }
    }
}

impl Gate {
    fn new(limits: VerifyLimits) -> Arc<Gate> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let concurrent = if limits.concurrent == 0 { cores } else { limits.concurrent.min(Semaphore::MAX_PERMITS) };
        Arc::new(Gate {
            running: Arc::new(Semaphore::new(concurrent)),
            admitted: AtomicUsize::new(0),
            capacity: concurrent.saturating_add(limits.queue),
            spare: Mutex::new(Vec::new()),
        })
    }

    fn admit(self: &Arc<Gate>) -> Result<Ticket, Busy> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let ticket = Ticket { gate: self.clone() };
        if before >= self.capacity {
            drop(ticket);
            return Err(Busy);
        }
        Ok(ticket)
    }

    fn take_memory(&self, blocks: usize) -> Memory {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_else(|| Memory::new(blocks))
    }

    fn give_back(&self, memory: Memory) {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
    }

    /// Run `check` on the blocking pool with working memory, once a turn is
    /// free. The permit and the ticket travel with the check, so a client
    /// that goes away does not free its turn before its check ends.
    async fn run<T: Send + 'static>(
        self: &Arc<Gate>,
        blocks: usize,
        check: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let ticket = self.admit()?;
        let permit: OwnedSemaphorePermit = self.running.clone().acquire_owned().await.map_err(|_| Busy)?;
        let gate = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = gate.take_memory(blocks);
            let result = check(&mut memory);
            gate.give_back(memory);
            drop(permit);
            drop(ticket);
            result
        })
        .await
        .map_err(|_| Busy)
    }
}

/// The users file's accounts as one value, swapped whole when the file is
/// reloaded, with the dummy hash and the memory they need.
struct Accounts {
    by_name: HashMap<String, Account>,
    dummy: StoredHash,
    /// The most working memory any check needs.
    blocks: usize,
}

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
        f.debug_struct("CredentialsProvider").field("accounts", &self.accounts.load().by_name.len()).finish()
    }
}

/// Hash a password with argon2id and the crate's default (OWASP) parameters.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    hash_password_with(password, Params::DEFAULT)
}

/// Hash a password with argon2id and these parameters.
pub fn hash_password_with(password: &SecretString, params: Params) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash: {e}"))
}

/// Longest username and password accepted; longer input fails like a wrong password.
pub const MAX_USERNAME: usize = 256;
pub const MAX_PASSWORD: usize = 1024;

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

impl Accounts {
    /// Read and check a users file's contents. Every problem is returned.
    fn parse(text: &[u8], path: &Path, production: bool) -> Result<Accounts, Vec<String>> {
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
                problems.push(format!("{who} is a demo user; demo users are refused in production mode"));
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
            let hash = match StoredHash::parse(&entry.password_hash) {
                Ok(hash) => hash,
                Err(e) => {
                    problems.push(format!("{who}: {e}"));
                    continue;
                }
            };
            if accounts.insert(entry.username.clone(), Account { user, hash }).is_some() {
                problems.push(format!("{who} appears twice"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let default = StoredHash {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT),
            salt: Vec::new(),
            output: vec![0; Params::DEFAULT_OUTPUT_LEN],
        };
        let strongest = accounts.values().map(|a| &a.hash).max_by_key(|h| h.cost()).unwrap_or(&default);
        let dummy = StoredHash::dummy_like(strongest);
        let blocks = accounts.values().map(|a| a.hash.blocks()).chain([dummy.blocks()]).max().unwrap_or(0);
        Ok(Accounts { by_name: accounts, dummy, blocks })
    }

    fn check(&self, username: &str, password: &SecretString, memory: &mut Memory) -> Option<User> {
        let account = self.by_name.get(username);
        let hash = account.map_or(&self.dummy, |a| &a.hash);
        let password = password.expose_secret().as_bytes();
        let matches = password.len() <= MAX_PASSWORD && hash.matches(password, memory);
        match account {
            Some(account) if matches => Some(account.user.clone()),
            _ => None,
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

    /// The username as logs may show it.
    pub fn logged_name<'a>(&'a self, username: &'a str) -> LoggedName<'a> {
        let known = self.accounts.load().by_name.contains_key(username).then_some(username);
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
        let summary = format!("{} user(s)", accounts.by_name.len());
        self.accounts.store(Arc::new(accounts));
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

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
    fn the_dummy_hash_is_as_costly_as_the_strongest_users_hash() {
        let weak = hash_password_with(&secret("a"), Params::new(1024, 1, 1, None).unwrap()).unwrap();
        let strong = hash_password_with(&secret("b"), Params::new(2048, 3, 1, None).unwrap()).unwrap();
        let file = users_file(&format!(
            "[[users]]\nusername = \"weak\"\npassword_hash = \"{weak}\"\n[[users]]\nusername = \"strong\"\npassword_hash = \"{strong}\"\n"
        ));
        let provider = CredentialsProvider::load(file.path(), false, ONE).unwrap();
        let accounts = provider.accounts.load();
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
        let file = users_file(&format!(
            "[[users]]\nusername = \"weak\"\npassword_hash = \"{weak}\"\n[[users]]\nusername = \"strong\"\npassword_hash = \"{strong}\"\n"
        ));
        let provider = CredentialsProvider::load(file.path(), false, ONE).unwrap();
        let provider = provider.accounts.load();
        let mut memory = Memory::new(provider.blocks);
        let mut time = |username: &str| {
            let started = Instant::now();
            assert!(provider.check(username, &secret("wrong"), &mut memory).is_none());
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_queue_are_turned_away_and_at_most_the_limit_run_at_once() {
        let gate = Gate::new(VerifyLimits { concurrent: 2, queue: 3 });
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let attempts = (0..10).map(|_| {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                gate.run(8, move |_memory| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        let results = futures_util::future::join_all(attempts.collect::<Vec<_>>()).await;
        let busy = results.iter().filter(|r| r.as_ref().unwrap().is_err()).count();
        assert_eq!(busy, 5, "2 running + 3 waiting admitted, the rest turned away");
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn working_memory_is_handed_back_when_the_last_check_ends() {
        let gate = Gate::new(VerifyLimits { concurrent: 2, queue: 2 });
        let (first, second) =
            tokio::join!(gate.run(1024, |memory| memory.0.len()), gate.run(1024, |memory| memory.0.len()));
        assert_eq!((first, second), (Ok(1024), Ok(1024)));
        assert!(gate.spare.lock().unwrap().is_empty(), "idle, yet memory is kept");
        assert_eq!(gate.admitted.load(Ordering::SeqCst), 0);
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
