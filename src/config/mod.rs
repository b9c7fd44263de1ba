//! Configuration: TOML in `config/`, overridden by `SEALGATE__SECTION__KEY`
//! environment variables, validated whole before anything starts.
//!
//! Loading is two steps. [`Settings::load`] reads and deserializes (unknown
//! keys are errors); [`Settings::validate`] applies the cross-field rules and
//! returns every problem at once in a [`ConfigError`].

mod secret;
mod validate;

pub use secret::SecretSource;
pub use validate::ConfigError;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented default configuration, embedded so that `sealgate` runs
/// even when started outside the repository.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/sealgate.toml");
pub const DEFAULT_CONFIG_PATH: &str = "config/sealgate.toml";
pub const ENV_PREFIX: &str = "SEALGATE__";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// http allowed, keys generated on first start, demo users allowed.
    Development,
    /// Secure cookies, https public URL, existing keys and no demo users required.
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mode: Mode,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub keys: KeySettings,
    #[serde(default)]
    pub session: SessionSettings,
    #[serde(default)]
    pub cookie: CookieSettings,
    #[serde(default)]
    pub redirects: RedirectSettings,
    #[serde(default)]
    pub credentials: CredentialsSettings,
    #[serde(default)]
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on, e.g. `127.0.0.1:4180`.
    pub listen: String,
    /// The external base URL people reach sealgate at.
    pub public_url: String,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4180".into(),
            public_url: "http://127.0.0.1:4180".into(),
            trusted_proxies: Vec::new(),
            workers: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// The JWK Set file.
    pub path: PathBuf,
    /// The JWK Set itself, as a secret (inline, env or file). Wins over `path`.
    pub jwks: Option<SecretSource>,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self { path: PathBuf::from("keys/sealgate.jwks.json"), jwks: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A session not seen for this long ends. Renewed (sliding) once past half.
    #[serde(with = "humantime_serde")]
    pub idle_lifetime: Duration,
    /// No session lives longer than this from sign-in, however active.
    #[serde(with = "humantime_serde")]
    pub absolute_lifetime: Duration,
    /// Largest sealed session accepted, in bytes, before any cryptography.
    pub max_token_bytes: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_lifetime: Duration::from_secs(7 * 24 * 3600),
            absolute_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_token_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieSettings {
    /// Cookie name. Default `__Host-sealgate`, or `sealgate` over http.
    pub name: Option<String>,
    /// Cookie `Domain`; unset means host-only (required by `__Host-`).
    pub domain: Option<String>,
    pub same_site: SameSite,
    /// Allow cookies without `Secure`, for development over plain http.
    pub insecure_http: bool,
    /// Values longer than this are split into `NAME_1`, `NAME_2`, ...
    pub chunk_bytes: usize,
    /// Most chunks read or written.
    pub max_chunks: usize,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self {
            name: None,
            domain: None,
            same_site: SameSite::Lax,
            insecure_http: false,
            chunk_bytes: 3800,
            max_chunks: 5,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedirectSettings {
    /// Hosts (besides the public URL's) that `redirect_to` may name.
    /// A leading dot allows subdomains: `.example.com`.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialsSettings {
    pub enabled: bool,
    pub users_file: PathBuf,
    /// Failed attempts for one username within `failure_window` before 429.
    pub max_failures_per_user: u32,
    /// Failed attempts from one client address within `failure_window` before 429.
    pub max_failures_per_client: u32,
    #[serde(with = "humantime_serde")]
    pub failure_window: Duration,
}

impl Default for CredentialsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            users_file: PathBuf::from("config/users.toml"),
            max_failures_per_user: 5,
            max_failures_per_client: 20,
            failure_window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `sealgate=debug`. `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

impl Settings {
    /// Read `path` (or, when none is given and the default file is absent,
    /// the embedded default), then apply `SEALGATE__*` environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let base = match path {
            Some(path) => Toml::file_exact(path),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => Toml::file_exact(DEFAULT_CONFIG_PATH),
            None => Toml::string(DEFAULT_CONFIG),
        };
        Self::extract(Figment::new().merge(base).merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    /// Parse TOML text alone, without the environment. For tests and tools.
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        Self::extract(Figment::new().merge(Toml::string(text)))
    }

    fn extract(figment: Figment) -> Result<Settings, ConfigError> {
        figment
            .extract::<Settings>()
            .map_err(|errors| ConfigError::new(errors.into_iter().map(|e| e.to_string()).collect()))
    }

    pub fn is_production(&self) -> bool {
        self.mode == Mode::Production
    }
}
