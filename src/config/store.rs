//! `[store]`: where the state behind revocation, managed sessions and
//! cross-replica limits lives (issue 22). See `crate::store`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Which store backs the stateful features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One SQLite file on this machine (`store.path`). Nothing is written
    /// until a feature writes state.
    #[default]
    Local,
    /// Redis or Valkey (`store.url`), shared by any number of replicas.
    Redis,
    /// No state at all: today's stateless gateway; the stateful features are off.
    None,
}

/// What `/auth/verify` does while the store cannot be reached (the view of
/// revocations may miss the newest ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnavailable {
    /// Keep answering from the revocations already known.
    #[default]
    ServeKnown,
    /// Refuse every session until the store is back.
    Deny,
}

/// A Redis URL, which may carry a password: its `Debug` shows no password.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(SecretString);

impl RedisUrl {
    pub fn new(url: &str) -> Self {
        Self(SecretString::from(url.to_owned()))
    }

    /// The URL itself, for the one line that connects.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any user name and password replaced, for logs and errors.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.expose()) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("redacted"));
                }
                url.to_string()
            }
            Err(_) => "[unparsable URL]".into(),
        }
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub kind: StoreKind,
    /// The local store's file (`kind = "local"`); its directory is created if missing.
    pub path: PathBuf,
    /// `redis://[:password@]host[:port][/db]` or `rediss://` for TLS (`kind = "redis"`).
    pub url: Option<RedisUrl>,
    /// What `/auth/verify` does while the store is unreachable.
    pub unavailable: WhenUnavailable,
    /// Bound on every call to the store.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the local store looks for revocations other processes wrote
    /// to the same file, and how often Redis is pinged to notice an outage.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Prefix of every Redis key and channel, so several gateways can share one Redis.
    pub key_prefix: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            kind: StoreKind::Local,
            path: PathBuf::from("data/sealgate.db"),
            url: None,
            unavailable: WhenUnavailable::ServeKnown,
            timeout: Duration::from_secs(2),
            poll_interval: Duration::from_secs(1),
            key_prefix: "sealgate".into(),
        }
    }
}

impl StoreSettings {
    /// Every problem with these settings, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.kind {
            StoreKind::Redis => match &self.url {
                None => problems.push("store.url is required for kind = \"redis\"".into()),
                Some(url) => match url::Url::parse(url.expose()) {
                    Ok(parsed) if matches!(parsed.scheme(), "redis" | "rediss") && parsed.has_host() => {}
                    _ => problems
                        .push(format!("store.url `{}` is not a redis:// or rediss:// URL with a host", url.redacted())),
                },
            },
            StoreKind::Local => {
                if self.path.as_os_str().is_empty() {
                    problems.push("store.path is empty".into());
                }
            }
            StoreKind::None => {}
        }
        if self.kind != StoreKind::Redis && self.url.is_some() {
            problems.push("store.url is set, but store.kind is not \"redis\"".into());
        }
        if self.timeout < Duration::from_millis(10) || self.timeout > Duration::from_secs(60) {
            problems.push("store.timeout must be between 10ms and 60s".into());
        }
        if self.poll_interval < Duration::from_millis(10) || self.poll_interval > Duration::from_secs(60) {
            problems.push("store.poll_interval must be between 10ms and 60s".into());
        }
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 64
            && self.key_prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !prefix_ok {
            problems.push("store.key_prefix must be 1-64 letters, digits, `-`, `_` or `.`".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> StoreSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_default_is_a_local_file_that_nothing_writes_yet() {
        let settings = StoreSettings::default();
        assert_eq!(settings.kind, StoreKind::Local);
        assert_eq!(settings.path, PathBuf::from("data/sealgate.db"));
        assert_eq!(settings.unavailable, WhenUnavailable::ServeKnown);
        assert!(settings.problems().is_empty(), "{:?}", settings.problems());
    }

    #[test]
    fn redis_needs_a_redis_url() {
        assert_eq!(parse("kind = \"redis\"").problems(), ["store.url is required for kind = \"redis\""]);
        let http = parse("kind = \"redis\"\nurl = \"http://:hunter2@cache:6379\"");
        let problems = http.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("not a redis://"), "{problems:?}");
        assert!(!problems[0].contains("hunter2"), "the password leaked: {problems:?}");
        assert!(parse("kind = \"redis\"\nurl = \"rediss://:pw@cache.internal:6380/2\"").problems().is_empty());
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let settings = parse("kind = \"none\"\nurl = \"redis://x\"\ntimeout = \"0s\"\nkey_prefix = \"a b\"");
        assert_eq!(settings.problems().len(), 3, "{:?}", settings.problems());
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        assert!(toml::from_str::<StoreSettings>("kind = \"memcached\"").is_err());
        assert!(toml::from_str::<StoreSettings>("pth = \"x.db\"").is_err());
        assert_eq!(parse("unavailable = \"deny\"").unavailable, WhenUnavailable::Deny);
    }

    #[test]
    fn a_redis_url_never_shows_its_password() {
        let url = RedisUrl::new("redis://:s3cret-pass@127.0.0.1:6379/0");
        let shown = format!("{url:?} {}", url.redacted());
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
        let with_user = RedisUrl::new("rediss://sealgate:s3cret-pass@cache:6380");
        assert!(!format!("{with_user:?}").contains("s3cret-pass"));
        let settings = parse("kind = \"redis\"\nurl = \"redis://:s3cret-pass@h:1\"");
        assert!(!format!("{settings:?}").contains("s3cret-pass"));
    }
}
