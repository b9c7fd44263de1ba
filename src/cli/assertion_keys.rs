//! `sealgate assertion-keys generate|list|activate|retire`: the keys that
//! sign `X-Auth-Assertion` (`assertion.keys_path`), rotated in the same
//! steps as the session keys (keys/README.md): `generate --next`, wait
//! until every replica and every upstream's JWKS cache has it, `activate`,
//! and `retire` the old key once what it signed has expired.

use super::{age, load_settings, write_out};
use crate::assertion::keys::{self, AssertionKeys};
use crate::crypto::keys::{KeyState, SignAlg};
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AssertionKeysCommand {
    /// Add a new signing key and make it current (with --next: publish it
    /// first, and sign with it only after `assertion-keys activate`).
    /// Creates the set at `assertion.keys_path` when there is none.
    #[command(after_help = examples!(
        "sealgate assertion-keys generate                    # ES256, signs at once",
        "sealgate assertion-keys generate --next --alg EdDSA # published, not signing",
        "SEALGATE__ASSERTION__KEYS_PATH=/var/lib/sealgate/assertion-keys.json sealgate assertion-keys generate",
    ))]
    Generate {
        /// The signature algorithm: ES256 (EC P-256) or EdDSA (Ed25519).
        #[arg(long, value_enum, default_value_t = AlgArg::Es256)]
        alg: AlgArg,
        /// Add the key as `next`: published, not signing yet.
        #[arg(long)]
        next: bool,
    },
    /// Print each key's id, algorithm, state and age (never key material).
    #[command(after_help = examples!(
        "sealgate assertion-keys list",
        "sealgate --config /etc/sealgate/sealgate.toml assertion-keys list | grep next",
    ))]
    List,
    /// Make key KID sign new assertions; the current key stays published.
    #[command(after_help = examples!(
        "sealgate assertion-keys activate KID   # once upstreams' JWKS caches have it (5 minutes)",
    ))]
    Activate {
        /// The key's id, as `sealgate assertion-keys list` prints it.
        kid: String,
    },
    /// Remove key KID (never the current one): it is no longer published.
    #[command(after_help = examples!(
        "sealgate assertion-keys retire OLD_KID   # once what it signed has expired",
    ))]
    Retire {
        /// The key's id, as `sealgate assertion-keys list` prints it.
        kid: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgArg {
    #[value(name = "ES256", alias = "es256")]
    Es256,
    #[value(name = "EdDSA", alias = "eddsa")]
    EdDsa,
}

fn read(path: &std::path::Path) -> Result<AssertionKeys, String> {
    keys::read(path)?
        .ok_or_else(|| format!("no assertion keys at {}; run `sealgate assertion-keys generate` first", path.display()))
}

pub fn run(config: Option<&PathBuf>, action: AssertionKeysCommand) -> Result<(), String> {
    let path = load_settings(config)?.assertion_keys_path();
    let now = chrono::Utc::now().timestamp();
    match action {
        AssertionKeysCommand::Generate { alg, next } => {
            let alg = match alg {
                AlgArg::Es256 => SignAlg::Es256,
                AlgArg::EdDsa => SignAlg::EdDsa,
            };
            let (mut set, fresh) = match keys::read(&path)? {
                Some(set) => (set, false),
                None if next => return Err(format!("no assertion keys at {} to add a next key to", path.display())),
                None => (AssertionKeys::generate(alg, now)?, true),
            };
            let kid = if fresh {
                set.current().kid().to_owned()
            } else {
                set.add_generated(alg, if next { KeyState::Next } else { KeyState::Current }, now)?
            };
            keys::write(&path, &set)?;
            if next {
                out!(
                    "added assertion key {kid} ({}) to {} as the next key: published, not signing. Once every \
                     replica has reloaded it and upstreams' JWKS caches have it (5 minutes), run \
                     `sealgate assertion-keys activate {kid}`.",
                    alg.as_str(),
                    path.display()
                )?;
            } else {
                out!("added assertion key {kid} ({}) to {}; it now signs", alg.as_str(), path.display())?;
            }
        }
        AssertionKeysCommand::List => {
            let set = read(&path)?;
            out!("{:<34} {:<7} {:<9} AGE", "KID", "ALG", "STATE")?;
            for key in set.iter() {
                let age = key.created().map_or_else(|| "unknown".to_owned(), |created| age(now - created));
                out!("{:<34} {:<7} {:<9} {age}", key.kid(), key.alg().as_str(), key.state().as_str())?;
            }
        }
        AssertionKeysCommand::Activate { kid } => {
            let mut set = read(&path)?;
            let was = set.activate(&kid)?;
            keys::write(&path, &set)?;
            out!("assertion key {kid} now signs; {was} stays published until `sealgate assertion-keys retire {was}`")?;
        }
        AssertionKeysCommand::Retire { kid } => {
            let mut set = read(&path)?;
            let state = set.retire(&kid)?;
            keys::write(&path, &set)?;
            out!("retired the {} assertion key {kid}: it is no longer published", state.as_str())?;
        }
    }
    Ok(())
}
