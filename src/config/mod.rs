//! Configuration: TOML in `config/`, overridden by `SEALGATE__SECTION__KEY`
//! environment variables, validated whole before anything starts.
//!
//! Loading is two steps. [`Settings::load`] reads and deserializes (unknown
//! keys are errors); [`Settings::validate`] applies the cross-field rules and
//! returns every problem at once in a [`ConfigError`].

pub mod assertion;
pub mod hooks;
mod list;
mod parse;
mod paths;
mod secret;
pub mod store;
pub mod ui;
mod validate;
pub mod verification;

pub use assertion::AssertionSettings;
pub use secret::SecretSource;
pub use validate::ConfigError;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented default configuration, embedded so that `sealgate` runs
/// even when started outside the repository.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/sealgate.toml");
pub const DEFAULT_CONFIG_PATH: &str = "config/sealgate.toml";
pub const ENV_PREFIX: &str = "SEALGATE__";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// http allowed, keys generated on first start, demo users allowed.
    #[default]
    Development,
    /// Secure cookies, https public URL, existing keys and no demo users required.
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `development` when left out.
    #[serde(default)]
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
    #[serde(default)]
    pub oauth: OAuthSettings,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(default)]
    pub policy: PolicySettings,
    #[serde(default)]
    pub api_tokens: ApiTokenSettings,
    #[serde(default)]
    pub store: store::StoreSettings,
    /// `X-Auth-Assertion`: the signed identity for the upstream.
    #[serde(default)]
    pub assertion: AssertionSettings,
    /// Identity header name to claim, over the default `X-Auth-*` headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Confirming unusual sign-ins with an e-mailed code.
    #[serde(default)]
    pub verification: verification::VerificationSettings,
    #[serde(default)]
    pub email: verification::EmailSettings,
    /// The app's say in sign-in (`[hooks.signin]`, `[hooks.error]`).
    #[serde(default)]
    pub hooks: hooks::HookSettings,
    /// How sealgate's own pages look (`[ui]`).
    #[serde(default)]
    pub ui: ui::UiSettings,
    /// OAuth 2.0 / OpenID Connect providers, by id (`[providers.<id>]`).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
}

/// sealgate API tokens (`Authorization: Bearer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiTokenSettings {
    /// Longest lifetime of an API token (`POST /auth/tokens`, `sealgate token mint`).
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// A file of revoked token ids, one per line; re-read when it changes.
    /// It must exist at start; when it later cannot be read, the last list read stays.
    pub deny_list: Option<PathBuf>,
    /// Let a token minted from a session live past the session's absolute
    /// expiry (up to `max_lifetime`). Off: it ends when the session would.
    pub outlive_session: bool,
}

impl Default for ApiTokenSettings {
    fn default() -> Self {
        Self { max_lifetime: Duration::from_secs(90 * 24 * 3600), deny_list: None, outlive_session: false }
    }
}

/// What a policy rule (or the default) does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in person (narrowed by the rule's allow-lists, if any).
    #[default]
    Authenticated,
    /// Nobody.
    Deny,
}

/// One `[[policy.rules]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    pub name: Option<String>,
    /// Hosts, exact or `.example.com` (the domain and its subdomains). Empty: any host.
    pub hosts: Vec<String>,
    /// Path prefixes (`/api`) or globs (`/files/*/raw`, `/docs/**`). Empty: any path.
    pub paths: Vec<String>,
    pub allow: Access,
    pub emails: Vec<String>,
    pub email_domains: Vec<String>,
    pub groups: Vec<String>,
    pub providers: Vec<String>,
    /// API-token scopes.
    pub scopes: Vec<String>,
    /// Demand a fresh provider access token (refreshing it if needed).
    pub fresh_token: bool,
}

/// Per-route authorization.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    /// What requests no rule matches get.
    pub default: Access,
    pub rules: Vec<RuleSettings>,
    /// Group to `action:entity[:own|any]` permissions, sent as `X-Auth-Permissions`.
    pub permissions: BTreeMap<String, Vec<String>>,
}

/// Settings shared by every OAuth 2.0 / OIDC provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthSettings {
    /// Bound on every call to a provider (discovery, token, userinfo, revocation).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long a started sign-in may take before its flow cookie expires.
    #[serde(with = "humantime_serde")]
    pub flow_lifetime: Duration,
    /// Discovery attempts at start-up before a provider is reported not ready
    /// (it keeps retrying on demand after that).
    pub discovery_attempts: u32,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), flow_lifetime: Duration::from_secs(600), discovery_attempts: 5 }
    }
}

/// What to do when a provider's access token has expired and there is no
/// refresh token to get a new one (GitHub, or a provider that issued none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithoutRefreshToken {
    /// Keep the session; the token counts as expired (not passed upstream,
    /// `/auth/token` answers 401 `token_expired`).
    KeepSession,
    /// End the session, so the person signs in again.
    EndSession,
}

/// The provider token lifecycle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// An access token is stale this long before its `expires_at`.
    #[serde(with = "humantime_serde")]
    pub refresh_skew: Duration,
    /// A token without `expires_at` is stale this long after it was obtained.
    #[serde(with = "humantime_serde")]
    pub stale_without_expiry: Duration,
    /// How long a refresh's outcome is kept, so requests still carrying the
    /// old cookie get the new tokens without calling the provider again.
    #[serde(with = "humantime_serde")]
    pub grace_window: Duration,
    pub without_refresh_token: WithoutRefreshToken,
    /// Serve `GET /auth/token` (hands the access token to the browser).
    pub endpoint: bool,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            refresh_skew: Duration::from_secs(30),
            stale_without_expiry: Duration::from_secs(3600),
            grace_window: Duration::from_secs(30),
            without_refresh_token: WithoutRefreshToken::KeepSession,
            endpoint: false,
        }
    }
}

/// How the client authenticates at a token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
}

/// Which kind of provider a `[providers.<id>]` table configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Oidc,
    Google,
    Github,
    Gitlab,
    Discord,
    X,
    Oauth2,
}

/// Which JSON fields of an ID token or userinfo response make up a user.
/// Dotted paths reach into nested objects (`data.id`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimSettings {
    pub id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub groups: Option<String>,
}

/// One OAuth 2.0 / OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    /// The button text on the sign-in page. Default: the preset's name, or the id.
    #[serde(default)]
    pub name: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<SecretSource>,
    /// The issuer URL (required for `oidc`; preset for google and gitlab).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Base URL of a self-hosted GitLab or GitHub Enterprise.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Scopes to request; default: the preset's.
    #[serde(default, deserialize_with = "list::optional_plain_or_list")]
    pub scopes: Option<Vec<String>>,
    /// Endpoint overrides. Any endpoint of any preset can be replaced.
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// Base URL of the provider's REST API (GitHub, Discord, X).
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default)]
    pub end_session_url: Option<String>,
    /// How to map claims to the user (generic `oauth2`; `groups` for OIDC too).
    #[serde(default)]
    pub claims: ClaimSettings,
    /// Revoke the provider's tokens on sign-out (RFC 7009), when it has a revocation endpoint.
    #[serde(default = "yes")]
    pub revoke_on_signout: bool,
    /// Send people through the provider's end_session_endpoint on sign-out.
    #[serde(default)]
    pub rp_initiated_logout: bool,
    /// Where the provider sends people after RP-initiated logout (must be registered there).
    /// Default: `{public_url}/`.
    #[serde(default)]
    pub post_logout_redirect_url: Option<String>,
    /// Use PKCE (S256). Always on for presets that support it; turn off only
    /// for a generic `oauth2` server that rejects it.
    #[serde(default = "yes")]
    pub pkce: bool,
    /// How to authenticate at the token endpoint; default: the preset's.
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// Add `X-Auth-Access-Token` (always fresh) to `/auth/verify` answers.
    #[serde(default)]
    pub pass_access_token: bool,
    /// Check a signed-in person's account at the provider at most this
    /// often (userinfo, else a refresh), and end the session when it is
    /// gone. Unset: never (OpenID Connect providers only; at least 1 minute).
    #[serde(default, with = "humantime_serde")]
    pub revalidate: Option<Duration>,
    /// Accept this provider's own tokens as `Authorization: Bearer`.
    #[serde(default)]
    pub bearer: BearerSettings,
    /// Claims of the profile to keep in the session (for `[headers]`
    /// `claims.<name>` and the assertion), at most 16.
    #[serde(default, deserialize_with = "list::plain_or_list")]
    pub keep_claims: Vec<String>,
    /// Sign-in verification for this provider; default: `verification.mode`.
    #[serde(default)]
    pub verification: Option<verification::VerificationMode>,
}

/// `[providers.<id>.bearer]`: the provider's tokens as `Authorization: Bearer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerSettings {
    /// Accept JWT access tokens signed by the issuer's JWKS (OIDC providers).
    pub jwt: bool,
    /// Accepted `aud` values; default: the client id.
    #[serde(deserialize_with = "list::plain_or_list")]
    pub audiences: Vec<String>,
    /// Accepted signature algorithms; asymmetric only (no `none`, no HMAC).
    #[serde(deserialize_with = "list::plain_or_list")]
    pub algorithms: Vec<String>,
    /// Check opaque tokens at the RFC 7662 introspection endpoint.
    pub introspection: bool,
    /// The introspection endpoint; default: the discovered `introspection_endpoint`.
    pub introspection_url: Option<String>,
    /// Longest time an introspection answer is reused (never past the token's `exp`).
    #[serde(with = "humantime_serde")]
    pub introspection_cache: Duration,
    /// How long a fetched JWKS is used before it is fetched again.
    #[serde(with = "humantime_serde")]
    pub jwks_lifetime: Duration,
    /// Least time between two JWKS fetches (an unknown `kid` asks for one).
    #[serde(with = "humantime_serde")]
    pub jwks_min_refetch: Duration,
    /// Accept the provider's ID tokens as Bearer tokens (JWTs with `nonce` or
    /// `at_hash`, or typed as ID tokens). Off: ID tokens are not access tokens
    /// (RFC 8725 3.11, RFC 9068), and one sits in the browser's URL at RP-initiated logout.
    pub accept_id_tokens: bool,
    /// Accept introspection answers without `token_type`, which cannot tell an
    /// access token from a refresh token (for servers that never send one,
    /// such as Django OAuth Toolkit).
    pub insecure_introspection_without_token_type: bool,
}

/// Signature algorithms a provider JWT may use: never `none`, never HMAC.
pub const ASYMMETRIC_ALGORITHMS: [&str; 9] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

impl Default for BearerSettings {
    fn default() -> Self {
        Self {
            jwt: false,
            audiences: Vec::new(),
            algorithms: ASYMMETRIC_ALGORITHMS.map(String::from).to_vec(),
            introspection: false,
            introspection_url: None,
            introspection_cache: Duration::from_secs(60),
            jwks_lifetime: Duration::from_secs(3600),
            jwks_min_refetch: Duration::from_secs(30),
            accept_id_tokens: false,
            insecure_introspection_without_token_type: false,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on, e.g. `127.0.0.1:4180`.
    pub listen: String,
    /// The external base URL people reach sealgate at.
    pub public_url: String,
    /// Peers whose `X-Forwarded-*` headers are believed.
    #[serde(deserialize_with = "list::plain_or_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Origins besides `public_url`'s that may POST (sign-in, sign-out,
    /// `/auth/tokens`), each exactly `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
    /// How long a client may take to send a request's head, and again its
    /// body; slower clients get 408 and the connection is closed.
    #[serde(with = "humantime_serde")]
    pub client_timeout: Duration,
    /// A separate address serving only `/metrics` (then not served on
    /// `listen`); none serves it on `listen`.
    pub metrics_listen: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4180".into(),
            public_url: "http://127.0.0.1:4180".into(),
            trusted_proxies: Vec::new(),
            workers: 0,
            allowed_origins: Vec::new(),
            client_timeout: Duration::from_secs(10),
            metrics_listen: None,
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
    /// How often a running gateway looks for a changed key file (`path`)
    /// and reloads it; 0 looks on `SIGHUP` only.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self { path: PathBuf::from("keys/sealgate.jwks.json"), jwks: None, reload_interval: Duration::from_secs(5) }
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
    /// How new session cookies are sealed.
    pub format: SessionFormat,
    /// Whether this replica signs people in (`full`) or only opens and
    /// checks sessions (`verify`: no signing private key).
    pub role: SessionRole,
    /// Also open sessions in the other format while the key set holds keys
    /// for it (a format switch is a rotation); off once the switch is done.
    pub accept_other_format: bool,
    /// Where a verify-only replica sends a browser that wants to sign in
    /// (the sign-in tier's `/auth/signin`); unset: it answers 403.
    pub signin_url: Option<String>,
    /// The most memory the open-cache (opened session cookies, API tokens
    /// and provider JWTs) takes, in bytes of resident memory.
    pub cache_bytes: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_lifetime: Duration::from_secs(7 * 24 * 3600),
            absolute_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_token_bytes: 16 * 1024,
            format: SessionFormat::Sealed,
            role: SessionRole::Full,
            accept_other_format: true,
            signin_url: None,
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The session cookie's format (see README, "Session formats").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionFormat {
    /// A JWE under a shared symmetric key (`dir` or `A256KW`).
    Sealed,
    /// A JWS signed by the signing key inside a JWE to the encryption key.
    Nested,
}

/// What a replica may do with sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionRole {
    /// Signs people in, renews and refreshes sessions.
    Full,
    /// Opens and checks nested sessions only; never mints one.
    Verify,
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
    #[serde(deserialize_with = "list::plain_or_list")]
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
    /// Password checks (argon2: CPU and `m` KiB of memory each) run at once; 0 = one per core.
    pub max_concurrent_verifications: usize,
    /// Sign-ins that may wait for a password check; beyond them, 503 with `Retry-After`.
    pub verification_queue: usize,
    /// Sign-in verification (an e-mailed code) for password sign-ins; default: `verification.mode`.
    pub verification: Option<verification::VerificationMode>,
    /// People may sign themselves up (`/auth/signup`); their accounts live in the store.
    pub signup: bool,
    /// The fewest characters a new password may have (sign-up and password change).
    pub min_password_length: usize,
    /// How long a signed-up account waits for its e-mail address to be confirmed before it is forgotten.
    #[serde(with = "humantime_serde")]
    pub unconfirmed_lifetime: Duration,
}

impl Default for CredentialsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            users_file: PathBuf::from("config/users.toml"),
            max_failures_per_user: 5,
            max_failures_per_client: 20,
            failure_window: Duration::from_secs(15 * 60),
            max_concurrent_verifications: 0,
            verification_queue: 16,
            verification: None,
            signup: false,
            min_password_length: 10,
            unconfirmed_lifetime: Duration::from_secs(24 * 3600),
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
    /// Which requests get an access log line.
    pub access: AccessLog,
}

/// Which requests get an access log line (`log.access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    /// Every route but the per-request ones: `/auth/verify`, `/healthz`,
    /// `/readyz` and `/metrics`.
    Default,
    /// Every route.
    All,
    Off,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text, access: AccessLog::Default }
    }
}

impl Settings {
    /// Read `path` (or, when none is given and the default file is absent,
    /// the embedded default), then apply `SEALGATE__*` environment overrides.
    /// Relative paths come out absolute: against the config file's
    /// directory, or the working directory for the environment's (see
    /// [`paths`]); the embedded default resolves as if it were
    /// `./config/sealgate.toml`, which it is in the repository.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let (figment, fallback) = Self::sources(path);
        let mut settings = parse::extract(&figment)?;
        paths::resolve(&mut settings, &paths::Resolver::new(&figment, fallback));
        Ok(settings)
    }

    /// Password sign-in's settings and whether the mode is production, read
    /// on their own: for `check-config` to judge the users file even when
    /// another section does not parse. `None` when these do not parse either.
    pub fn load_credentials(path: Option<&Path>) -> Option<(CredentialsSettings, bool)> {
        let (figment, fallback) = Self::sources(path);
        let read = |key: &str| figment.find_value(key).is_ok();
        let mut credentials: CredentialsSettings =
            if read("credentials") { figment.extract_inner("credentials").ok()? } else { Default::default() };
        let mode: Mode = if read("mode") { figment.extract_inner("mode").ok()? } else { Mode::default() };
        paths::Resolver::new(&figment, fallback).join("credentials.users_file", &mut credentials.users_file);
        Some((credentials, mode == Mode::Production))
    }

    /// The file (or embedded default) and the environment, merged; and the
    /// directory keys written nowhere resolve against.
    fn sources(path: Option<&Path>) -> (Figment, PathBuf) {
        let (base, file) = match path {
            Some(path) => (Toml::file_exact(path), path),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                (Toml::file_exact(DEFAULT_CONFIG_PATH), Path::new(DEFAULT_CONFIG_PATH))
            }
            None => (Toml::string(DEFAULT_CONFIG), Path::new(DEFAULT_CONFIG_PATH)),
        };
        let figment = Figment::new().merge(base).merge(Env::prefixed(ENV_PREFIX).split("__"));
        (figment, file.parent().unwrap_or(Path::new("")).to_path_buf())
    }

    /// Parse TOML text alone, without the environment. For tests and tools.
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        Self::extract(Figment::new().merge(Toml::string(text)))
    }

    fn extract(figment: Figment) -> Result<Settings, ConfigError> {
        parse::extract(&figment)
    }

    pub fn is_production(&self) -> bool {
        self.mode == Mode::Production
    }
}
