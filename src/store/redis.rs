//! The Redis store (`kind = "redis"`): Redis or Valkey shared by any number
//! of replicas.
//!
//! Through the `redis` crate (redis-rs, the maintained client Redis itself
//! points to): its tokio [`ConnectionManager`] multiplexes every call over
//! one connection and reconnects by itself; `rediss://` uses rustls, as the
//! rest of sealgate does. Authentication comes in the URL
//! (`redis://user:password@host:port/db`), which is never logged with its
//! password. Every call is bounded by `store.timeout`.
//!
//! Keys, all under `store.key_prefix` (`P`):
//! - `P:revoked:sessions` (sorted set, id scored by its expiry),
//!   `P:revoked:users` (hash, user to "issued before"),
//!   `P:revoked:users:until` (sorted set, user scored by the mark's expiry);
//!   each revocation is published on the channel `P:revocations`;
//! - `P:hit:K`, `P:lock:K`, `P:outcome:K`, `P:seen:K` (strings with a TTL);
//! - `P:sessions:USER` (hash, session id to its JSON record) and
//!   `P:sid:PROVIDER:SID` (set of `[user, id]`), expiring with their newest session;
//! - `P:account:NAME` (hash: the account's fields) and `P:account-email:EMAIL`
//!   (the account's name), expiring with an unconfirmed account. The
//!   account scripts reach the account an address key names and the address
//!   key an account names, keys they are not handed: standalone Redis (or
//!   Valkey), not Redis Cluster.

use super::accounts::{AccountRecord, Created};
use super::{bounded, millis, FeedEvent, Revocation, RevocationFeed, RevocationSnapshot, SessionRecord, StoreError};
use crate::clock::SharedClock;
use crate::config::store::{RedisUrl, StoreSettings};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// Revoke a session: keep the later expiry, drop expired ids, announce.
static REVOKE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local kept = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if (not kept) or tonumber(kept) < tonumber(ARGV[2]) then
            redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
        redis.call('PUBLISH', ARGV[4], ARGV[5])
        return 1",
    )
});

/// Mark a user: keep the later "before" and the later expiry, drop expired marks, announce.
static REVOKE_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local kept = redis.call('HGET', KEYS[1], ARGV[1])
        if (not kept) or tonumber(kept) < tonumber(ARGV[2]) then
            redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        end
        local kept_until = redis.call('ZSCORE', KEYS[2], ARGV[1])
        if (not kept_until) or tonumber(kept_until) < tonumber(ARGV[3]) then
            redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        end
        for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])) do
            redis.call('HDEL', KEYS[1], user)
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
        redis.call('PUBLISH', ARGV[5], ARGV[6])
        return 1",
    )
});

/// Everything unexpired, read at one instant: `{ {id, until, ...}, {user, before, until, ...} }`.
static LOAD_REVOCATIONS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local sessions = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
        local marks = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'WITHSCORES')
        local users = {}
        for i = 1, #marks, 2 do
            local before = redis.call('HGET', KEYS[2], marks[i])
            if before then
                table.insert(users, marks[i])
                table.insert(users, before)
                table.insert(users, marks[i + 1])
            end
        end
        return { sessions, users }",
    )
});

/// Count a hit in a window that starts at the first hit.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = redis.call('INCR', KEYS[1])
        if redis.call('PTTL', KEYS[1]) < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
        end
        return count",
    )
});

/// Take back one hit, never below zero (DECR keeps the key's TTL).
static TAKE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = tonumber(redis.call('GET', KEYS[1]))
        if count and count > 0 then
            return redis.call('DECR', KEYS[1])
        end
        return 0",
    )
});

/// Delete a lock only if it still holds the caller's token.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0",
    )
});

/// Record a session and index it by sid; the keys live as long as their newest session.
static RECORD_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local ttl = tonumber(ARGV[3])
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        if redis.call('PTTL', KEYS[1]) < ttl then
            redis.call('PEXPIRE', KEYS[1], ttl)
        end
        if KEYS[2] then
            redis.call('SADD', KEYS[2], ARGV[4])
            if redis.call('PTTL', KEYS[2]) < ttl then
                redis.call('PEXPIRE', KEYS[2], ttl)
            end
        end
        return 1",
    )
});

/// Whether the account hash at a key counts at `now` (Lua, shared by the account scripts).
const LIVE_ACCOUNT: &str = r"
        local function live(key, now)
            if redis.call('EXISTS', key) == 0 then return false end
            local expires = redis.call('HGET', key, 'expires')
            return not (expires and expires ~= '' and tonumber(expires) <= now)
        end";

/// Create an account unless a live one has its name or its address:
/// 0 created, 1 name taken, 2 address taken. The address key names its
/// account; it counts only while that account is live and still has this
/// address (an expired account's address key is stale, not taken).
static CREATE_ACCOUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LIVE_ACCOUNT}
        local now = tonumber(ARGV[1])
        if live(KEYS[1], now) then return 1 end
        local owner = redis.call('GET', KEYS[2])
        if owner then
            local owner_key = ARGV[2] .. owner
            if live(owner_key, now) and redis.call('HGET', owner_key, 'email_key') == ARGV[5] then return 2 end
        end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'username', ARGV[6], 'email', ARGV[7], 'email_key', ARGV[5],
            'password_hash', ARGV[8], 'created', ARGV[9], 'confirmed', ARGV[10], 'expires', ARGV[11])
        redis.call('SET', KEYS[2], ARGV[4])
        local ttl = tonumber(ARGV[3])
        if ttl > 0 then
            redis.call('PEXPIRE', KEYS[1], ttl)
            redis.call('PEXPIRE', KEYS[2], ttl)
        end
        return 0"
    ))
});

/// Confirm a live account: its first confirmation time kept, no expiry on
/// it or on its address key. 1 done, 0 no live account.
static CONFIRM_ACCOUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LIVE_ACCOUNT}
        if not live(KEYS[1], tonumber(ARGV[1])) then return 0 end
        if redis.call('HGET', KEYS[1], 'confirmed') == '' then
            redis.call('HSET', KEYS[1], 'confirmed', ARGV[1])
        end
        redis.call('HSET', KEYS[1], 'expires', '')
        redis.call('PERSIST', KEYS[1])
        redis.call('PERSIST', ARGV[2] .. redis.call('HGET', KEYS[1], 'email_key'))
        return 1"
    ))
});

/// Replace a live account's password hash: 1 done, 0 no live account.
static SET_PASSWORD_HASH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LIVE_ACCOUNT}
        if not live(KEYS[1], tonumber(ARGV[1])) then return 0 end
        redis.call('HSET', KEYS[1], 'password_hash', ARGV[2])
        return 1"
    ))
});

/// Reconnection attempts back off from this up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// How the one connection is made and kept.
    config: ConnectionManagerConfig,
    /// Made at the first call, inside the runtime that makes the calls (so
    /// opening the store needs no runtime: `check-config` opens it too).
    connection: std::sync::OnceLock<ConnectionManager>,
    url: RedisUrl,
    timeout: Duration,
    poll_interval: Duration,
    prefix: String,
    clock: SharedClock,
}

impl RedisStore {
    /// Prepare the client; connects lazily, so this fails only on a bad URL.
    pub fn open(settings: &StoreSettings, clock: SharedClock) -> Result<Self, StoreError> {
        let url = settings.url.clone().unwrap_or_else(|| RedisUrl::new(""));
        let client = redis::Client::open(url.expose()).map_err(|_| StoreError::File {
            path: url.redacted(),
            message: "not a usable redis:// or rediss:// URL".into(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(MIN_BACKOFF)
            .set_max_delay(MAX_BACKOFF);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                connection: std::sync::OnceLock::new(),
                url,
                timeout: settings.timeout,
                poll_interval: settings.poll_interval,
                prefix: settings.key_prefix.clone(),
                clock,
            }),
        })
    }

    /// The URL without its password.
    pub fn redacted_url(&self) -> String {
        self.inner.url.redacted()
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.inner.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    fn channel(&self) -> String {
        self.key(&["revocations"])
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(connection) = self.inner.connection.get() {
            return Ok(connection.clone());
        }
        let made = ConnectionManager::new_lazy_with_config(self.inner.client.clone(), self.inner.config.clone())?;
        Ok(self.inner.connection.get_or_init(|| made).clone())
    }

    pub async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        let now = self.inner.clock.now();
        if revocation.until() <= now {
            return Ok(());
        }
        let payload = serde_json::to_string(&revocation).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut connection = self.connection()?;
        let mut invocation = match &revocation {
            Revocation::Session { id, until } => {
                let mut invocation = REVOKE_SESSION.key(self.key(&["revoked", "sessions"]));
                invocation.arg(id).arg(until).arg(now);
                invocation
            }
            Revocation::User { user, before, until } => {
                let mut invocation = REVOKE_USER.key(self.key(&["revoked", "users"]));
                invocation.key(self.key(&["revoked", "users", "until"])).arg(user).arg(before).arg(until).arg(now);
                invocation
            }
        };
        invocation.arg(self.channel()).arg(payload);
        bounded(self.inner.timeout, invocation.invoke_async::<i64>(&mut connection)).await.map(|_| ())
    }

    pub async fn load_revocations(&self) -> Result<RevocationSnapshot, StoreError> {
        let mut connection = self.connection()?;
        let mut invocation = LOAD_REVOCATIONS.key(self.key(&["revoked", "sessions"]));
        invocation
            .key(self.key(&["revoked", "users"]))
            .key(self.key(&["revoked", "users", "until"]))
            .arg(self.inner.clock.now());
        let (sessions, users): (Vec<String>, Vec<String>) =
            bounded(self.inner.timeout, invocation.invoke_async(&mut connection)).await?;
        let mut snapshot = RevocationSnapshot::default();
        for pair in sessions.chunks_exact(2) {
            if let [id, until] = pair {
                snapshot.sessions.insert(id.clone(), number(until)?);
            }
        }
        for triple in users.chunks_exact(3) {
            if let [user, before, until] = triple {
                snapshot.apply(&Revocation::User {
                    user: user.clone(),
                    before: number(before)?,
                    until: number(until)?,
                });
            }
        }
        Ok(snapshot)
    }

    pub fn subscribe(&self) -> RevocationFeed {
        let store = self.clone();
        RevocationFeed::spawn(move |sender| follow(store, sender))
    }

    /// Listen until the subscription breaks: subscribe, then load the
    /// snapshot (so nothing published in between is missed), then forward
    /// each announcement. `connected` is set once the snapshot is sent.
    async fn listen(&self, sender: &mpsc::Sender<FeedEvent>, connected: &mut bool) -> Result<(), StoreError> {
        let timeout = self.inner.timeout;
        let pubsub = bounded(timeout, self.inner.client.get_async_pubsub()).await?;
        let (mut sink, mut messages) = pubsub.split();
        bounded(timeout, sink.subscribe(self.channel())).await?;
        self.load_scripts().await?;
        let snapshot = self.load_revocations().await?;
        if sender.send(FeedEvent::Snapshot(snapshot)).await.is_err() {
            return Ok(());
        }
        if !*connected {
            tracing::info!(url = %self.redacted_url(), "revocations: following Redis");
        }
        *connected = true;
        let mut ping = tokio::time::interval(self.inner.poll_interval.max(Duration::from_millis(100)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Ok(()) };
                    match serde_json::from_slice::<Revocation>(message.get_payload_bytes()) {
                        Ok(revocation) => {
                            if sender.send(FeedEvent::Revoked(revocation)).await.is_err() {
                                return Ok(());
                            }
                        }
                        Err(error) => tracing::warn!(%error, "revocations: ignored an announcement sealgate cannot read"),
                    }
                }
                _ = ping.tick() => {
                    bounded(timeout, sink.ping::<redis::Value>()).await?;
                }
            }
        }
    }

    /// Load every script, so none pays the first-use round trips on a request
    /// (a restarted Redis has forgotten them; a reconnect loads them again).
    async fn load_scripts(&self) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        for script in [&REVOKE_SESSION, &REVOKE_USER, &LOAD_REVOCATIONS, &HIT, &TAKE_BACK, &UNLOCK, &RECORD_SESSION] {
            bounded(self.inner.timeout, script.load_async(&mut connection)).await?;
        }
        Ok(())
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let mut connection = self.connection()?;
        let mut invocation = HIT.key(self.key(&["hit", key]));
        invocation.arg(millis(window));
        let count: i64 = bounded(self.inner.timeout, invocation.invoke_async(&mut connection)).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub async fn take_back(&self, key: &str) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        let invocation = TAKE_BACK.key(self.key(&["hit", key]));
        bounded(self.inner.timeout, invocation.invoke_async::<i64>(&mut connection)).await.map(|_| ())
    }

    pub async fn window_left(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let mut connection = self.connection()?;
        let left: i64 = bounded(self.inner.timeout, connection.pttl(self.key(&["hit", key]))).await?;
        Ok(u64::try_from(left).ok().filter(|ms| *ms > 0).map(Duration::from_millis))
    }

    pub async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        bounded(self.inner.timeout, connection.del::<_, i64>(self.key(&["hit", key]))).await.map(|_| ())
    }

    pub async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.set_new(&["lock", key], token, ttl).await
    }

    pub async fn unlock(&self, key: &str, token: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let mut invocation = UNLOCK.key(self.key(&["lock", key]));
        invocation.arg(token);
        let deleted: i64 = bounded(self.inner.timeout, invocation.invoke_async(&mut connection)).await?;
        Ok(deleted == 1)
    }

    pub async fn put_outcome(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        let mut set = redis::cmd("SET");
        set.arg(self.key(&["outcome", key])).arg(value).arg("PX").arg(millis(ttl));
        bounded(self.inner.timeout, set.query_async::<()>(&mut connection)).await
    }

    pub async fn get_outcome(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection()?;
        bounded(self.inner.timeout, connection.get(self.key(&["outcome", key]))).await
    }

    pub async fn seen_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.set_new(&["seen", key], "1", ttl).await
    }

    /// `SET key value NX PX ttl`: true if the key was new.
    async fn set_new(&self, parts: &[&str], value: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let mut set = redis::cmd("SET");
        set.arg(self.key(parts)).arg(value).arg("NX").arg("PX").arg(millis(ttl));
        let answer: Option<String> = bounded(self.inner.timeout, set.query_async(&mut connection)).await?;
        Ok(answer.is_some())
    }

    fn sid_key(&self, provider: &str, sid: &str) -> String {
        self.key(&["sid", provider, sid])
    }

    fn sid_member(user: &str, id: &str) -> String {
        serde_json::json!([user, id]).to_string()
    }

    pub async fn record_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let left = record.expires.saturating_sub(self.inner.clock.now());
        if left <= 0 {
            return Ok(());
        }
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut connection = self.connection()?;
        let mut invocation = RECORD_SESSION.key(self.key(&["sessions", &record.user]));
        if let Some(sid) = &record.sid {
            invocation.key(self.sid_key(&record.provider, sid));
        }
        invocation
            .arg(&record.id)
            .arg(json)
            .arg(left.saturating_mul(1000))
            .arg(Self::sid_member(&record.user, &record.id));
        bounded(self.inner.timeout, invocation.invoke_async::<i64>(&mut connection)).await.map(|_| ())
    }

    pub async fn list_sessions(&self, user: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut connection = self.connection()?;
        let records: Vec<(String, String)> =
            bounded(self.inner.timeout, connection.hgetall(self.key(&["sessions", user]))).await?;
        Ok(self.unexpired(records.iter().map(|(_, json)| json.as_str())))
    }

    pub async fn sessions_by_sid(&self, provider: &str, sid: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut connection = self.connection()?;
        let members: Vec<String> =
            bounded(self.inner.timeout, connection.smembers(self.sid_key(provider, sid))).await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut lookups = redis::pipe();
        for member in &members {
            if let Ok((user, id)) = serde_json::from_str::<(String, String)>(member) {
                lookups.hget(self.key(&["sessions", &user]), id);
            }
        }
        let found: Vec<Option<String>> = bounded(self.inner.timeout, lookups.query_async(&mut connection)).await?;
        let records = self.unexpired(found.iter().flatten().map(String::as_str));
        Ok(records
            .into_iter()
            .filter(|record| record.provider == provider && record.sid.as_deref() == Some(sid))
            .collect())
    }

    pub async fn remove_session(&self, user: &str, id: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let key = self.key(&["sessions", user]);
        let record: Option<String> = bounded(self.inner.timeout, connection.hget(&key, id)).await?;
        let Some(record) = record else { return Ok(false) };
        let mut removal = redis::pipe();
        removal.hdel(&key, id);
        if let Ok(SessionRecord { provider, sid: Some(sid), .. }) = serde_json::from_str(&record) {
            removal.srem(self.sid_key(&provider, &sid), Self::sid_member(user, id)).ignore();
        }
        let (removed,): (i64,) = bounded(self.inner.timeout, removal.query_async(&mut connection)).await?;
        Ok(removed == 1)
    }

    fn unexpired<'a>(&self, records: impl Iterator<Item = &'a str>) -> Vec<SessionRecord> {
        let now = self.inner.clock.now();
        records
            .filter_map(|json| match serde_json::from_str::<SessionRecord>(json) {
                Ok(record) => Some(record),
                Err(error) => {
                    tracing::warn!(%error, "sessions: skipped a record sealgate cannot read");
                    None
                }
            })
            .filter(|record| record.expires > now)
            .collect()
    }
}

/// Accounts (`credentials.signup`). Expiry is judged by the injected clock
/// (`expires` in the hash); the keys' TTLs only clean up.
impl RedisStore {
    fn account_key(&self, name: &str) -> String {
        self.key(&["account", name])
    }

    fn email_key(&self, email_key: &str) -> String {
        self.key(&["account-email", email_key])
    }

    pub async fn create_account(&self, account: &AccountRecord) -> Result<Created, StoreError> {
        let now = self.inner.clock.now();
        let ttl = account.expires.map_or(0, |expires| expires.saturating_sub(now).max(1).saturating_mul(1000));
        let optional = |value: Option<i64>| value.map(|v| v.to_string()).unwrap_or_default();
        let (name, email_key) = (account.name_key(), account.email_key());
        let mut connection = self.connection()?;
        let mut invocation = CREATE_ACCOUNT.key(self.account_key(&name));
        invocation
            .key(self.email_key(&email_key))
            .arg(now)
            .arg(self.account_key(""))
            .arg(ttl)
            .arg(&name)
            .arg(&email_key)
            .arg(&account.username)
            .arg(&account.email)
            .arg(&account.password_hash)
            .arg(account.created)
            .arg(optional(account.confirmed))
            .arg(optional(account.expires));
        match bounded(self.inner.timeout, invocation.invoke_async::<i64>(&mut connection)).await? {
            0 => Ok(Created::Created),
            1 => Ok(Created::UsernameTaken),
            _ => Ok(Created::EmailTaken),
        }
    }

    pub async fn account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError> {
        let mut connection = self.connection()?;
        let fields: std::collections::HashMap<String, String> =
            bounded(self.inner.timeout, connection.hgetall(self.account_key(name))).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let text = |field: &str| {
            fields.get(field).cloned().ok_or_else(|| StoreError::Corrupt(format!("an account without `{field}`")))
        };
        let optional = |field: &str| match fields.get(field).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(value) => number(value).map(Some),
        };
        let account = AccountRecord {
            username: text("username")?,
            email: text("email")?,
            password_hash: text("password_hash")?,
            created: number(&text("created")?)?,
            confirmed: optional("confirmed")?,
            expires: optional("expires")?,
        };
        Ok(account.is_live(self.inner.clock.now()).then_some(account))
    }

    pub async fn confirm_account(&self, name: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let mut invocation = CONFIRM_ACCOUNT.key(self.account_key(name));
        invocation.arg(self.inner.clock.now()).arg(self.email_key(""));
        Ok(bounded(self.inner.timeout, invocation.invoke_async::<i64>(&mut connection)).await? == 1)
    }

    pub async fn set_password_hash(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection()?;
        let mut invocation = SET_PASSWORD_HASH.key(self.account_key(name));
        invocation.arg(self.inner.clock.now()).arg(password_hash);
        Ok(bounded(self.inner.timeout, invocation.invoke_async::<i64>(&mut connection)).await? == 1)
    }
}

/// A Redis number (a sorted-set score may come back as `1.7e9`-style text).
fn number(text: &str) -> Result<i64, StoreError> {
    text.parse::<i64>()
        .or_else(|_| text.parse::<f64>().map(|float| float as i64))
        .map_err(|_| StoreError::Corrupt(format!("`{text}` is not a number")))
}

/// The Redis feed: listen, and after every break report `Lost` (once per
/// outage), back off, and listen again, which sends a fresh snapshot.
async fn follow(store: RedisStore, sender: mpsc::Sender<FeedEvent>) {
    let mut backoff = MIN_BACKOFF;
    let mut lost = false;
    loop {
        let mut listening = false;
        let outcome = store.listen(&sender, &mut listening).await;
        if sender.is_closed() {
            return;
        }
        if listening {
            backoff = MIN_BACKOFF;
            lost = false;
        }
        if !lost {
            match outcome {
                Ok(()) => {
                    tracing::warn!(url = %store.redacted_url(), "revocations: lost the connection to Redis; serving what is known")
                }
                Err(error) => {
                    tracing::warn!(url = %store.redacted_url(), %error, "revocations: cannot reach Redis; serving what is known")
                }
            }
            lost = true;
            if sender.send(FeedEvent::Lost).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
