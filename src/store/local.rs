//! The local store: one SQLite file (`store.path`), for one machine.
//!
//! SQLite (bundled, so nothing to install) rather than a pure-Rust engine:
//! its WAL mode lets several sealgate processes on one machine share the
//! file safely (a rolling restart briefly runs two), with every counter,
//! lock and one-use mark an atomic statement across them.
//!
//! Nothing is written until the first write: until then the file need not
//! exist, and reads answer as if it were empty. The file is created with
//! mode 0600 in a directory (0700) created if missing.
//!
//! Revocations reach subscribers in this process at once; revocations that
//! other processes write are read back every `store.poll_interval` (each row
//! carries a sequence number, so a poll reads only what is new).

use super::accounts::{AccountRecord, Created};
use super::{millis, Revocation, RevocationFeed, RevocationSnapshot, SessionRecord, StoreError};
use crate::clock::SharedClock;
use crate::config::store::StoreSettings;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// The schema this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    before INTEGER NOT NULL,
    until INTEGER NOT NULL,
    UNIQUE (kind, subject)
);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, token TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    user TEXT NOT NULL,
    id TEXT NOT NULL,
    provider TEXT NOT NULL,
    sid TEXT,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    user_agent TEXT,
    client_address TEXT,
    PRIMARY KEY (user, id)
);
CREATE INDEX IF NOT EXISTS sessions_by_sid ON sessions (provider, sid);
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    email_key TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    confirmed INTEGER,
    expires INTEGER
);
";

/// Expired rows are deleted this often (by the feed's task).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    timeout: Duration,
    poll_interval: Duration,
    clock: SharedClock,
    /// `None` until the file exists (and is opened).
    connection: Mutex<Option<Connection>>,
    /// Revocations written by this process, for its subscribers.
    announced: broadcast::Sender<Revocation>,
}

/// The local wall clock in milliseconds: the TTLs of counters, locks,
/// outcomes and one-use marks, shared by every process on the machine.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError::File { path: path.display().to_string(), message: message.to_string() }
}

impl LocalStore {
    /// Prepare the store at `settings.path`; writes nothing.
    pub fn open(settings: &StoreSettings, clock: SharedClock) -> Result<Self, StoreError> {
        let (announced, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                path: settings.path.clone(),
                timeout: settings.timeout,
                poll_interval: settings.poll_interval,
                clock,
                connection: Mutex::new(None),
                announced,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `work` on the connection in a blocking thread. With `create`
    /// false and no file yet, answers `None` without creating it.
    async fn with<T: Send + 'static>(
        &self,
        create: bool,
        work: impl FnOnce(&mut Connection, &Inner) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<Option<T>, StoreError> {
        let inner = Arc::clone(&self.inner);
        let limit = inner.timeout.saturating_mul(2);
        let task = tokio::task::spawn_blocking(move || {
            let mut slot = inner.connection.lock().map_err(|_| file_error(&inner.path, "a writer panicked"))?;
            if slot.is_none() {
                if !create && !inner.path.exists() {
                    return Ok(None);
                }
                *slot = Some(inner.connect()?);
            }
            let Some(connection) = slot.as_mut() else { return Ok(None) };
            work(connection, &inner).map(Some).map_err(StoreError::from)
        });
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(failed)) => Err(file_error(&self.inner.path, failed)),
            Err(_) => Err(StoreError::Timeout(limit)),
        }
    }

    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &Inner) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.with(true, work).await?.ok_or_else(|| file_error(&self.inner.path, "could not be created"))
    }

    pub async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        if revocation.until() <= self.inner.clock.now() {
            return Ok(());
        }
        let event = revocation.clone();
        self.write(move |connection, inner| {
            let now = inner.clock.now();
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (kind, subject, before, until) = match &event {
                Revocation::Session { id, until } => ("session", id.as_str(), 0, *until),
                Revocation::User { user, before, until } => ("user", user.as_str(), *before, *until),
            };
            let kept: Option<(i64, i64)> = transaction
                .query_row(
                    "SELECT before, until FROM revocations WHERE kind = ?1 AND subject = ?2",
                    params![kind, subject],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let (before, until) = match kept {
                Some((kept_before, kept_until)) => (before.max(kept_before), until.max(kept_until)),
                None => (before, until),
            };
            if kept != Some((before, until)) {
                // REPLACE gives the row a new sequence number, so pollers read it again.
                transaction.execute(
                    "INSERT OR REPLACE INTO revocations (kind, subject, before, until) VALUES (?1, ?2, ?3, ?4)",
                    params![kind, subject, before, until],
                )?;
            }
            transaction.execute("DELETE FROM revocations WHERE until <= ?1", params![now])?;
            transaction.commit()
        })
        .await?;
        let _ = self.inner.announced.send(revocation);
        Ok(())
    }

    /// The snapshot and the last sequence number it includes.
    pub async fn load_revocations(&self) -> Result<(RevocationSnapshot, i64), StoreError> {
        let loaded = self
            .with(false, |connection, inner| {
                let transaction = connection.transaction()?;
                let now = inner.clock.now();
                let last: i64 =
                    transaction.query_row("SELECT coalesce(max(seq), 0) FROM revocations", [], |row| row.get(0))?;
                let mut snapshot = RevocationSnapshot::default();
                for revocation in read_revocations(&transaction, "WHERE until > ?1", now)? {
                    snapshot.apply(&revocation);
                }
                transaction.commit()?;
                Ok((snapshot, last))
            })
            .await?;
        Ok(loaded.unwrap_or_default())
    }

    /// Revocations with a sequence number above `after`, and the last one read.
    async fn revocations_since(&self, after: i64) -> Result<(Vec<Revocation>, i64), StoreError> {
        let read = self
            .with(false, move |connection, _| {
                let mut statement = connection.prepare_cached(
                    "SELECT seq, kind, subject, before, until FROM revocations WHERE seq > ?1 ORDER BY seq",
                )?;
                let mut last = after;
                let mut revocations = Vec::new();
                let rows = statement.query_map(params![after], |row| {
                    Ok((row.get::<_, i64>(0)?, revocation_from_row(row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
                })?;
                for row in rows {
                    let (seq, revocation) = row?;
                    last = last.max(seq);
                    revocations.extend(revocation);
                }
                Ok((revocations, last))
            })
            .await?;
        Ok(read.unwrap_or((Vec::new(), after)))
    }

    pub fn subscribe(&self) -> RevocationFeed {
        let store = self.clone();
        let own = self.inner.announced.subscribe();
        RevocationFeed::spawn(move |sender| feed::follow(store, own, sender))
    }

    async fn sweep(&self) -> Result<(), StoreError> {
        self.with(false, |connection, inner| {
            let (now, now_ms) = (inner.clock.now(), wall_ms());
            connection.execute("DELETE FROM revocations WHERE until <= ?1", params![now])?;
            connection.execute("DELETE FROM sessions WHERE expires <= ?1", params![now])?;
            for table in ["counters", "locks", "outcomes", "seen"] {
                connection.execute(&format!("DELETE FROM {table} WHERE expires_ms <= ?1"), params![now_ms])?;
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let (key, window) = (key.to_owned(), millis(window));
        self.write(move |connection, _| {
            let now = wall_ms();
            connection.query_row(
                "INSERT INTO counters (key, count, expires_ms) VALUES (?1, 1, ?2)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN counters.expires_ms <= ?3 THEN 1 ELSE counters.count + 1 END,
                   expires_ms = CASE WHEN counters.expires_ms <= ?3 THEN excluded.expires_ms ELSE counters.expires_ms END
                 RETURNING count",
                params![key, now.saturating_add(window), now],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map(|count| u64::try_from(count).unwrap_or(0))
    }

    pub async fn take_back(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.with(false, move |connection, _| {
            connection.execute(
                "UPDATE counters SET count = count - 1 WHERE key = ?1 AND count > 0 AND expires_ms > ?2",
                params![key, wall_ms()],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn window_left(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let key = key.to_owned();
        let left = self
            .with(false, move |connection, _| {
                let now = wall_ms();
                connection
                    .query_row(
                        "SELECT expires_ms - ?2 FROM counters WHERE key = ?1 AND expires_ms > ?2",
                        params![key, now],
                        |row| row.get::<_, i64>(0),
                    )
                    .optional()
            })
            .await?;
        Ok(left.flatten().and_then(|ms| u64::try_from(ms).ok()).map(Duration::from_millis))
    }

    pub async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.with(false, move |connection, _| connection.execute("DELETE FROM counters WHERE key = ?1", params![key]))
            .await
            .map(|_| ())
    }

    pub async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (key, token, ttl) = (key.to_owned(), token.to_owned(), millis(ttl));
        self.write(move |connection, _| {
            let now = wall_ms();
            let changed = connection.execute(
                "INSERT INTO locks (key, token, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_ms = excluded.expires_ms
                 WHERE locks.expires_ms <= ?4",
                params![key, token, now.saturating_add(ttl), now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn unlock(&self, key: &str, token: &str) -> Result<bool, StoreError> {
        let (key, token) = (key.to_owned(), token.to_owned());
        let deleted = self
            .with(false, move |connection, _| {
                connection.execute(
                    "DELETE FROM locks WHERE key = ?1 AND token = ?2 AND expires_ms > ?3",
                    params![key, token, wall_ms()],
                )
            })
            .await?;
        Ok(deleted == Some(1))
    }

    pub async fn put_outcome(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let (key, value, ttl) = (key.to_owned(), value.to_vec(), millis(ttl));
        self.write(move |connection, _| {
            connection.execute(
                "INSERT OR REPLACE INTO outcomes (key, value, expires_ms) VALUES (?1, ?2, ?3)",
                params![key, value, wall_ms().saturating_add(ttl)],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn get_outcome(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        let value = self
            .with(false, move |connection, _| {
                connection
                    .query_row(
                        "SELECT value FROM outcomes WHERE key = ?1 AND expires_ms > ?2",
                        params![key, wall_ms()],
                        |row| row.get::<_, Vec<u8>>(0),
                    )
                    .optional()
            })
            .await?;
        Ok(value.flatten())
    }

    pub async fn seen_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (key, ttl) = (key.to_owned(), millis(ttl));
        self.write(move |connection, _| {
            let now = wall_ms();
            let changed = connection.execute(
                "INSERT INTO seen (key, expires_ms) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms WHERE seen.expires_ms <= ?3",
                params![key, now.saturating_add(ttl), now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn record_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.write(move |connection, _| {
            connection.execute(
                "INSERT OR REPLACE INTO sessions (user, id, provider, sid, created, expires, user_agent, client_address)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.user,
                    record.id,
                    record.provider,
                    record.sid,
                    record.created,
                    record.expires,
                    record.user_agent,
                    record.client_address
                ],
            )
        })
        .await
        .map(|_| ())
    }

    pub async fn list_sessions(&self, user: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let user = user.to_owned();
        self.read_sessions("WHERE user = ?1 AND expires > ?3", [user, String::new()]).await
    }

    pub async fn sessions_by_sid(&self, provider: &str, sid: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.read_sessions("WHERE provider = ?1 AND sid = ?2 AND expires > ?3", [provider.to_owned(), sid.to_owned()])
            .await
    }

    async fn read_sessions(&self, filter: &'static str, values: [String; 2]) -> Result<Vec<SessionRecord>, StoreError> {
        let records = self
            .with(false, move |connection, inner| {
                let mut statement = connection.prepare_cached(&format!(
                    "SELECT id, user, provider, created, expires, user_agent, client_address, sid FROM sessions {filter}"
                ))?;
                let [first, second] = &values;
                let rows = statement.query_map(params![first, second, inner.clock.now()], |row| {
                    Ok(SessionRecord {
                        id: row.get(0)?,
                        user: row.get(1)?,
                        provider: row.get(2)?,
                        created: row.get(3)?,
                        expires: row.get(4)?,
                        user_agent: row.get(5)?,
                        client_address: row.get(6)?,
                        sid: row.get(7)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        Ok(records.unwrap_or_default())
    }

    pub async fn remove_session(&self, user: &str, id: &str) -> Result<bool, StoreError> {
        let (user, id) = (user.to_owned(), id.to_owned());
        let removed = self
            .with(false, move |connection, _| {
                connection.execute("DELETE FROM sessions WHERE user = ?1 AND id = ?2", params![user, id])
            })
            .await?;
        Ok(removed == Some(1))
    }
}

/// Accounts (`credentials.signup`). An unconfirmed account past its
/// `expires` (the injected clock) counts as gone: it is deleted by the next
/// sign-up, and no read or update sees it.
impl LocalStore {
    pub async fn create_account(&self, account: &AccountRecord) -> Result<Created, StoreError> {
        let account = account.clone();
        self.write(move |connection, inner| {
            let now = inner.clock.now();
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            transaction.execute("DELETE FROM accounts WHERE expires IS NOT NULL AND expires <= ?1", params![now])?;
            let taken = |column: &str, key: &str| -> rusqlite::Result<bool> {
                let sql = format!("SELECT 1 FROM accounts WHERE {column} = ?1");
                Ok(transaction.query_row(&sql, params![key], |_| Ok(())).optional()?.is_some())
            };
            if taken("name", &account.name_key())? {
                return Ok(Created::UsernameTaken);
            }
            if taken("email_key", &account.email_key())? {
                return Ok(Created::EmailTaken);
            }
            transaction.execute(
                "INSERT INTO accounts (name, email_key, username, email, password_hash, created, confirmed, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    account.name_key(),
                    account.email_key(),
                    account.username,
                    account.email,
                    account.password_hash,
                    account.created,
                    account.confirmed,
                    account.expires
                ],
            )?;
            transaction.commit()?;
            Ok(Created::Created)
        })
        .await
    }

    pub async fn account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError> {
        let name = name.to_owned();
        let found = self
            .with(false, move |connection, inner| {
                connection
                    .query_row(
                        "SELECT username, email, password_hash, created, confirmed, expires FROM accounts
                         WHERE name = ?1 AND (expires IS NULL OR expires > ?2)",
                        params![name, inner.clock.now()],
                        |row| {
                            Ok(AccountRecord {
                                username: row.get(0)?,
                                email: row.get(1)?,
                                password_hash: row.get(2)?,
                                created: row.get(3)?,
                                confirmed: row.get(4)?,
                                expires: row.get(5)?,
                            })
                        },
                    )
                    .optional()
            })
            .await?;
        Ok(found.flatten())
    }

    pub async fn confirm_account(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |connection, inner| {
            let changed = connection.execute(
                "UPDATE accounts SET confirmed = COALESCE(confirmed, ?2), expires = NULL
                 WHERE name = ?1 AND (expires IS NULL OR expires > ?2)",
                params![name, inner.clock.now()],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn set_password_hash(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let (name, password_hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |connection, inner| {
            let changed = connection.execute(
                "UPDATE accounts SET password_hash = ?2 WHERE name = ?1 AND (expires IS NULL OR expires > ?3)",
                params![name, password_hash, inner.clock.now()],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}

impl Inner {
    /// Create (0600, in a 0700 directory) or open the file, and bring its schema up to date.
    fn connect(&self) -> Result<Connection, StoreError> {
        let path = &self.path;
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(parent).map_err(|e| file_error(parent, e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).map_err(|e| file_error(path, e))?;

        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(self.timeout)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(file_error(
                path,
                format!("written by a newer sealgate (schema {version}, this one knows {SCHEMA_VERSION})"),
            ));
        }
        connection.execute_batch(SCHEMA)?;
        connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(connection)
    }
}

fn revocation_from_row(kind: String, subject: String, before: i64, until: i64) -> Option<Revocation> {
    match kind.as_str() {
        "session" => Some(Revocation::Session { id: subject, until }),
        "user" => Some(Revocation::User { user: subject, before, until }),
        _ => None,
    }
}

fn read_revocations(connection: &Connection, filter: &str, now: i64) -> rusqlite::Result<Vec<Revocation>> {
    let mut statement =
        connection.prepare_cached(&format!("SELECT kind, subject, before, until FROM revocations {filter}"))?;
    let rows = statement
        .query_map(params![now], |row| Ok(revocation_from_row(row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?;
    let mut revocations = Vec::new();
    for row in rows {
        revocations.extend(row?);
    }
    Ok(revocations)
}

mod feed;

#[cfg(test)]
mod tests;
