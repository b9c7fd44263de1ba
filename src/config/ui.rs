//! `[ui]`: how sealgate's own pages look (sign-in, home, sign-out, the
//! e-mailed-code page): the app's name, a logo, an accent colour, and a
//! directory of templates that replace the bundled ones.

use serde::Deserialize;
use std::path::PathBuf;

/// The accent colour when `ui.accent_color` is left out (white text on it
/// has a contrast ratio above 4.5:1).
pub const DEFAULT_ACCENT: &str = "#2557d6";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// The app's name, in page titles and headings.
    pub title: String,
    /// A logo above the heading: an `https://` URL or a path on this host (`/logo.svg`).
    pub logo_url: Option<String>,
    /// Buttons and links, as `#rrggbb`.
    pub accent_color: String,
    /// Templates that replace the bundled ones of the same file name.
    pub templates_dir: Option<PathBuf>,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            title: "sealgate".into(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT.into(),
            templates_dir: None,
        }
    }
}

/// Whether `text` is a colour `#rrggbb`.
fn is_hex_colour(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text.chars().skip(1).all(|c| c.is_ascii_hexdigit())
}

impl UiSettings {
    /// The origin a logo at an `https://` URL is fetched from, for the
    /// pages' `img-src`; `None` for a logo on this host or none.
    pub fn logo_origin(&self) -> Option<String> {
        let url = url::Url::parse(self.logo_url.as_deref()?).ok()?;
        Some(url.origin().ascii_serialization()).filter(|_| url.scheme() == "https")
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.title.trim().is_empty() || self.title.chars().count() > 80 || self.title.chars().any(char::is_control) {
            problems.push("ui.title must be 1 to 80 characters, without control characters".into());
        }
        if let Some(logo) = &self.logo_url {
            let local = logo.starts_with('/') && !logo.starts_with("//");
            let remote = url::Url::parse(logo).is_ok_and(|url| url.scheme() == "https" && url.host_str().is_some());
            let plain = !logo.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '\\' | '"' | '\''));
            if !(local || remote) || !plain {
                problems.push(format!("ui.logo_url `{logo}` must be an https:// URL or a path starting with /"));
            }
        }
        if !is_hex_colour(&self.accent_color) {
            problems.push(format!("ui.accent_color `{}` must be a colour like #2557d6", self.accent_color));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(logo_url: Option<&str>, accent_color: &str) -> Vec<String> {
        let ui = UiSettings {
            logo_url: logo_url.map(String::from),
            accent_color: accent_color.into(),
            ..Default::default()
        };
        ui.problems()
    }

    #[test]
    fn the_logo_is_https_or_local_and_the_accent_a_hex_colour() {
        assert!(UiSettings::default().problems().is_empty());
        assert!(problems(Some("https://cdn.example.com/logo.svg"), "#A0b1C2").is_empty());
        assert!(problems(Some("/static/logo.png"), "#000000").is_empty());
        for logo in [
            "http://cdn.example.com/l.png",
            "//evil.example/l.png",
            "javascript:alert(1)",
            "/a\" onerror=\"x",
            "logo.png",
        ] {
            assert_eq!(problems(Some(logo), DEFAULT_ACCENT).len(), 1, "{logo}");
        }
        for accent in ["red", "#fff", "#12345g", "#123456;}body{x:y", ""] {
            assert_eq!(problems(None, accent).len(), 1, "{accent}");
        }
        let remote = UiSettings { logo_url: Some("https://cdn.example.com:8443/l.svg".into()), ..Default::default() };
        assert_eq!(remote.logo_origin().as_deref(), Some("https://cdn.example.com:8443"));
        let local = UiSettings { logo_url: Some("/l.svg".into()), ..Default::default() };
        assert_eq!(local.logo_origin(), None);
    }
}
