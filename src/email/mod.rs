//! Sending mail over SMTP (`[email]`): the sign-in verification code.
//!
//! - [`Mailer`] holds one SMTP transport (lettre, rustls with the webpki
//!   roots, as reqwest has): `smtps://` is TLS from the first byte,
//!   `smtp://` upgrades with STARTTLS when the server offers it. The
//!   server's certificate is checked against those roots and the CAs of
//!   `email.ca_file`. Every send is bounded by `email.timeout`.
//! - [`Templates`] are the message's plain-text and HTML parts, bundled or
//!   from `email.templates_dir`, with `{{code}}`, `{{user}}` and
//!   `{{minutes}}` filled in (HTML-escaped in the HTML part) by the one
//!   template engine ([`crate::templates`]).
//! - [`SigninCode`] is the code itself: redacted in `Debug`, never logged.

use crate::config::verification::{read_ca_file, EmailSettings};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::time::Duration;

const DEFAULT_TEXT: &str = include_str!("templates/signin-code.txt");
const DEFAULT_HTML: &str = include_str!("templates/signin-code.html");
/// The template files `email.templates_dir` may hold.
pub const TEXT_TEMPLATE: &str = "signin-code.txt";
pub const HTML_TEMPLATE: &str = "signin-code.html";

/// A sign-in code: digits, shown only in the message that carries it.
#[derive(Clone)]
pub struct SigninCode(SecretString);

impl SigninCode {
    pub fn new(code: String) -> SigninCode {
        SigninCode(SecretString::from(code))
    }

    /// The code, for the one message that carries it and the one hash that stores it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SigninCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigninCode([redacted])")
    }
}

/// Why a message was not sent. Its text names neither the code nor a password.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("the recipient address `{0}` is not usable")]
    Recipient(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the SMTP server refused or failed: {0}")]
    Smtp(String),
    #[error("the SMTP server did not finish within {0:?}")]
    Timeout(Duration),
}

/// The message's two parts (`signin-code.txt`, `signin-code.html`), on the
/// one template engine ([`crate::templates`]).
#[derive(Debug, Clone)]
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        // The bundled templates are tested to parse.
        #[allow(clippy::expect_used)]
        Templates::load(None).expect("the bundled e-mail templates parse")
    }
}

impl Templates {
    /// The bundled templates, with any of them `dir` holds in their place.
    pub fn load(dir: Option<&Path>) -> Result<Templates, String> {
        let bundled = [(TEXT_TEMPLATE, DEFAULT_TEXT), (HTML_TEMPLATE, DEFAULT_HTML)];
        Ok(Templates { env: crate::templates::load(&bundled, dir, "email.templates_dir")? })
    }

    fn fill(&self, name: &str, values: &minijinja::Value) -> String {
        let rendered = self.env.get_template(name).and_then(|template| template.render(values));
        rendered.unwrap_or_else(|error| {
            tracing::warn!(template = name, %error, "an e-mail template did not render");
            String::new()
        })
    }

    /// The plain-text and HTML bodies for `code`, sent to `user` and valid for `minutes`.
    pub fn render(&self, code: &SigninCode, user: &str, minutes: u64) -> (String, String) {
        let values = minijinja::context! { code => code.expose_secret(), user => user, minutes => minutes };
        (self.fill(TEXT_TEMPLATE, &values), self.fill(HTML_TEMPLATE, &values))
    }
}

/// The SMTP transport and what every message shares.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    subject: String,
    timeout: Duration,
    templates: Templates,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.email.to_string()).field("timeout", &self.timeout).finish()
    }
}

impl Mailer {
    /// The mailer `settings` describe, or `None` without `email.smtp_url`.
    /// Connects to nothing yet.
    pub fn from_settings(settings: &EmailSettings) -> Result<Option<Mailer>, String> {
        let Some(smtp_url) = &settings.smtp_url else { return Ok(None) };
        let url = url::Url::parse(smtp_url).map_err(|e| format!("email.smtp_url: {e}"))?;
        let host = url.host_str().ok_or("email.smtp_url has no host")?.trim_matches(['[', ']']).to_owned();
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(path) = &settings.ca_file {
            tls = tls.add_root_certificate(read_ca_file(path)?);
        }
        let tls = tls.build().map_err(|e| format!("email.smtp_url: TLS: {e}"))?;
        let builder = match url.scheme() {
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(url.port().unwrap_or(465))
                .tls(Tls::Wrapper(tls)),
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(url.port().unwrap_or(25))
                .tls(Tls::Opportunistic(tls)),
            _ => return Err("email.smtp_url must be smtp:// or smtps://".into()),
        };
        let mut builder = builder.timeout(Some(settings.timeout));
        if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
            let username = username.resolve().map_err(|e| format!("email.username: {e}"))?;
            let password = password.resolve().map_err(|e| format!("email.password: {e}"))?;
            builder = builder.credentials(SmtpCredentials::new(
                username.expose_secret().to_owned(),
                password.expose_secret().to_owned(),
            ));
        }
        let from = settings.from.as_deref().ok_or("email.from is required")?;
        let from = from.parse::<Mailbox>().map_err(|e| format!("email.from: {e}"))?;
        let templates = Templates::load(settings.templates_dir.as_deref())?;
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            subject: settings.subject.clone(),
            timeout: settings.timeout,
            templates,
        }))
    }

    /// Send `code` to `to`, greeting `user`, within `email.timeout`.
    #[tracing::instrument(skip_all)]
    pub async fn send_code(&self, to: &str, user: &str, code: &SigninCode, minutes: u64) -> Result<(), EmailError> {
        let to = to.parse::<Mailbox>().map_err(|_| EmailError::Recipient(to.to_owned()))?;
        let (text, html) = self.templates.render(code, user, minutes);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(self.subject.clone())
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
            )
            .map_err(|e| EmailError::Build(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(EmailError::Smtp(e.to_string())),
            Err(_) => Err(EmailError::Timeout(self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_never_shows_in_debug() {
        let code = SigninCode::new("402913".into());
        assert_eq!(format!("{code:?}"), "SigninCode([redacted])");
        assert!(!format!("{:?}", Some(&code)).contains("402913"));
    }

    #[test]
    fn templates_fill_their_placeholders_and_escape_only_the_html() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TEXT_TEMPLATE), "Hi {{user}}, {{ code }} for {{minutes}} min {{unknown}}")
            .unwrap();
        std::fs::write(dir.path().join(HTML_TEMPLATE), "<p>{{user}}</p><b>{{code}}</b>").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let (text, html) = templates.render(&SigninCode::new("123456".into()), "<Ann & Bo>", 15);
        assert_eq!(text, "Hi <Ann & Bo>, 123456 for 15 min ");
        assert_eq!(html, "<p>&lt;Ann &amp; Bo&gt;</p><b>123456</b>");
        let (text, html) = Templates::default().render(&SigninCode::new("987654".into()), "alice", 15);
        assert!(text.contains("987654") && text.contains("15 minutes"), "{text}");
        assert!(html.contains("987654") && html.contains("alice"), "{html}");
    }

    #[test]
    fn a_templates_dir_replaces_the_files_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TEXT_TEMPLATE), "code: {{code}}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(templates.render(&SigninCode::new("111222".into()), "a", 1).0, "code: 111222");
        assert!(templates.render(&SigninCode::new("111222".into()), "a", 1).1.contains("<p"), "the bundled HTML stays");
        std::fs::write(dir.path().join(HTML_TEMPLATE), "{{ code").unwrap();
        assert!(Templates::load(Some(dir.path())).unwrap_err().contains(HTML_TEMPLATE));
        assert!(Templates::load(Some(&dir.path().join("missing"))).is_err());
    }
}
