//! Reading the merged file and environment into [`Settings`], with every
//! problem named at once: each section is read on its own, so an unknown
//! key in one, a wrong type in another and a bad value in a third are all
//! reported in one run, each with the file (or environment variable) and
//! the key as the operator wrote them.

use super::{ConfigError, Settings, ENV_PREFIX};
use figment::{Figment, Provider, Source};
use serde::de::DeserializeOwned;

/// The top-level keys [`Settings`] reads, besides the sections read below.
const SECTIONS: [&str; 20] = [
    "mode",
    "server",
    "keys",
    "session",
    "cookie",
    "redirects",
    "credentials",
    "log",
    "oauth",
    "tokens",
    "policy",
    "api_tokens",
    "store",
    "verification",
    "email",
    "hooks",
    "assertion",
    "headers",
    "ui",
    "providers",
];

pub(super) fn extract(figment: &Figment) -> Result<Settings, ConfigError> {
    figment.extract::<Settings>().map_err(|first| {
        let mut problems = every_problem(figment);
        if problems.is_empty() {
            problems = first.into_iter().map(|error| describe(&error, &[])).collect();
        }
        ConfigError::new(problems)
    })
}

/// Each section read alone, so one's error does not hide the next's.
fn every_problem(figment: &Figment) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(data) = figment.data() else { return problems };
    let top = data.into_values().next().unwrap_or_default();
    for key in top.keys().filter(|key| !SECTIONS.contains(&key.as_str())) {
        let known = SECTIONS.join(", ");
        problems.push(format!("{}: unknown key `{key}` (known: {known})", origin(figment, key)));
    }
    let mut section = |name: &str, read: &dyn Fn(&Figment, &str) -> Vec<String>| {
        if top.contains_key(name.split('.').next().unwrap_or(name)) {
            problems.extend(read(figment, name));
        }
    };
    section("mode", &check::<super::Mode>);
    section("server", &check::<super::ServerSettings>);
    section("keys", &check::<super::KeySettings>);
    section("session", &check::<super::SessionSettings>);
    section("cookie", &check::<super::CookieSettings>);
    section("redirects", &check::<super::RedirectSettings>);
    section("credentials", &check::<super::CredentialsSettings>);
    section("log", &check::<super::LogSettings>);
    section("oauth", &check::<super::OAuthSettings>);
    section("tokens", &check::<super::TokenSettings>);
    section("policy", &check::<super::PolicySettings>);
    section("api_tokens", &check::<super::ApiTokenSettings>);
    section("store", &check::<super::store::StoreSettings>);
    section("verification", &check::<super::verification::VerificationSettings>);
    section("email", &check::<super::verification::EmailSettings>);
    section("hooks", &check::<super::hooks::HookSettings>);
    section("assertion", &check::<super::AssertionSettings>);
    section("ui", &check::<super::ui::UiSettings>);
    section("headers", &check::<std::collections::BTreeMap<String, String>>);
    if let Some(providers) = top.get("providers").and_then(|p| p.as_dict()) {
        for id in providers.keys() {
            section(&format!("providers.{id}"), &check::<super::ProviderSettings>);
        }
    }
    problems
}

/// The problems of section `key` read as a `T`.
fn check<T: DeserializeOwned>(figment: &Figment, key: &str) -> Vec<String> {
    match figment.extract_inner::<T>(key) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|error| describe(&error, &[key])).collect(),
    }
}

/// `file: key: what is wrong`, the key as written (no profile prefix).
fn describe(error: &figment::Error, section: &[&str]) -> String {
    let mut path: Vec<String> = section.iter().flat_map(|s| s.split('.')).map(str::to_owned).collect();
    // Figment adds the section it was asked for after the path inside it.
    let mut inner = error.path.clone();
    if let Some(at) = inner.iter().position(|part| Some(part.as_str()) == path.first().map(String::as_str)) {
        inner.truncate(at);
    }
    path.extend(inner);
    let key = path.join(".");
    let place = match &error.metadata {
        Some(metadata) => match &metadata.source {
            Some(Source::File(file)) => file.display().to_string(),
            _ if metadata.name.contains("environment") => {
                format!("environment variable {ENV_PREFIX}{}", path.join("__").to_uppercase())
            }
            _ => "the embedded default".to_owned(),
        },
        None => "the configuration".to_owned(),
    };
    if key.is_empty() {
        format!("{place}: {}", error.kind)
    } else {
        format!("{place}: {key}: {}", error.kind)
    }
}

/// Where a top-level key was written.
fn origin(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(metadata) => match &metadata.source {
            Some(Source::File(file)) => file.display().to_string(),
            _ if metadata.name.contains("environment") => {
                format!("environment variable {ENV_PREFIX}{}", key.to_uppercase())
            }
            _ => "the embedded default".to_owned(),
        },
        None => "the configuration".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};

    fn problems(text: &str) -> Vec<String> {
        extract(&Figment::new().merge(Toml::string(text))).unwrap_err().problems().to_vec()
    }

    #[test]
    fn an_unknown_key_a_wrong_type_and_a_bad_value_in_three_sections_are_all_named() {
        let found = problems(
            "colour = \"red\"\n[server]\nworkers = \"many\"\n[cookie]\nsame_site = \"sideways\"\n\
             [session]\nidle_lifetimes = \"1h\"\n[providers.corp]\nkind = \"oidc\"\nclient_id = 7\n",
        );
        let text = found.join("\n");
        for expected in [
            "unknown key `colour`",
            "server.workers: invalid type",
            "cookie.same_site: unknown variant",
            "idle_lifetimes",
            "providers.corp.client_id: invalid type",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("default."), "no profile prefix:\n{text}");
        assert_eq!(found.len(), 5, "{text}");
    }

    #[test]
    fn every_section_the_shipped_config_has_is_known_when_another_is_wrong() {
        let shipped = include_str!("../../config/sealgate.toml");
        let text = format!("{shipped}\n[headers]\nX-Team = \"claims.team\"\n[tokens]\nrefresh_skew = []\n");
        let found = problems(&text);
        assert!(found.iter().all(|p| !p.contains("unknown key")), "{found:?}");
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
