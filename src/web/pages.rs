//! The page engine: sealgate's page templates (bundled, or replaced by
//! files in `ui.templates_dir`), its one stylesheet (`/auth/style.css`,
//! the accent colour filled in), the headers every page carries (a CSP
//! with no inline script or style), and the one-time notice cookie
//! ([`Flash`]). What each page shows is `routes/pages.rs`.

use crate::config::ui::UiSettings;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use minijinja::Value;
use serde::Serialize;
use sha2::Digest;

/// The page templates, by file name: `ui.templates_dir` may hold any of them.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("signin.html", include_str!("templates/signin.html")),
    ("home.html", include_str!("templates/home.html")),
    ("signout.html", include_str!("templates/signout.html")),
    ("verify-signin.html", include_str!("templates/verify-signin.html")),
    ("message.html", include_str!("templates/message.html")),
    ("sessions.html", include_str!("templates/sessions.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("password.html", include_str!("templates/password.html")),
    ("style.css", include_str!("templates/style.css")),
];

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/auth/style.css";

/// What every page knows about the app (`app.*` in the templates).
#[derive(Debug, Clone, Serialize)]
struct App {
    title: String,
    logo_url: Option<String>,
    stylesheet: String,
}

/// The loaded templates and what every page shares.
#[derive(Debug)]
pub struct Pages {
    env: minijinja::Environment<'static>,
    app: App,
    css: String,
    /// `img-src` of the CSP: this host, and the logo's origin.
    img_src: String,
}

impl Pages {
    /// The templates `ui` names, read and parsed once; the stylesheet rendered.
    pub fn load(ui: &UiSettings) -> Result<Pages, String> {
        let env = crate::templates::load(TEMPLATES, ui.templates_dir.as_deref(), "ui.templates_dir")?;
        // The accent is validated as `#rrggbb` with the config, so it cannot end the rule.
        let css = env
            .get_template("style.css")
            .and_then(|t| t.render(minijinja::context! { accent => &ui.accent_color }))
            .map_err(|e| format!("ui.templates_dir: style.css: {e}"))?;
        let digest = sha2::Sha256::digest(css.as_bytes());
        let version = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.get(..9).unwrap_or_default());
        let img_src = match ui.logo_origin() {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_owned(),
        };
        let app = App {
            title: ui.title.clone(),
            logo_url: ui.logo_url.clone(),
            stylesheet: format!("{STYLESHEET_PATH}?v={version}"),
        };
        let pages = Pages { env, app, css, img_src };
        // Every page renders with no values at all, or the start fails here, naming it.
        for (name, _) in TEMPLATES.iter().filter(|(name, _)| name.ends_with(".html")) {
            pages.render(name, Value::UNDEFINED).map_err(|e| format!("ui.templates_dir: {name}: {e}"))?;
        }
        Ok(pages)
    }

    fn render(&self, name: &str, values: Value) -> Result<String, minijinja::Error> {
        let values = minijinja::context! { app => &self.app, ..values };
        self.env.get_template(name)?.render(values)
    }

    fn csp(&self, frame_ancestors: &str) -> String {
        format!(
            "default-src 'none'; style-src 'self'; img-src {}; form-action 'self'; frame-ancestors {frame_ancestors}; base-uri 'none'",
            self.img_src
        )
    }

    /// Page `name` with `values`, as `status`, with headers that keep it
    /// out of frames and caches. A template that fails to render is a 500.
    pub fn page(&self, status: StatusCode, name: &str, values: Value) -> HttpResponse {
        let body = match self.render(name, values) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(template = name, %error, "a page template did not render");
                return HttpResponse::InternalServerError().finish();
            }
        };
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Content-Security-Policy", self.csp("'none'")))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            // Not `no-referrer`: under it browsers send `Origin: null` on our own form
            // posts, which the cross-site check must then refuse.
            .insert_header(("Referrer-Policy", "same-origin"))
            .body(body)
    }

    /// [`Pages::page`] for a page an OpenID Provider shows in an iframe
    /// (front-channel logout): only `issuer`'s origin may frame it.
    pub fn framed_by(&self, name: &str, values: Value, issuer: &str) -> HttpResponse {
        let ancestors = url::Url::parse(issuer)
            .ok()
            .map(|url| url.origin())
            .filter(url::Origin::is_tuple)
            .map_or_else(|| "'none'".to_owned(), |origin| origin.ascii_serialization());
        let mut response = self.page(StatusCode::OK, name, values);
        let headers = response.headers_mut();
        headers.remove("x-frame-options");
        if let Ok(csp) = self.csp(&ancestors).parse() {
            headers.insert(actix_web::http::header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }

    /// `GET /auth/style.css`: the one stylesheet (its URL carries its hash).
    pub fn stylesheet(&self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header(("Cache-Control", "public, max-age=86400"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(self.css.clone())
    }
}

/// A notice for the next page, shown once: a short-lived cookie the page
/// that shows it removes. It holds no text to show, only which fixed
/// notice, or the username to keep in the sign-in form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    /// "You have been signed out."
    SignedOut,
    /// A sign-in failed: the form keeps this username.
    Username(String),
}

const FLASH_COOKIE: &str = "sealgate_flash";
/// Longest flash cookie value read.
const MAX_FLASH: usize = 400;

impl Flash {
    /// The cookie that carries this notice to the next page.
    pub fn cookie(&self, secure: bool) -> Cookie<'static> {
        let value = match self {
            Flash::SignedOut => "signed_out".to_owned(),
            Flash::Username(name) => format!("u.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)),
        };
        Cookie::build(FLASH_COOKIE, value)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::minutes(5))
            .finish()
    }

    /// The notice `req` carries, if any (a malformed one is none).
    pub fn of(req: &HttpRequest) -> Option<Flash> {
        let cookie = req.cookie(FLASH_COOKIE)?;
        let value = cookie.value();
        if value.len() > MAX_FLASH {
            return None;
        }
        if value == "signed_out" {
            return Some(Flash::SignedOut);
        }
        let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.strip_prefix("u.")?).ok()?;
        String::from_utf8(name).ok().filter(|name| !name.chars().any(char::is_control)).map(Flash::Username)
    }

    /// `response`, removing the notice `req` carried so it shows once.
    pub fn shown(req: &HttpRequest, mut response: HttpResponse) -> HttpResponse {
        if req.cookie(FLASH_COOKIE).is_some() {
            let mut removal = Cookie::build(FLASH_COOKIE, "").path("/").finish();
            removal.make_removal();
            let _ = response.add_cookie(&removal);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> Pages {
        Pages::load(&UiSettings::default()).unwrap()
    }

    fn header(response: &HttpResponse, name: &str) -> Option<String> {
        response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn only_the_issuer_may_frame_the_front_channel_page() {
        let csp = |issuer: &str| {
            let response = pages().framed_by("message.html", Value::UNDEFINED, issuer);
            assert!(response.headers().get("x-frame-options").is_none());
            header(&response, "content-security-policy").unwrap()
        };
        assert!(csp("https://idp.example/realms/a").contains("frame-ancestors https://idp.example;"));
        assert!(csp("http://127.0.0.1:8080").contains("frame-ancestors http://127.0.0.1:8080;"));
        assert!(csp("not a url").contains("frame-ancestors 'none';"));
    }

    #[test]
    fn pages_allow_no_inline_style_or_script_and_only_the_logos_origin_for_images() {
        let ui = UiSettings { logo_url: Some("https://cdn.example.com/logo.svg".into()), ..Default::default() };
        let page = Pages::load(&ui).unwrap().page(StatusCode::OK, "message.html", Value::UNDEFINED);
        let csp = header(&page, "content-security-policy").unwrap();
        assert!(csp.contains("style-src 'self';") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("img-src 'self' https://cdn.example.com;"), "{csp}");
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
    }

    #[test]
    fn the_stylesheet_carries_the_accent_and_its_url_changes_with_it() {
        let red = Pages::load(&UiSettings { accent_color: "#aa0000".into(), ..Default::default() }).unwrap();
        assert!(red.css.contains("--accent:#aa0000"));
        assert_ne!(red.app.stylesheet, pages().app.stylesheet);
        assert!(red.app.stylesheet.starts_with("/auth/style.css?v="));
    }

    #[test]
    fn a_template_that_does_not_render_is_a_start_up_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("home.html"), "{% extends \"nowhere.html\" %}").unwrap();
        let ui = UiSettings { templates_dir: Some(dir.path().into()), ..Default::default() };
        let error = Pages::load(&ui).unwrap_err();
        assert!(error.contains("home.html"), "{error}");
    }

    #[test]
    fn a_flash_round_trips_and_a_malformed_one_is_none() {
        use actix_web::test::TestRequest;
        for flash in [Flash::SignedOut, Flash::Username("ann <o'hara>".into())] {
            let req = TestRequest::default().cookie(flash.cookie(true)).to_http_request();
            assert_eq!(Flash::of(&req), Some(flash));
        }
        for value in ["nonsense", "u.!!!", "u.AA", &"u.".repeat(300)] {
            let req = TestRequest::default().cookie(Cookie::new(FLASH_COOKIE, value.to_owned())).to_http_request();
            assert_eq!(Flash::of(&req), None, "{value}");
        }
    }
}
