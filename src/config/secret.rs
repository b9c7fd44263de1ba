//! Where a secret comes from: inline, an environment variable, or a file.
//!
//! In TOML a secret is either a plain string (inline) or a table with exactly
//! one of `value`, `env` or `file`. The resolved value is a [`SecretString`],
//! so it never shows in `Debug` output.

use secrecy::SecretString;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Inline(SecretString),
    Table(SecretTable),
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretTable {
    value: Option<SecretString>,
    env: Option<String>,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("SecretSource::Inline([redacted])"),
            SecretSource::Table(t) => match (&t.value, &t.env, &t.file) {
                (Some(_), _, _) => f.write_str("SecretSource::Value([redacted])"),
                (None, Some(name), _) => write!(f, "SecretSource::Env({name})"),
                (None, None, Some(path)) => write!(f, "SecretSource::File({})", path.display()),
                (None, None, None) => f.write_str("SecretSource::Empty"),
            },
        }
    }
}

impl SecretSource {
    /// The file a secret is read from, if it is read from one (for
    /// resolving a relative path at load).
    pub(super) fn file_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            SecretSource::Table(table) => table.file.as_mut(),
            SecretSource::Inline(_) => None,
        }
    }

    /// Resolve the secret. The error names where it looked, never the value.
    pub fn resolve(&self) -> Result<SecretString, String> {
        match self {
            SecretSource::Inline(value) => Ok(value.clone()),
            SecretSource::Table(table) => {
                let given = [table.value.is_some(), table.env.is_some(), table.file.is_some()]
                    .iter()
                    .filter(|set| **set)
                    .count();
                if given != 1 {
                    return Err("give exactly one of `value`, `env` or `file`".into());
                }
                if let Some(value) = &table.value {
                    return Ok(value.clone());
                }
                if let Some(name) = &table.env {
                    return std::env::var(name)
                        .map(SecretString::from)
                        .map_err(|_| format!("environment variable `{name}` is not set"));
                }
                let path = table.file.as_ref().ok_or("no source given")?;
                std::fs::read_to_string(path)
                    .map(|text| SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned()))
                    .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn parse(toml_text: &str) -> SecretSource {
        #[derive(Deserialize)]
        struct Holder {
            s: SecretSource,
        }
        toml::from_str::<Holder>(toml_text).unwrap().s
    }

    #[test]
    fn inline_env_and_file_resolve() {
        assert_eq!(parse(r#"s = "hunter2""#).resolve().unwrap().expose_secret(), "hunter2");

        std::env::set_var("SEALGATE_TEST_SECRET_SOURCE", "from-env");
        let env = parse(r#"s = { env = "SEALGATE_TEST_SECRET_SOURCE" }"#);
        assert_eq!(env.resolve().unwrap().expose_secret(), "from-env");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let file = parse(&format!("s = {{ file = {:?} }}", path.display().to_string()));
        assert_eq!(file.resolve().unwrap().expose_secret(), "from-file");
    }

    #[test]
    fn two_sources_or_a_missing_env_var_is_an_error() {
        assert!(parse(r#"s = { value = "a", env = "B" }"#).resolve().is_err());
        let missing = parse(r#"s = { env = "SEALGATE_TEST_NOT_SET_ANYWHERE" }"#).resolve();
        assert!(missing.unwrap_err().contains("SEALGATE_TEST_NOT_SET_ANYWHERE"));
    }

    #[test]
    fn debug_never_shows_the_value() {
        let shown = format!("{:?} {:?}", parse(r#"s = "hunter2""#), parse(r#"s = { value = "hunter2" }"#));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
