//! The few HTML pages sealgate serves: sign-in, sign-out confirmation,
//! "your sessions", the front-channel logout iframe, home.
//! Plain HTML, every interpolated value escaped, no scripts.

use super::signin::Targets;
use super::SigninError;
use crate::identity::Identity;
use crate::return_to::ReturnTo;
use crate::store::SessionRecord;
use actix_web::HttpResponse;

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem;color:#222}\
form{display:grid;gap:.6rem}input[type=text],input[type=password]{padding:.5rem;font-size:1rem}\
button{padding:.6rem;font-size:1rem;cursor:pointer}.error{background:#fde8e8;border:1px solid #e99;padding:.6rem}\
label.inline{display:flex;gap:.4rem;align-items:center}\
a.provider{display:block;text-align:center;padding:.6rem;border:1px solid #888;border-radius:4px;color:#222;text-decoration:none}";

pub(super) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        title = escape(title)
    )
}

/// An HTML response with headers that keep it out of frames and caches.
/// Whether the client asks for JSON (`Accept: application/json`) rather
/// than a page: API clients get JSON, browsers HTML.
pub fn accepts_json(req: &actix_web::HttpRequest) -> bool {
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok());
    accept.is_some_and(|accept| accept.contains("application/json"))
}

/// The page a verify-only replica shows instead of a sign-in.
pub fn verify_only(code: &str) -> String {
    layout(
        "Sign-in is not available here",
        &format!(
            "<h1>Sign-in is not available here</h1>\n<p>This server checks sessions but does not sign anyone in. \
             Sign in where your organisation's sign-in page is, then come back.</p>\n<p class=\"error\">{}</p>",
            escape(code)
        ),
    )
}

pub fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        // Not `no-referrer`: under it browsers send `Origin: null` on our own form
        // posts, which the cross-site check must then refuse.
        .insert_header(("Referrer-Policy", "same-origin"))
        .body(body)
}

/// [`html`] for a page an OpenID Provider shows in an iframe (front-channel
/// logout): only `issuer`'s origin may frame it.
pub fn framed_by(body: String, issuer: &str) -> HttpResponse {
    let ancestors = url::Url::parse(issuer)
        .ok()
        .map(|url| url.origin())
        .filter(url::Origin::is_tuple)
        .map_or_else(|| "'none'".to_owned(), |origin| origin.ascii_serialization());
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Security-Policy",
            format!("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {ancestors}; base-uri 'none'"),
        ))
        .insert_header(("Referrer-Policy", "same-origin"))
        .body(body)
}

pub fn signin(error: Option<SigninError>, targets: &Targets, credentials: bool, providers: &[(&str, &str)]) -> String {
    let message = error.map_or(String::new(), |e| {
        let code = match e {
            SigninError::Denied(code) => format!(" <code>{}</code>", escape(code.as_str())),
            _ => String::new(),
        };
        format!("<p class=\"error\" role=\"alert\">{}{code}</p>", escape(e.message()))
    });
    let redirect_to = &targets.success;
    let failure_to = targets.failure.as_ref().map(ReturnTo::as_str);
    let failure_field = failure_to.map_or(String::new(), |failure| {
        format!("<input type=\"hidden\" name=\"failure_to\" value=\"{}\">", escape(failure))
    });
    let form = if credentials {
        format!(
            "<form method=\"post\" action=\"/auth/signin/credentials\">\
<label>Username <input type=\"text\" name=\"username\" autocomplete=\"username\" required autofocus></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
<label class=\"inline\"><input type=\"checkbox\" name=\"remember\" value=\"true\" checked> Remember me</label>\
<input type=\"hidden\" name=\"redirect_to\" value=\"{}\">{failure_field}\
<button type=\"submit\">Sign in</button></form>",
            escape(redirect_to.as_str())
        )
    } else if providers.is_empty() {
        "<p>No sign-in method is configured.</p>".to_owned()
    } else {
        String::new()
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("redirect_to", redirect_to.as_str());
    if let Some(failure) = failure_to {
        query.append_pair("failure_to", failure);
    }
    let query = query.finish();
    let buttons: String = providers
        .iter()
        .map(|(id, name)| {
            format!(
                "<p><a class=\"provider\" href=\"/auth/signin/{}?{}\">Sign in with {}</a></p>",
                escape(id),
                escape(&query),
                escape(name)
            )
        })
        .collect();
    layout("Sign in", &format!("<h1>Sign in</h1>{message}{buttons}{form}"))
}

pub fn signout(redirect_to: &ReturnTo) -> String {
    layout(
        "Sign out",
        &format!(
            "<h1>Sign out?</h1><form method=\"post\" action=\"/auth/signout\">\
<input type=\"hidden\" name=\"redirect_to\" value=\"{}\"><button type=\"submit\">Sign out</button></form>",
            escape(redirect_to.as_str())
        ),
    )
}

/// "Your sessions": one row per session, the current one marked, each with
/// a button that ends it, and one that ends all the others.
pub fn sessions(records: &[SessionRecord], current: &str) -> String {
    let rows: String = records
        .iter()
        .map(|r| {
            let marker = if r.id == current { " <strong>(this browser)</strong>" } else { "" };
            format!(
                "<li>{} via {}, from {}{marker}<form method=\"post\" action=\"/auth/sessions/{}/revoke\">\
<button type=\"submit\">Sign out</button></form></li>",
                escape(r.user_agent.as_deref().unwrap_or("an unknown browser")),
                escape(&r.provider),
                escape(r.client_address.as_deref().unwrap_or("an unknown address")),
                escape(&r.id),
            )
        })
        .collect();
    layout(
        "Your sessions",
        &format!(
            "<h1>Your sessions</h1><ul>{rows}</ul><form method=\"post\" action=\"/auth/sessions/revoke-others\">\
<button type=\"submit\">Sign out everywhere else</button></form>"
        ),
    )
}

/// What the front-channel logout iframe shows.
pub fn signed_out_by_provider(provider: &str) -> String {
    layout("Signed out", &format!("<h1>Signed out</h1><p>Your session from {} has ended here.</p>", escape(provider)))
}

pub fn home(identity: Option<&Identity>) -> String {
    let body = match identity {
        Some(identity) => format!(
            "<h1>sealgate</h1><p>Signed in as <strong>{}</strong> via {}.</p>\
<form method=\"post\" action=\"/auth/signout\"><button type=\"submit\">Sign out</button></form>",
            escape(identity.user.name.as_deref().or(identity.user.username.as_deref()).unwrap_or(&identity.user.id)),
            escape(&identity.provider)
        ),
        None => "<h1>sealgate</h1><p>You are not signed in. <a href=\"/auth/signin\">Sign in</a></p>".to_owned(),
    };
    layout("sealgate", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_issuer_may_frame_the_front_channel_page() {
        let csp = |issuer: &str| {
            let response = framed_by(String::new(), issuer);
            assert!(response.headers().get("x-frame-options").is_none());
            response.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned()
        };
        assert!(csp("https://idp.example/realms/a").contains("frame-ancestors https://idp.example;"));
        assert!(csp("http://127.0.0.1:8080").contains("frame-ancestors http://127.0.0.1:8080;"));
        assert!(csp("not a url").contains("frame-ancestors 'none';"));
    }

    #[test]
    fn escapes_everything_interpolated() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
