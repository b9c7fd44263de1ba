//! `[verification]` and `[email]`: confirming unusual sign-ins with a code
//! e-mailed to the account's address (issue 24). See `crate::verification`
//! and `crate::email`.

use super::SecretSource;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// When a sign-in must be confirmed with an e-mailed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerificationMode {
    /// Every sign-in.
    Always,
    /// A sign-in from a browser that holds no known-device cookie for the
    /// user (and, with `verification.new_network`, from a network the user
    /// has not signed in from lately).
    Unusual,
    /// Never.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationSettings {
    /// The mode for every provider that does not set its own. Unset:
    /// `unusual` when `email.smtp_url` is set, else `off`.
    pub mode: Option<VerificationMode>,
    /// Digits in a code (6 to 10).
    pub code_length: usize,
    /// How long a code is accepted after it was sent.
    #[serde(with = "humantime_serde")]
    pub code_lifetime: Duration,
    /// Codes tried for one sign-in, right or wrong, before it is ended.
    pub max_attempts: u32,
    /// Least time between two e-mails for one sign-in.
    #[serde(with = "humantime_serde")]
    pub resend_interval: Duration,
    /// How long an unverified session lives (from sign-in) before it must start over.
    #[serde(with = "humantime_serde")]
    pub pending_lifetime: Duration,
    /// How long a browser stays a known device after a verified sign-in.
    #[serde(with = "humantime_serde")]
    pub device_lifetime: Duration,
    /// In `unusual` mode, also verify a sign-in from a network (IPv4 /24,
    /// IPv6 /48) outside the user's recent ones, even on a known device.
    pub new_network: bool,
    /// How many recent networks are kept per user.
    pub recent_networks: usize,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self {
            mode: None,
            code_length: 6,
            code_lifetime: Duration::from_secs(15 * 60),
            max_attempts: 5,
            resend_interval: Duration::from_secs(60),
            pending_lifetime: Duration::from_secs(12 * 3600),
            device_lifetime: Duration::from_secs(180 * 24 * 3600),
            new_network: false,
            recent_networks: 10,
        }
    }
}

/// `[email]`: how sealgate sends mail (the sign-in codes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// `smtp://host[:port]` (STARTTLS when the server offers it; port 25 by
    /// default) or `smtps://host[:port]` (TLS from the start; port 465).
    pub smtp_url: Option<String>,
    /// The sender, `sealgate@example.com` or `Sign-in <sealgate@example.com>`.
    pub from: Option<String>,
    pub username: Option<SecretSource>,
    pub password: Option<SecretSource>,
    /// Bound on sending one message (connect, TLS, SMTP dialogue).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub subject: String,
    /// A directory with `signin-code.txt` and `signin-code.html` replacing
    /// the bundled templates.
    pub templates_dir: Option<PathBuf>,
    /// A PEM file of CA certificates trusted for the SMTP server's TLS
    /// certificate, besides the webpki roots (a private CA, or a test's own).
    pub ca_file: Option<PathBuf>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: None,
            username: None,
            password: None,
            timeout: Duration::from_secs(10),
            subject: "Your sign-in code".into(),
            templates_dir: None,
            ca_file: None,
        }
    }
}

impl EmailSettings {
    pub fn is_configured(&self) -> bool {
        self.smtp_url.is_some()
    }

    /// Every problem with these settings, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(smtp_url) = &self.smtp_url {
            match url::Url::parse(smtp_url) {
                Ok(url) if matches!(url.scheme(), "smtp" | "smtps") && url.host_str().is_some() => {
                    if !url.username().is_empty() || url.password().is_some() {
                        problems.push(
                            "email.smtp_url must not carry credentials; use email.username and email.password".into(),
                        );
                    }
                }
                _ => problems.push("email.smtp_url must be smtp://host[:port] or smtps://host[:port]".into()),
            }
            match &self.from {
                None => problems.push("email.from is required when email.smtp_url is set".into()),
                Some(from) if from.parse::<lettre::message::Mailbox>().is_err() => {
                    problems.push(format!("email.from `{from}` is not an address like sealgate@example.com"))
                }
                Some(_) => {}
            }
        }
        if self.username.is_some() != self.password.is_some() {
            problems.push("email.username and email.password go together".into());
        }
        for (key, secret) in [("email.username", &self.username), ("email.password", &self.password)] {
            if let Some(Err(e)) = secret.as_ref().map(SecretSource::resolve) {
                problems.push(format!("{key}: {e}"));
            }
        }
        if let Some(path) = &self.ca_file {
            if let Err(e) = read_ca_file(path) {
                problems.push(e);
            }
        }
        if !(1..=120).contains(&self.timeout.as_secs()) {
            problems.push("email.timeout must be between 1s and 120s".into());
        }
        if self.subject.is_empty() || self.subject.len() > 200 || self.subject.chars().any(char::is_control) {
            problems.push("email.subject must be 1-200 characters without control characters".into());
        }
        problems
    }
}

/// The certificates of `email.ca_file`: a readable PEM file holding at
/// least one certificate.
pub fn read_ca_file(path: &std::path::Path) -> Result<lettre::transport::smtp::client::Certificate, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("email.ca_file `{shown}`: {e}"))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(format!("email.ca_file `{shown}` holds no PEM certificate"));
    }
    lettre::transport::smtp::client::Certificate::from_pem(&pem)
        .map_err(|e| format!("email.ca_file `{shown}` is not a PEM certificate file: {e}"))
}

impl VerificationSettings {
    /// The mode of providers that set none.
    pub fn default_mode(&self, email: &EmailSettings) -> VerificationMode {
        self.mode.unwrap_or(if email.is_configured() { VerificationMode::Unusual } else { VerificationMode::Off })
    }

    /// Every problem with these settings, each naming its key. `modes` are
    /// the modes in force (the default and every provider's), `store_off`
    /// whether `store.kind = "none"`.
    pub fn problems(
        &self,
        email: &EmailSettings,
        modes: &[(String, VerificationMode)],
        store_off: bool,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if !(6..=10).contains(&self.code_length) {
            problems.push("verification.code_length must be between 6 and 10".into());
        }
        if !(60..=3600).contains(&self.code_lifetime.as_secs()) {
            problems.push("verification.code_lifetime must be between 1m and 1h".into());
        }
        if !(1..=10).contains(&self.max_attempts) {
            problems.push("verification.max_attempts must be between 1 and 10".into());
        }
        if !(10..=3600).contains(&self.resend_interval.as_secs()) {
            problems.push("verification.resend_interval must be between 10s and 1h".into());
        }
        let pending = self.pending_lifetime.as_secs();
        if !(600..=7 * 24 * 3600).contains(&pending) || pending < self.code_lifetime.as_secs() {
            problems.push(
                "verification.pending_lifetime must be between 10m and 7d, and at least verification.code_lifetime"
                    .into(),
            );
        }
        if !(3600..=400 * 24 * 3600).contains(&self.device_lifetime.as_secs()) {
            problems.push("verification.device_lifetime must be between 1h and 400d".into());
        }
        if !(1..=100).contains(&self.recent_networks) {
            problems.push("verification.recent_networks must be between 1 and 100".into());
        }
        let on: Vec<&str> =
            modes.iter().filter(|(_, mode)| *mode != VerificationMode::Off).map(|(at, _)| at.as_str()).collect();
        if !on.is_empty() && !email.is_configured() {
            problems.push(format!(
                "sign-in verification is on ({}) but email.smtp_url is not set: the codes could not be sent",
                on.join(", ")
            ));
        }
        if !on.is_empty() && store_off {
            problems.push(format!(
                "sign-in verification is on ({}) but store.kind = \"none\": its codes and attempts need a state store (\"local\" or \"redis\"), or set verification.mode = \"off\"",
                on.join(", ")
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str) -> EmailSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn verification_defaults_to_unusual_with_email_and_off_without() {
        let settings = VerificationSettings::default();
        assert_eq!(settings.default_mode(&EmailSettings::default()), VerificationMode::Off);
        let configured = email("smtp_url = \"smtp://127.0.0.1:2525\"\nfrom = \"gate@example.com\"");
        assert!(configured.problems().is_empty(), "{:?}", configured.problems());
        assert_eq!(settings.default_mode(&configured), VerificationMode::Unusual);
        assert!(settings.problems(&configured, &[], false).is_empty());
    }

    #[test]
    fn verification_on_needs_email_and_a_store() {
        let settings = VerificationSettings::default();
        let modes = [("verification.mode".to_owned(), VerificationMode::Always)];
        let problems = settings.problems(&EmailSettings::default(), &modes, true);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("email.smtp_url"), "{problems:?}");
        assert!(problems[1].contains("store.kind = \"none\""), "{problems:?}");
        let off = [("verification.mode".to_owned(), VerificationMode::Off)];
        assert!(settings.problems(&EmailSettings::default(), &off, true).is_empty());
    }

    #[test]
    fn email_settings_are_checked_whole() {
        let bad = email("smtp_url = \"http://mail\"\nusername = \"u\"\ntimeout = \"0s\"");
        let problems = bad.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        let with_password = email("smtp_url = \"smtp://u:hunter2@mail\"\nfrom = \"not an address\"");
        let problems = with_password.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(!problems.join(" ").contains("hunter2"), "{problems:?}");
        assert!(toml::from_str::<EmailSettings>("smtp = \"x\"").is_err(), "unknown keys are refused");
    }

    #[test]
    fn the_email_password_never_shows() {
        let settings =
            email("smtp_url = \"smtps://mail\"\nfrom = \"a@b.example\"\nusername = \"u\"\npassword = \"hunter2\"");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
