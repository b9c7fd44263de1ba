//! Cross-field rules for [`Settings`]. Every rule runs; every broken one is
//! reported, so an operator fixes a config in one pass.

use super::{Mode, ProviderKind, ProviderSettings, SameSite, SessionFormat, SessionRole, Settings};
use secrecy::ExposeSecret;
use std::fmt;
use std::net::SocketAddr;
use url::Url;

/// One or more configuration problems, listed together.
#[derive(Debug)]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    pub fn new(problems: Vec<String>) -> Self {
        Self { problems }
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(f, "the configuration has {count} problem{}:", if count == 1 { "" } else { "s" })?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The smallest open-cache: below it, a busy gateway would open most
/// cookies again on every request. No zero: without the cache every
/// `/auth/verify` decrypts, which is never what a memory bound is for.
const MIN_CACHE_BYTES: u64 = 1024 * 1024;

/// Cookie names are HTTP tokens; we keep to a conservative subset.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn is_host_pattern(host: &str) -> bool {
    let bare = host.strip_prefix('.').unwrap_or(host);
    !bare.is_empty()
        && bare.len() <= 253
        && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        && !bare.ends_with('.')
}

/// An http(s) origin exactly as browsers send it in `Origin`.
fn is_origin(text: &str) -> bool {
    Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.origin().ascii_serialization() == text)
}

/// Provider ids appear in URLs and sessions: keep them short and plain.
pub fn is_provider_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && id.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn bearer_problems(at: &str, provider: &ProviderSettings) -> Vec<String> {
    let bearer = &provider.bearer;
    let mut problems = Vec::new();
    let oidc = matches!(provider.kind, ProviderKind::Oidc | ProviderKind::Google | ProviderKind::Gitlab);
    if bearer.jwt && !oidc {
        problems.push(format!(
            "{at}.bearer.jwt needs an OpenID Connect provider (kind = \"oidc\", \"google\" or \"gitlab\") for its issuer and JWKS"
        ));
    }
    if bearer.introspection && !oidc && bearer.introspection_url.is_none() {
        problems
            .push(format!("{at}.bearer.introspection needs bearer.introspection_url for kind = {:?}", provider.kind));
    }
    for alg in &bearer.algorithms {
        if !crate::config::ASYMMETRIC_ALGORITHMS.contains(&alg.as_str()) {
            problems.push(format!(
                "{at}.bearer.algorithms: `{alg}` is not allowed; use asymmetric algorithms only ({})",
                crate::config::ASYMMETRIC_ALGORITHMS.join(", ")
            ));
        }
    }
    if bearer.jwt && bearer.algorithms.is_empty() {
        problems.push(format!("{at}.bearer.algorithms is empty, so no JWT could be accepted"));
    }
    if bearer.audiences.iter().any(String::is_empty) {
        problems.push(format!("{at}.bearer.audiences has an empty value"));
    }
    if bearer.accept_id_tokens && !bearer.jwt {
        problems.push(format!("{at}.bearer.accept_id_tokens needs bearer.jwt"));
    }
    if bearer.insecure_introspection_without_token_type && !bearer.introspection {
        problems.push(format!("{at}.bearer.insecure_introspection_without_token_type needs bearer.introspection"));
    }
    if bearer.jwks_min_refetch > bearer.jwks_lifetime {
        problems.push(format!("{at}.bearer.jwks_min_refetch is longer than bearer.jwks_lifetime"));
    }
    problems
}

/// The shortest `providers.<id>.revalidate`: checking more often would
/// put a provider call on a person's every few requests.
const MIN_REVALIDATE: std::time::Duration = std::time::Duration::from_secs(60);

fn provider_problems(id: &str, provider: &ProviderSettings) -> Vec<String> {
    let mut problems = Vec::new();
    let at = format!("providers.{id}");
    if !is_provider_id(id) {
        problems.push(format!("{at}: the id must be 1-32 lowercase letters, digits, `-` or `_`"));
    }
    if id == crate::providers::credentials::PROVIDER_ID {
        problems.push(format!("{at}: `credentials` is reserved for password sign-in"));
    }
    if id == crate::accounts::PROVIDER_ID {
        problems.push(format!("{at}: `accounts` is reserved for signed-up password users"));
    }
    if provider.client_id.is_empty() {
        problems.push(format!("{at}.client_id is empty"));
    }
    match &provider.client_secret {
        None if provider.kind != ProviderKind::X => problems.push(format!("{at}.client_secret is required")),
        Some(source) => match source.resolve() {
            Err(e) => problems.push(format!("{at}.client_secret: {e}")),
            Ok(secret) if secret.expose_secret().trim().is_empty() => {
                problems.push(format!("{at}.client_secret is empty"));
            }
            Ok(_) => {}
        },
        None => {}
    }
    if provider.kind == ProviderKind::Oidc && provider.issuer.is_none() {
        problems.push(format!("{at}.issuer is required for kind = \"oidc\""));
    }
    if provider.kind == ProviderKind::Oauth2 {
        for (key, value) in [("authorize_url", &provider.authorize_url), ("token_url", &provider.token_url)] {
            if value.is_none() {
                problems.push(format!("{at}.{key} is required for kind = \"oauth2\""));
            }
        }
        if provider.userinfo_url.is_none() {
            problems.push(format!("{at}.userinfo_url is required for kind = \"oauth2\""));
        }
    }
    problems.extend(bearer_problems(&at, provider));
    if let Some(every) = provider.revalidate {
        if !matches!(provider.kind, ProviderKind::Oidc | ProviderKind::Google | ProviderKind::Gitlab) {
            problems.push(format!(
                "{at}.revalidate needs an OpenID Connect provider (kind = \"oidc\", \"google\" or \"gitlab\"), \
                 whose userinfo endpoint says whether the account still exists"
            ));
        }
        if every < MIN_REVALIDATE {
            problems.push(format!("{at}.revalidate must be at least 1 minute"));
        }
    }
    let urls = [
        ("introspection_url", &provider.bearer.introspection_url),
        ("issuer", &provider.issuer),
        ("base_url", &provider.base_url),
        ("authorize_url", &provider.authorize_url),
        ("token_url", &provider.token_url),
        ("userinfo_url", &provider.userinfo_url),
        ("api_url", &provider.api_url),
        ("revocation_url", &provider.revocation_url),
        ("end_session_url", &provider.end_session_url),
        ("post_logout_redirect_url", &provider.post_logout_redirect_url),
    ];
    for (key, value) in urls {
        if let Some(value) = value {
            match Url::parse(value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
                _ => problems.push(format!("{at}.{key} `{value}` is not an http(s) URL")),
            }
        }
    }
    problems
}

impl Settings {
    /// The public URL, parsed. Only valid after [`Settings::validate`].
    pub fn public_url(&self) -> Option<Url> {
        Url::parse(&self.server.public_url).ok()
    }

    /// Whether cookies carry `Secure`.
    pub fn cookie_secure(&self) -> bool {
        !self.cookie.insecure_http
    }

    /// The session cookie's name: the configured one, else `__Host-sealgate`
    /// (`__Secure-sealgate` with a `Domain`), or plain `sealgate` over http.
    pub fn cookie_name(&self) -> String {
        match (&self.cookie.name, self.cookie_secure(), &self.cookie.domain) {
            (Some(name), _, _) => name.clone(),
            (None, false, _) => "sealgate".into(),
            (None, true, Some(_)) => "__Secure-sealgate".into(),
            (None, true, None) => "__Host-sealgate".into(),
        }
    }

    /// Every problem with these settings that can be found without touching
    /// the keys or users files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::new(problems))
        }
    }

    /// The sign-in verification mode of every sign-in method, each with the
    /// key that sets it: the default, password sign-in, each provider.
    pub fn verification_modes(&self) -> Vec<(String, super::verification::VerificationMode)> {
        let default = self.verification.default_mode(&self.email);
        let mut modes = vec![("verification.mode".to_owned(), default)];
        if self.credentials.enabled {
            modes.push(("credentials.verification".into(), self.credentials.verification.unwrap_or(default)));
        }
        if self.credentials.signup {
            // A signed-up account's address is confirmed with a code whatever the mode.
            modes.push(("credentials.signup".into(), super::verification::VerificationMode::Always));
        }
        for (id, provider) in &self.providers {
            modes.push((format!("providers.{id}.verification"), provider.verification.unwrap_or(default)));
        }
        modes
    }

    /// `credentials.signup`'s own keys. That it needs a store and e-mail is
    /// checked with sign-in verification (it counts as a mode that is on).
    fn signup_problems(&self) -> Vec<String> {
        let creds = &self.credentials;
        let mut problems = Vec::new();
        if !creds.signup {
            return problems;
        }
        if !creds.enabled {
            problems.push("credentials.signup needs password sign-in: set credentials.enabled = true".into());
        }
        if !(8..=128).contains(&creds.min_password_length) {
            problems.push("credentials.min_password_length must be between 8 and 128".into());
        }
        if !(600..=30 * 24 * 3600).contains(&creds.unconfirmed_lifetime.as_secs()) {
            problems.push("credentials.unconfirmed_lifetime must be between 10m and 30d".into());
        }
        problems
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let production = self.mode == Mode::Production;

        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("server.listen `{}` is not an address like 127.0.0.1:4180", self.server.listen));
        }
        if let Some(metrics) = &self.server.metrics_listen {
            match metrics.parse::<SocketAddr>() {
                Err(_) => {
                    problems.push(format!("server.metrics_listen `{metrics}` is not an address like 127.0.0.1:9180"))
                }
                Ok(address) if address.port() != 0 && self.server.listen.parse() == Ok(address) => problems.push(
                    "server.metrics_listen must differ from server.listen (leave it out to serve /metrics on listen)"
                        .into(),
                ),
                Ok(_) => {}
            }
        }
        match Url::parse(&self.server.public_url) {
            Err(e) => problems.push(format!("server.public_url `{}` is not a URL: {e}", self.server.public_url)),
            Ok(url) => {
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    problems.push("server.public_url must be an http(s) URL with a host".into());
                }
                if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
                    problems.push("server.public_url must not carry a query, fragment or user info".into());
                }
                if url.scheme() == "http" && !self.cookie.insecure_http {
                    problems.push(
                        "server.public_url is http but cookies are Secure; use https, or set cookie.insecure_http = true (development only)".into(),
                    );
                }
                if production && url.scheme() != "https" {
                    problems.push("mode = \"production\" requires an https server.public_url".into());
                }
            }
        }
        if production && self.cookie.insecure_http {
            problems.push("cookie.insecure_http is not allowed in production mode".into());
        }
        for origin in &self.server.allowed_origins {
            if !is_origin(origin) {
                problems.push(format!(
                    "server.allowed_origins: `{origin}` is not an origin like https://app.example.com (scheme, host, optional port; no path)"
                ));
            }
        }
        if !(1..=300).contains(&self.server.client_timeout.as_secs()) {
            problems.push("server.client_timeout must be between 1s and 5m".into());
        }

        let name = self.cookie_name();
        if !is_cookie_name(&name) {
            problems.push(format!("cookie.name `{name}` must be 1-64 letters, digits, `-`, `_` or `.`"));
        }
        if name.starts_with("__Host-") && (self.cookie.domain.is_some() || !self.cookie_secure()) {
            problems.push("a `__Host-` cookie must be Secure and have no cookie.domain".into());
        }
        if name.starts_with("__Secure-") && !self.cookie_secure() {
            problems.push("a `__Secure-` cookie must be Secure".into());
        }
        if self.cookie.same_site == SameSite::None && !self.cookie_secure() {
            problems.push("cookie.same_site = \"none\" requires Secure cookies".into());
        }
        if let Some(domain) = &self.cookie.domain {
            if !is_host_pattern(domain) {
                problems.push(format!("cookie.domain `{domain}` is not a host name"));
            }
        }
        if !(512..=4000).contains(&self.cookie.chunk_bytes) {
            problems.push("cookie.chunk_bytes must be between 512 and 4000".into());
        }
        if !(1..=16).contains(&self.cookie.max_chunks) {
            problems.push("cookie.max_chunks must be between 1 and 16".into());
        }

        let idle = self.session.idle_lifetime.as_secs();
        let absolute = self.session.absolute_lifetime.as_secs();
        if idle < 60 {
            problems.push("session.idle_lifetime must be at least 1m".into());
        }
        if absolute < idle {
            problems.push("session.absolute_lifetime must be at least session.idle_lifetime".into());
        }
        if absolute > 400 * 24 * 3600 {
            problems
                .push("session.absolute_lifetime must be at most 400d (browsers cap cookie lifetimes there)".into());
        }
        if !(1024..=64 * 1024).contains(&self.session.max_token_bytes) {
            problems.push("session.max_token_bytes must be between 1024 and 65536".into());
        }
        if self.session.cache_bytes < MIN_CACHE_BYTES {
            problems.push(format!(
                "session.cache_bytes must be at least {MIN_CACHE_BYTES} (1 MiB, a few hundred sessions); \
                 the open-cache cannot be turned off"
            ));
        }
        if self.session.role == SessionRole::Verify && self.session.format != SessionFormat::Nested {
            problems.push(
                "session.role = \"verify\" needs session.format = \"nested\" (a sealed session's key also forges one)"
                    .into(),
            );
        }
        if let Some(url) = &self.session.signin_url {
            if !matches!(Url::parse(url), Ok(u) if matches!(u.scheme(), "https" | "http")) {
                problems.push(format!("session.signin_url `{url}` is not an absolute http(s) URL"));
            }
            if self.session.role != SessionRole::Verify {
                problems.push("session.signin_url is only for session.role = \"verify\"".into());
            }
        }
        let chunk_capacity = self.cookie.chunk_bytes.saturating_mul(self.cookie.max_chunks);
        if self.session.max_token_bytes > chunk_capacity {
            problems.push(format!(
                "session.max_token_bytes ({}) is more than cookie.chunk_bytes x cookie.max_chunks ({chunk_capacity})",
                self.session.max_token_bytes
            ));
        }

        for host in &self.redirects.allowed_hosts {
            if !is_host_pattern(host) {
                problems.push(format!("redirects.allowed_hosts: `{host}` is not a host name or `.domain`"));
            }
        }

        let creds = &self.credentials;
        if creds.enabled {
            if creds.max_failures_per_user == 0 || creds.max_failures_per_client == 0 {
                problems.push("credentials.max_failures_per_* must be at least 1".into());
            }
            if creds.failure_window.as_secs() == 0 {
                problems.push("credentials.failure_window must be at least 1s".into());
            }
            if creds.max_concurrent_verifications > 1024 {
                problems
                    .push("credentials.max_concurrent_verifications must be at most 1024 (0 = one per core)".into());
            }
        }
        problems.extend(self.signup_problems());

        if let Some(source) = &self.keys.jwks {
            if let Err(e) = source.resolve() {
                problems.push(format!("keys.jwks: {e}"));
            }
        }
        let oauth = &self.oauth;
        if !(1..=120).contains(&oauth.timeout.as_secs()) {
            problems.push("oauth.timeout must be between 1s and 120s".into());
        }
        if !(60..=3600).contains(&oauth.flow_lifetime.as_secs()) {
            problems.push("oauth.flow_lifetime must be between 1m and 1h".into());
        }
        if !(1..=20).contains(&oauth.discovery_attempts) {
            problems.push("oauth.discovery_attempts must be between 1 and 20".into());
        }
        let tokens = &self.tokens;
        if tokens.refresh_skew.as_secs() > 600 {
            problems.push("tokens.refresh_skew must be at most 10m".into());
        }
        if tokens.stale_without_expiry.as_secs() < 60 {
            problems.push("tokens.stale_without_expiry must be at least 1m".into());
        }
        if !(1..=600).contains(&tokens.grace_window.as_secs()) {
            problems.push("tokens.grace_window must be between 1s and 10m".into());
        }
        problems.extend(crate::policy::problems(&self.policy));
        problems.extend(self.store.problems());
        problems.extend(self.assertion_problems());
        problems.extend(self.email.problems());
        let store_off = self.store.kind == super::store::StoreKind::None;
        problems.extend(self.verification.problems(&self.email, &self.verification_modes(), store_off));
        problems.extend(self.hooks.problems(production));
        problems.extend(self.ui.problems());
        for (id, provider) in &self.providers {
            problems.extend(provider_problems(id, provider));
        }
        let introspecting: Vec<&str> =
            self.providers.iter().filter(|(_, p)| p.bearer.introspection).map(|(id, _)| id.as_str()).collect();
        if introspecting.len() > 1 {
            // An opaque token says nothing of where it came from: sending it to
            // every provider would hand one provider's tokens to the others.
            problems.push(format!(
                "bearer.introspection is on for {} providers ({}); at most one may introspect opaque tokens",
                introspecting.len(),
                introspecting.join(", ")
            ));
        }
        if !is_log_filter(&self.log.level) {
            problems.push(format!(
                "log.level `{}` is not a level (error, warn, info, debug, trace, off) nor a filter like `info,sealgate=debug`",
                self.log.level
            ));
        }
        problems
    }
}

/// A tracing filter whose every directive names a level: `info`, or
/// `warn,sealgate=debug`. A bare word that is no level (`verbose`) would be
/// read as a target and silence everything else, so it is refused.
fn is_log_filter(filter: &str) -> bool {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let names_levels = filter.split(',').map(str::trim).filter(|d| !d.is_empty()).all(|directive| {
        let level = directive.rsplit_once('=').map_or(directive, |(_, level)| level);
        LEVELS.iter().any(|known| known.eq_ignore_ascii_case(level.trim()))
    });
    !filter.trim().is_empty() && names_levels && tracing_subscriber::EnvFilter::try_new(filter).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_valid() {
        let settings = Settings::from_toml(crate::config::DEFAULT_CONFIG).unwrap();
        assert_eq!(settings.validate().map_err(|e| e.to_string()), Ok(()));
        assert_eq!(settings.server.listen, "127.0.0.1:4180");
        assert_eq!(settings.cookie_name(), "sealgate");
    }

    #[test]
    fn the_open_cache_has_a_floor_and_no_off_switch() {
        let with = |bytes: &str| {
            let settings = Settings::from_toml(&format!("mode = \"development\"\n[session]\ncache_bytes = {bytes}\n"));
            settings.unwrap().problems().into_iter().filter(|p| p.contains("session.cache_bytes")).collect::<Vec<_>>()
        };
        assert_eq!(crate::config::SessionSettings::default().cache_bytes, 64 << 20);
        assert!(with("1048576").is_empty() && with("68719476736").is_empty());
        for bad in ["0", "1048575"] {
            let problems = with(bad);
            assert!(problems.iter().any(|p| p.contains("at least 1048576")), "{bad}: {problems:?}");
        }
        assert!(Settings::from_toml("[session]\ncache_bytes = -1\n").is_err(), "a negative size is a type error");
    }

    #[test]
    fn a_log_level_must_name_levels() {
        for good in ["info", "WARN", "warn,sealgate=debug", "sealgate::session=trace", "off"] {
            assert!(is_log_filter(good), "{good}");
        }
        for bad in ["", "verbose", "info,loud", "sealgate=chatty", "bogus[[", "info,sealgate=[x]"] {
            assert!(!is_log_filter(bad), "{bad}");
        }
    }

    #[test]
    fn an_empty_client_secret_is_refused() {
        let settings = Settings::from_toml(
            "[providers.corp]\nkind = \"oidc\"\nissuer = \"https://login.example.com\"\nclient_id = \"gate\"\nclient_secret = \" \"\n",
        )
        .unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("providers.corp.client_secret is empty"), "{error}");
    }

    #[test]
    fn a_config_without_mode_is_development() {
        let settings = Settings::from_toml("[server]\nlisten = \"127.0.0.1:4180\"\n").unwrap();
        assert_eq!(settings.mode, crate::config::Mode::Development);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let settings = Settings::from_toml(
            r#"
            mode = "production"
            [server]
            listen = "nowhere"
            public_url = "http://gate.example.com"
            [cookie]
            insecure_http = true
            [session]
            idle_lifetime = "2h"
            absolute_lifetime = "1h"
            "#,
        )
        .unwrap();
        let error = settings.validate().unwrap_err();
        let text = error.to_string();
        for expected in
            ["server.listen", "requires an https", "insecure_http is not allowed", "absolute_lifetime must be at least"]
        {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert!(error.problems().len() >= 4);
    }

    #[test]
    fn verification_set_on_for_password_sign_in_needs_email_and_a_store() {
        let text = "mode = \"development\"\n[credentials]\nenabled = true\nverification = \"always\"\n[store]\nkind = \"none\"\n";
        let problems = Settings::from_toml(text).unwrap().problems();
        let about =
            |needle: &str| problems.iter().any(|p| p.contains("credentials.verification") && p.contains(needle));
        assert!(about("email.smtp_url") && about("store.kind"), "{problems:?}");
        let off = Settings::from_toml("mode = \"development\"\n[store]\nkind = \"none\"\n").unwrap().problems();
        assert!(!off.iter().any(|p| p.contains("verification")), "off without e-mail: {off:?}");
    }

    #[test]
    fn store_problems_are_reported_with_the_rest() {
        let problems = Settings::from_toml("mode = \"development\"\n[store]\nkind = \"redis\"\n").unwrap().problems();
        assert!(problems.iter().any(|p| p.contains("store.url is required")), "{problems:?}");
        let fine = Settings::from_toml("mode = \"development\"\n").unwrap().problems();
        assert!(!fine.iter().any(|p| p.contains("store.")), "{fine:?}");
    }

    #[test]
    fn allowed_origins_must_be_bare_origins() {
        let with = |origins: &str| {
            Settings::from_toml(&format!("mode = \"development\"\n[server]\nallowed_origins = [{origins}]\n"))
                .unwrap()
                .problems()
        };
        let good = with(r#""https://app.example.com", "http://localhost:8080""#);
        assert!(!good.iter().any(|p| p.contains("allowed_origins")), "{good:?}");
        for bad in
            ["https://app.example.com/", "https://app.example.com/path", "app.example.com", "null", "ftp://x.example"]
        {
            let problems = with(&format!("\"{bad}\""));
            assert!(
                problems.iter().any(|p| p.contains("server.allowed_origins") && p.contains(bad)),
                "{bad}: {problems:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = Settings::from_toml("mode = \"development\"\n[cookie]\nsecure = false\n").unwrap_err();
        assert!(error.to_string().contains("secure"), "{error}");
    }

    #[test]
    fn secure_cookie_names() {
        let https = Settings::from_toml("mode = \"production\"\n[server]\npublic_url = \"https://gate.example.com\"\n")
            .unwrap();
        assert_eq!(https.cookie_name(), "__Host-sealgate");
        assert!(https.validate().is_ok());
        let domain = Settings::from_toml(
            "mode = \"production\"\n[server]\npublic_url = \"https://gate.example.com\"\n[cookie]\ndomain = \"example.com\"\n",
        )
        .unwrap();
        assert_eq!(domain.cookie_name(), "__Secure-sealgate");
    }

    #[test]
    fn bearer_settings_refuse_symmetric_algorithms_and_ambiguous_introspection() {
        let settings = Settings::from_toml(
            r#"
            mode = "development"
            [cookie]
            insecure_http = true
            [providers.corp]
            kind = "oidc"
            issuer = "https://id.example.com"
            client_id = "gate"
            client_secret = "s"
            bearer = { jwt = true, algorithms = ["RS256", "HS256", "none"], audiences = [""], introspection = true }
            [providers.gh]
            kind = "github"
            client_id = "gate"
            client_secret = "s"
            bearer = { jwt = true, introspection = true, jwks_min_refetch = "2h" }
            "#,
        )
        .unwrap();
        let text = settings.validate().unwrap_err().to_string();
        for expected in [
            "providers.corp.bearer.algorithms: `HS256` is not allowed",
            "providers.corp.bearer.algorithms: `none` is not allowed",
            "providers.corp.bearer.audiences has an empty value",
            "providers.gh.bearer.jwt needs an OpenID Connect provider",
            "providers.gh.bearer.introspection needs bearer.introspection_url",
            "providers.gh.bearer.jwks_min_refetch is longer",
            "bearer.introspection is on for 2 providers (corp, gh)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
    }

    #[test]
    fn revalidate_needs_an_openid_provider_and_at_least_a_minute() {
        let settings = Settings::from_toml(
            r#"
            mode = "development"
            [cookie]
            insecure_http = true
            [providers.corp]
            kind = "oidc"
            issuer = "https://id.example.com"
            client_id = "gate"
            client_secret = "s"
            revalidate = "59s"
            [providers.gh]
            kind = "github"
            client_id = "gate"
            client_secret = "s"
            revalidate = "15m"
            [providers.ok]
            kind = "oidc"
            issuer = "https://id.example.com"
            client_id = "gate"
            client_secret = "s"
            revalidate = "1m"
            "#,
        )
        .unwrap();
        let text = settings.validate().unwrap_err().to_string();
        assert!(text.contains("providers.corp.revalidate must be at least 1 minute"), "{text}");
        assert!(text.contains("providers.gh.revalidate needs an OpenID Connect provider"), "{text}");
        assert!(!text.contains("providers.ok."), "{text}");
        assert!(!text.contains("providers.gh.revalidate must"), "{text}");
        assert_eq!(settings.providers["ok"].revalidate, Some(std::time::Duration::from_secs(60)));
        assert!(
            Settings::from_toml("[providers.x]\nkind = \"oidc\"\nclient_id = \"a\"\nrevalidate = \"soon\"\n").is_err()
        );
    }

    #[test]
    fn bearer_token_kind_switches_need_the_check_they_change() {
        let settings = Settings::from_toml(
            r#"
            mode = "development"
            [cookie]
            insecure_http = true
            [providers.corp]
            kind = "oidc"
            issuer = "https://id.example.com"
            client_id = "gate"
            client_secret = "s"
            bearer = { accept_id_tokens = true, insecure_introspection_without_token_type = true }
            "#,
        )
        .unwrap();
        let text = settings.validate().unwrap_err().to_string();
        assert!(text.contains("providers.corp.bearer.accept_id_tokens needs bearer.jwt"), "{text}");
        assert!(
            text.contains("providers.corp.bearer.insecure_introspection_without_token_type needs bearer.introspection"),
            "{text}"
        );
    }
}
