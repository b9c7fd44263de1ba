//! Relative paths in the configuration, made absolute once, at load.
//!
//! A relative path written in a config file means "next to that file": it
//! resolves against the file's directory, whatever the working directory.
//! One given in a `SEALGATE__...` environment variable resolves against the
//! working directory, as a shell path would. A key given nowhere (its
//! built-in default) resolves like one written in the config file. The
//! embedded default configuration is `config/sealgate.toml`, so it resolves
//! as if read from `./config/`: keys in `./keys/`, users in
//! `./config/users.toml`. Past [`resolve`], every path is absolute.

use super::{SecretSource, Settings, ENV_PREFIX};
use figment::providers::Env;
use figment::{Figment, Provider, Source};
use std::path::{Component, Path, PathBuf};

/// Resolves the relative paths of one configuration's keys.
pub(super) struct Resolver<'a> {
    figment: &'a Figment,
    /// Where keys written nowhere (or in the embedded default) resolve:
    /// the config file's directory.
    fallback: PathBuf,
    cwd: PathBuf,
    env: String,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(figment: &'a Figment, fallback: PathBuf) -> Resolver<'a> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let env = Env::prefixed(ENV_PREFIX).metadata().name.into_owned();
        Resolver { figment, fallback: directory(&cwd, &fallback), cwd, env }
    }

    /// The directory `key`'s relative path resolves against.
    fn base(&self, key: &str) -> PathBuf {
        match self.figment.find_metadata(key) {
            Some(metadata) => match &metadata.source {
                Some(Source::File(file)) => directory(&self.cwd, file.parent().unwrap_or(Path::new(""))),
                _ if metadata.name == self.env => self.cwd.clone(),
                _ => self.fallback.clone(),
            },
            None => self.fallback.clone(),
        }
    }

    pub(super) fn join(&self, key: &str, path: &mut PathBuf) {
        *path = absolute(&self.base(key), path);
    }
}

/// Make every path-valued key of `settings` absolute.
pub(super) fn resolve(settings: &mut Settings, resolver: &Resolver<'_>) {
    let join = |key: &str, path: &mut PathBuf| resolver.join(key, path);
    join("keys.path", &mut settings.keys.path);
    join("credentials.users_file", &mut settings.credentials.users_file);
    join("store.path", &mut settings.store.path);
    if let Some(path) = settings.api_tokens.deny_list.as_mut() {
        join("api_tokens.deny_list", path);
    }
    if let Some(path) = settings.assertion.keys_path.as_mut() {
        join("assertion.keys_path", path);
    }
    if let Some(path) = settings.ui.templates_dir.as_mut() {
        join("ui.templates_dir", path);
    }
    if let Some(path) = settings.email.templates_dir.as_mut() {
        join("email.templates_dir", path);
    }
    let secret = |key: String, source: Option<&mut SecretSource>| {
        if let Some(path) = source.and_then(SecretSource::file_mut) {
            join(&format!("{key}.file"), path);
        }
    };
    secret("keys.jwks".into(), settings.keys.jwks.as_mut());
    secret("hooks.secret".into(), settings.hooks.secret.as_mut());
    secret("email.username".into(), settings.email.username.as_mut());
    secret("email.password".into(), settings.email.password.as_mut());
    for (id, provider) in &mut settings.providers {
        secret(format!("providers.{id}.client_secret"), provider.client_secret.as_mut());
    }
}

/// A directory made absolute; the empty one (of `sealgate.toml`) is the working directory.
fn directory(cwd: &Path, dir: &Path) -> PathBuf {
    if dir.as_os_str().is_empty() {
        cwd.to_path_buf()
    } else {
        absolute(cwd, dir)
    }
}

/// `path` against `base`, made absolute; an absolute `path` as it is.
fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.as_os_str().is_empty() || path.is_absolute() {
        return path.to_path_buf();
    }
    // Lexically, so `config/../keys` reads `keys` in logs (as a shell's `cd` would).
    let mut resolved = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_joins_its_base_and_an_absolute_or_empty_one_stays() {
        let base = Path::new("/etc/sealgate");
        assert_eq!(absolute(base, Path::new("users.toml")), PathBuf::from("/etc/sealgate/users.toml"));
        assert_eq!(absolute(base, Path::new("/var/keys.json")), PathBuf::from("/var/keys.json"));
        assert_eq!(absolute(base, Path::new("")), PathBuf::new(), "an empty path is left for validation to name");
        assert_eq!(
            absolute(Path::new("/srv/app/config"), Path::new("../keys/./k.json")),
            PathBuf::from("/srv/app/keys/k.json")
        );
    }
}
