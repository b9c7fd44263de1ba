//! The command line: `serve` (the default), `keygen`, `keys list|activate|retire|export`,
//! `check-config`, `hash-password`, `session mint|inspect`, `token mint|inspect|revoke`,
//! `sessions revoke`, `assertion-keys generate|list|activate|retire`.

use crate::clock::{SharedClock, SystemClock};
use crate::config::{ConfigError, Settings};
use crate::crypto::keys::{self, KeyAlg};
use crate::identity::User;
use crate::providers::credentials::{hash_password, CredentialsProvider, VerifyLimits};
use crate::startup::{Application, Gateway, KeyInit};
use crate::telemetry;
use clap::{Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `println!` that returns `Err` instead of panicking when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        write_out(format_args!($($arg)*))
    };
}

/// What every `--help` ends with: where settings come from (a macro, so
/// that `concat!` can put examples before it).
macro_rules! environment {
    () => {
        "\
Environment:
  SEALGATE_CONFIG=PATH          the configuration file, as --config
  SEALGATE__SECTION__KEY=VALUE  overrides any key of the file, e.g.
                                SEALGATE__MODE=production
                                SEALGATE__SERVER__LISTEN=0.0.0.0:4180
                                SEALGATE__SERVER__PUBLIC_URL=https://auth.example.com
                                SEALGATE__KEYS__PATH=/var/lib/sealgate/keys.json
                                SEALGATE__CREDENTIALS__ENABLED=false
                                SEALGATE__API_TOKENS__DENY_LIST=/etc/sealgate/revoked.txt
                                SEALGATE__SERVER__TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16
  RUST_LOG=FILTER               wins over log.level
Relative paths in a config file resolve against its directory; those in
the environment, against the working directory."
    };
}

/// `--help`'s epilogue: `Examples:`, the given lines, then the environment.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:\n", $("  ", $line, "\n",)+ "\n", environment!())
    };
}

// After the help macros: the subcommands' help uses them too.
mod assertion_keys;
mod sessions;
mod tokens;
use tokens::{inspect, mint, mint_api_token, revoke_api_token};

#[derive(Debug, Parser)]
#[command(
    name = "sealgate",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SEALGATE_COMMIT"), ")"),
    about = "A stateless session gateway",
    after_help = examples!(
        "sealgate                      # serve config/sealgate.toml, else the embedded default",
        "sealgate --config /etc/sealgate/sealgate.toml check-config",
        "sealgate --config /etc/sealgate/sealgate.toml keygen",
        "SEALGATE__MODE=production sealgate --config /etc/sealgate/sealgate.toml serve",
    )
)]
pub struct Cli {
    /// Configuration file (default: config/sealgate.toml in the working
    /// directory, else the embedded default).
    #[arg(long, global = true, env = "SEALGATE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    #[command(after_help = examples!(
        "sealgate serve --config /etc/sealgate/sealgate.toml",
        "sealgate serve --listen 127.0.0.1:8080      # or SEALGATE__SERVER__LISTEN=127.0.0.1:8080",
    ))]
    Serve {
        /// Listen address, overriding `server.listen` (and SEALGATE__SERVER__LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Add a new key to the key set and make it current (with --next: one
    /// that opens but does not seal until `keys activate`). Writes
    /// `keys.path` (SEALGATE__KEYS__PATH) and prints its absolute path.
    #[command(after_help = examples!(
        "sealgate keygen --config /etc/sealgate/sealgate.toml",
        "sealgate keygen --next                     # stage a rotation, then `keys activate KID`",
        "sealgate keygen --alg ECDH-ES+A256KW --sign ES256   # key pairs for session.format = \"nested\"",
        "SEALGATE__KEYS__PATH=/var/lib/sealgate/keys.json sealgate keygen",
    ))]
    Keygen {
        /// `dir` or `A256KW`: a symmetric key. `ECDH-ES+A256KW` (with
        /// `--sign`): an encryption and a signing key pair for
        /// `session.format = "nested"` (and a `dir` key if the set has no
        /// symmetric key: flow cookies and API tokens need one).
        #[arg(long, value_enum, default_value_t = AlgArg::Dir)]
        alg: AlgArg,
        /// With `--alg ECDH-ES+A256KW`: the curve of the encryption key pair.
        #[arg(long, value_enum, default_value_t = CurveArg::P256)]
        curve: CurveArg,
        /// With `--alg ECDH-ES+A256KW`: the signing algorithm (ES256 on P-256, EdDSA on Ed25519).
        #[arg(long, value_enum)]
        sign: Option<SignArg>,
        /// Add the key as `next`: every replica opens with it, none seals with
        /// it yet. The first step of a rotation in a fleet.
        #[arg(long)]
        next: bool,
    },
    /// List, activate or retire the keys of the key set.
    #[command(after_help = examples!(
        "sealgate keys list",
        "sealgate keys activate KID",
        "sealgate keys retire KID",
        "sealgate keys export --verify-only --out /etc/sealgate/verify.jwks.json",
    ))]
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Validate the configuration, keys and users file; list every problem
    /// and exit non-zero on any. Never writes a file.
    #[command(after_help = examples!(
        "sealgate check-config --config /etc/sealgate/sealgate.toml",
        "SEALGATE__MODE=production sealgate check-config",
    ))]
    CheckConfig,
    /// Print the argon2id hash of a password: asked twice without echo on a
    /// terminal, else read as one line from stdin.
    #[command(after_help = examples!(
        "sealgate hash-password                     # asks twice, no echo",
        "printf '%s\\n' 'a long passphrase' | sealgate hash-password",
    ))]
    HashPassword,
    /// Mint or inspect session cookies.
    #[command(after_help = examples!(
        "sealgate session mint --user alice --groups admins",
        "curl -H \"Cookie: $(sealgate session mint --user alice)\" http://127.0.0.1:4180/auth/verify",
        "sealgate session inspect 'sealgate=eyJ...'",
    ))]
    Session {
        #[command(subcommand)]
        action: SessionCommand,
    },
    /// Mint, inspect or revoke API tokens (`Authorization: Bearer`).
    #[command(after_help = examples!(
        "sealgate token mint --user ci --name deploy --scopes deploy --ttl 3600",
        "sealgate token inspect eyJ...",
        "sealgate token revoke ID      # appends to api_tokens.deny_list (SEALGATE__API_TOKENS__DENY_LIST)",
    ))]
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Act on the sessions the state store knows of (`store.kind` local or redis).
    #[command(after_help = examples!(
        "sealgate sessions revoke --user alice",
        "SEALGATE__STORE__KIND=redis SEALGATE__STORE__URL=redis://127.0.0.1:6379 sealgate sessions revoke --user alice",
    ))]
    Sessions {
        #[command(subcommand)]
        action: SessionsCommand,
    },
    /// Generate, list, activate or retire the keys that sign `X-Auth-Assertion`
    /// (`assertion.keys_path`, SEALGATE__ASSERTION__KEYS_PATH).
    #[command(after_help = examples!(
        "sealgate assertion-keys generate              # the first key: ES256, current",
        "sealgate assertion-keys generate --next --alg EdDSA",
        "sealgate assertion-keys list",
        "sealgate assertion-keys activate KID",
        "sealgate assertion-keys retire OLD_KID",
    ))]
    AssertionKeys {
        #[command(subcommand)]
        action: assertion_keys::AssertionKeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// Sign a user out everywhere: every session of theirs issued until now
    /// is refused on every replica, and their session records are removed.
    #[command(after_help = examples!(
        "sealgate sessions revoke --user alice",
        "SEALGATE__STORE__KIND=redis SEALGATE__STORE__URL=redis://127.0.0.1:6379 sealgate sessions revoke --user alice",
    ))]
    Revoke {
        /// The user id (`X-Auth-User`; the username for password sign-in).
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Open an API token and print its claims (times also as RFC 3339).
    #[command(after_help = examples!(
        "sealgate token inspect eyJ...",
        "sealgate token inspect \"$(cat token.txt)\" | jq .exp_rfc3339",
    ))]
    Inspect {
        /// The token, as sent after `Authorization: Bearer`.
        token: String,
    },
    /// Revoke an API token by its id: append the id to `api_tokens.deny_list`
    /// (SEALGATE__API_TOKENS__DENY_LIST); running gateways reload it.
    #[command(after_help = examples!(
        "sealgate token revoke ID      # the id `token mint` printed on stderr",
        "SEALGATE__API_TOKENS__DENY_LIST=/etc/sealgate/revoked.txt sealgate token revoke ID",
    ))]
    Revoke {
        /// The token's id (`jti`): `token mint` prints it on stderr, `token inspect` shows it.
        id: String,
    },
    /// Print a new API token on stdout (its id and expiry on stderr).
    #[command(after_help = examples!(
        "sealgate token mint --user ci --name deploy --scopes deploy --ttl 3600",
        "sealgate token mint --user alice --name laptop --email alice@example.com --groups admins,ops",
    ))]
    Mint {
        /// The user id the token speaks for (`X-Auth-User`).
        #[arg(long)]
        user: String,
        /// What the token is for, e.g. "ci-deploy".
        #[arg(long)]
        name: String,
        /// The user's e-mail address (`X-Auth-Email`).
        #[arg(long)]
        email: Option<String>,
        /// Comma-separated groups.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Comma-separated scopes.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Lifetime in seconds (default 30 days, or `api_tokens.max_lifetime` if shorter;
        /// longer than `api_tokens.max_lifetime` is refused).
        #[arg(long)]
        ttl: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print each key's id, algorithm, state and age (never key material).
    #[command(after_help = examples!(
        "sealgate keys list",
        "sealgate keys list | grep current",
    ))]
    List,
    /// Make key KID current: it seals everything new; the current key still opens.
    #[command(after_help = examples!(
        "sealgate keygen --next && sealgate keys list   # stage a key, note its KID",
        "sealgate keys activate KID                      # once every replica has reloaded",
    ))]
    Activate {
        /// The key's id, as `sealgate keys list` prints it.
        kid: String,
    },
    /// Remove key KID (never the current one): what it sealed stops opening.
    #[command(after_help = examples!(
        "sealgate keys retire OLD_KID   # after its sessions have expired",
    ))]
    Retire {
        /// The key's id, as `sealgate keys list` prints it.
        kid: String,
    },
    /// Write the key set a verify-only replica (`session.role = "verify"`)
    /// holds: the encryption key pairs, the signing keys' public halves, and
    /// the provider-tokens key of each symmetric key (never the root key).
    #[command(after_help = examples!(
        "sealgate keys export --verify-only --out /etc/sealgate/verify.jwks.json",
    ))]
    Export {
        /// The only export there is; required so that the command says what it writes.
        #[arg(long, required = true)]
        verify_only: bool,
        /// Where to write it (owner-only permissions); it holds private decryption keys.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgArg {
    Dir,
    #[value(name = "A256KW", alias = "a256kw")]
    A256kw,
    #[value(name = "ECDH-ES+A256KW", alias = "ecdh-es+a256kw")]
    EcdhEsA256kw,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CurveArg {
    #[value(name = "P-256", alias = "p256")]
    P256,
    #[value(name = "X25519", alias = "x25519")]
    X25519,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SignArg {
    #[value(name = "ES256", alias = "es256")]
    Es256,
    #[value(name = "EdDSA", alias = "eddsa")]
    EdDsa,
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Print a ready `Cookie` header value for a session sealed with the current key.
    #[command(after_help = examples!(
        "sealgate session mint --user alice --groups admins",
        "curl -H \"Cookie: $(sealgate session mint --user alice)\" http://127.0.0.1:4180/auth/verify",
        "sealgate session mint --user bob --ttl 60 --access-token test-token   # with pass_access_token",
    ))]
    Mint {
        /// The user id (`X-Auth-User`).
        #[arg(long)]
        user: String,
        /// The username (`X-Auth-Username`), if it differs from the id.
        #[arg(long)]
        username: Option<String>,
        /// The user's e-mail address (`X-Auth-Email`).
        #[arg(long)]
        email: Option<String>,
        /// The user's display name (`X-Auth-Name`).
        #[arg(long)]
        name: Option<String>,
        /// The provider the session names (`X-Auth-Provider`).
        #[arg(long, default_value = "cli")]
        provider: String,
        /// Comma-separated groups.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Lifetime in seconds (default: the idle lifetime; capped by the absolute lifetime).
        #[arg(long)]
        ttl: Option<i64>,
        /// Seal this provider access token into the session (to test token passing upstream).
        #[arg(long)]
        access_token: Option<String>,
        /// Lifetime of `--access-token` in seconds.
        #[arg(long, default_value_t = 3600)]
        token_ttl: i64,
    },
    /// Open a cookie value (or a whole `Cookie` header) and print its claims,
    /// secrets redacted and times also as RFC 3339. Says what it is: a
    /// session, an API token or a sign-in flow cookie.
    #[command(after_help = examples!(
        "sealgate session inspect 'sealgate=eyJ...'",
        "sealgate session inspect \"$(sealgate session mint --user alice)\"",
    ))]
    Inspect {
        /// A cookie value, `name=value`, or a whole `Cookie` header (chunks are joined).
        value: String,
    },
}

fn load_settings(path: Option<&PathBuf>) -> Result<Settings, String> {
    Settings::load(path.map(PathBuf::as_path)).map_err(|e| e.to_string())
}

fn assemble(path: Option<&PathBuf>, init: KeyInit) -> Result<Gateway, String> {
    let settings = load_settings(path)?;
    let clock: SharedClock = Arc::new(SystemClock);
    Gateway::assemble(settings, clock, init).map_err(|e| e.to_string())
}

impl Cli {
    pub fn run(self) -> ExitCode {
        let result = match self.command.unwrap_or(Command::Serve { listen: None }) {
            Command::Serve { listen } => serve(self.config.as_ref(), listen),
            Command::Keygen { alg, curve, sign, next } => keygen(self.config.as_ref(), alg, curve, sign, next),
            Command::Keys { action } => keys_command(self.config.as_ref(), action),
            Command::CheckConfig => check_config(self.config.as_ref()),
            Command::AssertionKeys { action } => assertion_keys::run(self.config.as_ref(), action),
            Command::HashPassword => hash_from_stdin(),
            Command::Session { action: SessionCommand::Inspect { value } } => inspect(self.config.as_ref(), &value),
            Command::Token { action: TokenCommand::Inspect { token } } => inspect(self.config.as_ref(), &token),
            Command::Token { action: TokenCommand::Revoke { id } } => revoke_api_token(self.config.as_ref(), &id),
            Command::Sessions { action: SessionsCommand::Revoke { user } } => {
                sessions::revoke_user(self.config.as_ref(), &user)
            }
            Command::Token { action: TokenCommand::Mint { user, name, email, groups, scopes, ttl } } => {
                let user = User { email, groups, ..User::new(user) };
                mint_api_token(self.config.as_ref(), user, &name, scopes, ttl)
            }
            Command::Session {
                action:
                    SessionCommand::Mint { user, username, email, name, provider, groups, ttl, access_token, token_ttl },
            } => {
                let user = User { username, email, name, groups, ..User::new(user) };
                mint(self.config.as_ref(), user, &provider, ttl, access_token.map(|t| (t, token_ttl)))
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            // The reader went away (`sealgate keys list | head -1`): stop quietly.
            Err(message) if message == CLOSED => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

fn serve(config: Option<&PathBuf>, listen: Option<String>) -> Result<(), String> {
    let mut settings = load_settings(config)?;
    if let Some(listen) = listen {
        settings.server.listen = listen;
    }
    telemetry::init(&settings.log);
    let config_file = config_file(config);
    if config_file.is_none() {
        tracing::info!(
            keys = %settings.keys.path.display(),
            users = %settings.credentials.users_file.display(),
            "no --config and no {} here: the embedded default configuration, its paths under the working directory",
            crate::config::DEFAULT_CONFIG_PATH
        );
    }
    let gateway =
        Gateway::assemble(settings, Arc::new(SystemClock), KeyInit::CreateInDevelopment).map_err(|e| e.to_string())?;
    gateway.log_summary(config_file.as_deref());
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(gateway).map_err(|e| e.to_string())?;
        tracing::info!(port = app.port(), metrics_port = app.metrics_port(), "sealgate is listening");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// The config file read: `--config`, else `config/sealgate.toml` when it
/// exists; none for the embedded default.
fn config_file(config: Option<&PathBuf>) -> Option<PathBuf> {
    config.cloned().or_else(|| {
        let default = PathBuf::from(crate::config::DEFAULT_CONFIG_PATH);
        default.exists().then_some(default)
    })
}

/// The key file the settings name, if sealgate may write it.
fn key_file(config: Option<&PathBuf>) -> Result<PathBuf, String> {
    let settings = load_settings(config)?;
    if settings.keys.jwks.is_some() {
        return Err(
            "keys.jwks is set, so the key set is not a file sealgate can write; change the key set there yourself"
                .into(),
        );
    }
    Ok(settings.keys.path)
}

/// `keygen --next`: the first step of a rotation in a fleet.
fn keygen_next(path: &std::path::Path, alg: KeyAlg) -> Result<(), String> {
    let kid = keys::keygen_next(path, alg).map_err(|e| e.to_string())?;
    out!(
        "added key {kid} ({}) to {} as the next key: it opens, it does not seal. \
         Once every replica has reloaded the file, run `sealgate keys activate {kid}`.",
        alg.as_str(),
        path.display()
    )?;
    Ok(())
}

fn keys_command(config: Option<&PathBuf>, action: KeysCommand) -> Result<(), String> {
    let path = key_file(config)?;
    match action {
        KeysCommand::List => {
            let set = keys::read_key_set(&path).map_err(|e| e.to_string())?;
            let now = chrono::Utc::now().timestamp();
            out!("{:<34} {:<7} {:<9} AGE", "KID", "ALG", "STATE")?;
            for key in set.iter() {
                let age = key.created().map_or_else(|| "unknown".to_owned(), |created| age(now - created));
                let alg = if key.purpose().is_some() { "A256GCM" } else { key.alg().as_str() };
                out!("{:<34} {:<7} {:<9} {age}", key.kid(), alg, key.state().as_str())?;
            }
            for key in set.pairs() {
                let age = key.created().map_or_else(|| "unknown".to_owned(), |created| age(now - created));
                let kind = key.kind();
                let half = if key.has_private() { "" } else { " (public only)" };
                out!(
                    "{:<34} {:<7} {:<9} {age}  {} {}{half}",
                    key.kid(),
                    kind.alg(),
                    key.state().as_str(),
                    kind.use_(),
                    kind.crv()
                )?;
            }
        }
        KeysCommand::Activate { kid } => {
            let was = keys::activate(&path, &kid).map_err(|e| e.to_string())?;
            if was == kid {
                out!("key {kid} is already the current key")?;
            } else {
                out!(
                    "key {kid} is now the current key; {was} still opens what it sealed. \
                     Each replica seals with {kid} once it has reloaded {}.",
                    path.display()
                )?;
            }
        }
        KeysCommand::Export { verify_only: _, out } => {
            let set = keys::export_verify_only(&path, &out).map_err(|e| e.to_string())?;
            out!(
                "wrote the verify-only key set ({} key(s)) to {}: give it to replicas with \
                 session.role = \"verify\"; it opens and checks sessions, and mints none",
                set.len(),
                out.display()
            )?;
        }
        KeysCommand::Retire { kid } => {
            let state = keys::retire(&path, &kid).map_err(|e| e.to_string())?;
            out!(
                "retired the {} key {kid}: what it sealed stops opening on each replica once it has reloaded {}",
                state.as_str(),
                path.display()
            )?;
        }
    }
    Ok(())
}

/// A key's age, in the largest two units: `3d 4h`, `5h 12m`, `40m`.
fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// `keygen --alg ECDH-ES+A256KW --sign ALG`: the key pairs of the nested format.
fn keygen_pair(path: &std::path::Path, curve: CurveArg, sign: Option<SignArg>, next: bool) -> Result<(), String> {
    use keys::{EncCurve, PairKind, SignAlg};
    let sign = sign.ok_or("--alg ECDH-ES+A256KW needs --sign ES256 or --sign EdDSA (the signing key pair)")?;
    let enc = PairKind::Enc(match curve {
        CurveArg::P256 => EncCurve::P256,
        CurveArg::X25519 => EncCurve::X25519,
    });
    let sig = PairKind::Sig(match sign {
        SignArg::Es256 => SignAlg::Es256,
        SignArg::EdDsa => SignAlg::EdDsa,
    });
    let (enc_kid, sig_kid, oct) = keys::keygen_pair(path, enc, sig, next).map_err(|e| e.to_string())?;
    let set = keys::read_key_set(path).map_err(|e| e.to_string())?;
    let state = |kid: &str| set.get_pair(kid).map_or("?", |k| k.state().as_str());
    out!("added encryption key {enc_kid} ({} {}, {}) to {}", enc.alg(), enc.crv(), state(&enc_kid), path.display())?;
    out!("added signing key {sig_kid} ({}, {})", sig.alg(), state(&sig_kid))?;
    if let Some(oct) = oct {
        out!("added symmetric key {oct} (dir, current): flow cookies and API tokens are sealed with it")?;
    }
    if state(&enc_kid) == "next" || state(&sig_kid) == "next" {
        out!(
            "Once every replica has reloaded the file, run `sealgate keys activate {enc_kid}` and \
             `sealgate keys activate {sig_kid}`; then export the verify-only set again."
        )?;
    }
    Ok(())
}

fn keygen(
    config: Option<&PathBuf>,
    alg: AlgArg,
    curve: CurveArg,
    sign: Option<SignArg>,
    next: bool,
) -> Result<(), String> {
    let settings = load_settings(config)?;
    if settings.keys.jwks.is_some() {
        return Err(
            "keys.jwks is set, so the key set is not a file sealgate can write; add the key there yourself".into()
        );
    }
    if sign.is_some() && !matches!(alg, AlgArg::EcdhEsA256kw) {
        return Err("--sign goes with --alg ECDH-ES+A256KW".into());
    }
    let alg = match alg {
        AlgArg::Dir => KeyAlg::Dir,
        AlgArg::A256kw => KeyAlg::A256Kw,
        AlgArg::EcdhEsA256kw => return keygen_pair(&settings.keys.path, curve, sign, next),
    };
    if next {
        return keygen_next(&settings.keys.path, alg);
    }
    let kid = keys::keygen(&settings.keys.path, alg).map_err(|e| e.to_string())?;
    out!("added key {kid} ({}) to {}; it is now the current key", alg.as_str(), settings.keys.path.display())?;
    Ok(())
}

/// Warnings about providers whose switched-on features have no endpoint:
/// OpenID Connect providers are discovered (once each) to know.
fn endpoint_warnings(gateway: &Gateway) -> Vec<String> {
    let providers: Vec<_> = gateway.state.providers.iter().filter(|p| p.needs_endpoints()).cloned().collect();
    if providers.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return vec![format!("cannot check the providers' endpoints: {e}")],
    };
    runtime.block_on(async {
        let mut warnings = Vec::new();
        for provider in providers {
            provider.discover(1).await;
            match provider.missing_endpoints() {
                Some(missing) => {
                    warnings.extend(missing.into_iter().map(|m| format!("providers.{}: {m}", provider.id)))
                }
                None => warnings.push(format!(
                    "providers.{}: discovery failed, so whether its revocation and introspection endpoints exist \
                     is not known",
                    provider.id
                )),
            }
        }
        warnings
    })
}

fn check_config(config: Option<&PathBuf>) -> Result<(), String> {
    let settings = match Settings::load(config.map(PathBuf::as_path)) {
        Ok(settings) => settings,
        Err(error) => {
            // The users file is judged in the same run, if its own keys parse.
            let mut problems = error.problems().to_vec();
            if let Some((credentials, production)) = Settings::load_credentials(config.map(PathBuf::as_path)) {
                if credentials.enabled {
                    let limits = VerifyLimits { concurrent: 1, queue: 0 };
                    if let Err(users) = CredentialsProvider::load(&credentials.users_file, production, limits) {
                        problems.extend(users);
                    }
                }
            }
            return Err(ConfigError::new(problems).to_string());
        }
    };
    let gateway = Gateway::assemble(settings, Arc::new(SystemClock), KeyInit::ReadOnly).map_err(|e| e.to_string())?;
    for warning in endpoint_warnings(&gateway) {
        eprintln!("warning: {warning}");
    }
    let settings = &gateway.settings;
    let keys = if settings.keys.jwks.is_none() && !settings.keys.path.exists() {
        format!("no key file yet (`sealgate serve` creates {} at first start)", settings.keys.path.display())
    } else {
        format!("{} key(s)", gateway.keys.len())
    };
    out!("configuration OK: mode {:?}, {keys}, listening on {}", settings.mode, settings.server.listen)?;
    let read = config_file(config).map_or_else(|| "the embedded default".to_owned(), |p| p.display().to_string());
    let users = if settings.credentials.enabled {
        settings.credentials.users_file.display().to_string()
    } else {
        "none (password sign-in off)".to_owned()
    };
    let keys = match settings.keys.jwks {
        Some(_) => "keys.jwks".to_owned(),
        None => settings.keys.path.display().to_string(),
    };
    out!("config: {read}; keys: {keys}; users: {users}")
}

/// On a terminal, ask twice without echo; from a pipe, read one line.
fn hash_from_stdin() -> Result<(), String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let ask = |prompt: &str| rpassword::prompt_password(prompt).map(SecretString::from);
        let first = ask("Password: ").map_err(|e| format!("cannot read the password: {e}"))?;
        let again = ask("Again: ").map_err(|e| format!("cannot read the password: {e}"))?;
        if first.expose_secret() != again.expose_secret() {
            return Err("the two passwords differ".into());
        }
        first
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read stdin: {e}"))?;
        let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
        SecretString::from(password.to_owned())
    };
    if password.expose_secret().is_empty() {
        return Err("the password is empty".into());
    }
    out!("{}", hash_password(&password)?)?;
    Ok(())
}

/// What a command's output function returns when stdout was closed.
const CLOSED: &str = "stdout closed";

/// Print a line on stdout; a closed pipe ends the command quietly instead
/// of the panic `println!` would give.
fn write_out(line: std::fmt::Arguments<'_>) -> Result<(), String> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CLOSED.into()),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command under `command`, nested ones too, with its words
    /// (`["keys", "activate"]`); clap's own `help` subcommand left out.
    fn commands(command: &clap::Command, words: Vec<String>, into: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
            let mut words = words.clone();
            words.push(sub.get_name().to_owned());
            commands(sub, words.clone(), into);
            into.push((words, sub.clone()));
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_commands_help_shows_an_example_of_itself_and_describes_every_option() {
        let mut root = Cli::command();
        root.build();
        let mut all = Vec::new();
        commands(&root, Vec::new(), &mut all);
        assert!(all.len() > 20, "nested commands are found: {}", all.len());
        for (words, mut command) in all {
            let invocation = format!("sealgate {}", words.join(" "));
            let help = command.render_long_help().to_string();
            assert!(command.get_about().is_some(), "{invocation} says what it does");
            assert!(help.contains("Examples:\n  "), "{invocation} --help has examples:\n{help}");
            let examples = help.split("Examples:\n").nth(1).unwrap_or_default();
            assert!(
                examples.lines().any(|line| line.contains(&invocation)),
                "{invocation} --help shows an example of {invocation}:\n{help}"
            );
            for name in ["SEALGATE_CONFIG", "SEALGATE__SECTION__KEY", "--config"] {
                assert!(help.contains(name), "{invocation} --help names {name}:\n{help}");
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "{invocation}: `{id}` has no help text"
                );
            }
        }
    }

    #[test]
    fn a_nested_subcommands_help_shows_its_example_and_options() {
        let mut root = Cli::command();
        let generate = root
            .find_subcommand_mut("assertion-keys")
            .and_then(|keys| keys.find_subcommand_mut("generate"))
            .expect("assertion-keys generate");
        let help = generate.render_long_help().to_string();
        assert!(help.contains("sealgate assertion-keys generate --next --alg EdDSA"), "{help}");
        assert!(help.contains("--alg <ALG>") && help.contains("ES256 (EC P-256) or EdDSA (Ed25519)"), "{help}");
        assert!(help.contains("--next") && help.contains("published, not signing yet"), "{help}");
        assert!(help.contains("SEALGATE__ASSERTION__KEYS_PATH="), "{help}");
    }
}
