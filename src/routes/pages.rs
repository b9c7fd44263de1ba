//! What each of sealgate's pages shows: sign-in, home, sign-out
//! confirmation, the e-mailed-code form, "your sessions", the
//! front-channel logout iframe, and the one-message pages. Each builds
//! the values of its template (the README lists them per page); the
//! engine (`web::pages`) escapes every one of them.

use super::signin::Targets;
use super::SigninError;
use crate::identity::Identity;
use crate::return_to::ReturnTo;
use crate::store::SessionRecord;
use crate::web::pages::Pages;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use minijinja::context;

pub use crate::web::pages::Flash;

/// The fixed words of the signed-out notice.
const SIGNED_OUT: &str = "You have been signed out.";

/// Whether the client asks for JSON (`Accept: application/json`) rather
/// than a page: API clients get JSON, browsers HTML.
pub fn accepts_json(req: &HttpRequest) -> bool {
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok());
    accept.is_some_and(|accept| accept.contains("application/json"))
}

/// An error as a page shows it: its code, its fixed words, and the code
/// shown to the person (a sign-in hook's own code).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shown {
    code: String,
    message: String,
    shown_code: Option<String>,
}

impl Shown {
    pub fn new(code: &str, message: impl Into<String>) -> Shown {
        Shown { code: code.to_owned(), message: message.into(), shown_code: None }
    }
}

impl From<SigninError> for Shown {
    fn from(error: SigninError) -> Shown {
        let shown_code = matches!(error, SigninError::Denied(_)).then(|| error.code().to_owned());
        Shown { code: error.code().to_owned(), message: error.message().to_owned(), shown_code }
    }
}

/// `secs` in words: "40 seconds", "15 minutes".
pub fn wait_words(secs: u64) -> String {
    match secs {
        0..=1 => "a second".to_owned(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "a minute".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// What the sign-in page shows.
pub struct Signin<'a> {
    pub status: StatusCode,
    pub error: Option<Shown>,
    pub targets: &'a Targets,
    pub credentials: bool,
    /// Each provider's id and button name.
    pub providers: &'a [(&'a str, &'a str)],
    /// The username to keep in the form (a failed or refused attempt's).
    pub username: Option<&'a str>,
}

/// The sign-in page, with the notice `req` carries (shown once).
pub fn signin(pages: &Pages, req: &HttpRequest, page: Signin<'_>) -> HttpResponse {
    let flash = Flash::of(req);
    let username = match &flash {
        Some(Flash::Username(name)) if page.username.is_none() => Some(name.as_str()),
        _ => page.username,
    };
    let notice = (flash == Some(Flash::SignedOut)).then_some(SIGNED_OUT);
    let redirect_to = &page.targets.success;
    let failure_to = page.targets.failure.as_ref().map(ReturnTo::as_str);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("redirect_to", redirect_to.as_str());
    if let Some(failure) = failure_to {
        query.append_pair("failure_to", failure);
    }
    let query = query.finish();
    let providers: Vec<_> = page
        .providers
        .iter()
        .map(|(id, name)| {
            let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            context! { url => format!("/auth/signin/{id}?{query}"), name => name }
        })
        .collect();
    let values = context! {
        error => page.error,
        notice,
        providers,
        credentials => page.credentials,
        username => username.unwrap_or_default(),
        redirect_to => redirect_to.as_str(),
        failure_to,
    };
    Flash::shown(req, pages.page(page.status, "signin.html", values))
}

/// `GET /`: who is signed in, or a link to sign in; the notice `req` carries.
pub fn home(pages: &Pages, req: &HttpRequest, identity: Option<&Identity>) -> HttpResponse {
    let notice = (Flash::of(req) == Some(Flash::SignedOut)).then_some(SIGNED_OUT);
    let user = identity.map(|identity| {
        let user = &identity.user;
        context! {
            name => user.name.as_deref().or(user.username.as_deref()).unwrap_or(&user.id),
            id => &user.id,
            email => user.email.as_deref(),
            provider => &identity.provider,
        }
    });
    Flash::shown(req, pages.page(StatusCode::OK, "home.html", context! { notice, user }))
}

/// The sign-out confirmation: sign out and go to `redirect_to`, or cancel.
pub fn signout(pages: &Pages, redirect_to: &ReturnTo) -> HttpResponse {
    let values = context! { redirect_to => redirect_to.as_str(), cancel_to => redirect_to.as_str() };
    pages.page(StatusCode::OK, "signout.html", values)
}

/// The form for the e-mailed code.
pub fn verify_signin(
    pages: &Pages,
    status: StatusCode,
    sent_to: &str,
    digits: usize,
    note: Option<&str>,
    redirect_to: &ReturnTo,
) -> HttpResponse {
    let values = context! { sent_to, digits, note, redirect_to => redirect_to.as_str() };
    pages.page(status, "verify-signin.html", values)
}

/// A page with one message: a heading, a sentence, an error and a link, each optional.
pub fn message(
    pages: &Pages,
    status: StatusCode,
    heading: &str,
    text: Option<&str>,
    error: Option<Shown>,
    link: Option<(&str, &str)>,
) -> HttpResponse {
    let link = link.map(|(url, text)| context! { url, text });
    pages.page(status, "message.html", context! { heading, text, error, link })
}

/// The page a verify-only replica shows instead of a sign-in.
pub fn verify_only(pages: &Pages, code: &str) -> HttpResponse {
    let text = "This server checks sessions but does not sign anyone in. \
                Sign in where your organisation's sign-in page is, then come back.";
    let error = Shown::new(code, "Sign-in is not available on this server.");
    message(pages, StatusCode::FORBIDDEN, "Sign-in is not available here", Some(text), Some(error), None)
}

/// "Your sessions": one row per session, the current one marked, each with
/// a button that ends it, and one that ends all the others.
pub fn sessions(pages: &Pages, records: &[SessionRecord], current: &str) -> HttpResponse {
    let sessions: Vec<_> = records
        .iter()
        .map(|r| {
            context! {
                id => &r.id,
                browser => r.user_agent.as_deref().unwrap_or("an unknown browser"),
                provider => &r.provider,
                address => r.client_address.as_deref().unwrap_or("an unknown address"),
                current => r.id == current,
            }
        })
        .collect();
    pages.page(StatusCode::OK, "sessions.html", context! { sessions })
}

/// What the front-channel logout iframe shows; only `issuer` may frame it.
pub fn signed_out_by_provider(pages: &Pages, provider: &str, issuer: &str) -> HttpResponse {
    let text = format!("Your session from {provider} has ended here.");
    pages.framed_by("message.html", context! { heading => "Signed out", text }, issuer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::test::TestRequest;

    fn body(response: HttpResponse) -> String {
        String::from_utf8(response.into_body().try_into_bytes().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn everything_interpolated_is_escaped() {
        let pages = Pages::load(&Default::default()).unwrap();
        let targets = Targets::default();
        let req = TestRequest::default().to_http_request();
        let page = Signin {
            status: StatusCode::OK,
            error: Some(Shown::new("x", "<b>bad</b>")),
            targets: &targets,
            credentials: true,
            providers: &[("corp", "<Corp & \"Co\">")],
            username: Some("\"><script>alert(1)</script>"),
        };
        let html = body(signin(&pages, &req, page));
        assert!(html.contains("Sign in with &lt;Corp &amp; &quot;Co&quot;&gt;"), "{html}");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""), "{html}");
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<script") && !html.contains("<b>"), "{html}");
    }

    #[test]
    fn remember_me_starts_unticked_and_the_signed_out_notice_shows_once() {
        let pages = Pages::load(&Default::default()).unwrap();
        let targets = Targets::default();
        let page = || Signin {
            status: StatusCode::OK,
            error: None,
            targets: &targets,
            credentials: true,
            providers: &[],
            username: None,
        };
        let plain = signin(&pages, &TestRequest::default().to_http_request(), page());
        assert!(plain.headers().get("set-cookie").is_none(), "no notice, nothing to remove");
        let html = body(plain);
        assert!(html.contains("name=\"remember\" value=\"true\">"), "{html}");
        assert!(!html.contains("checked") && !html.contains(SIGNED_OUT), "{html}");

        let req = TestRequest::default().cookie(Flash::SignedOut.cookie(false)).to_http_request();
        let flashed = signin(&pages, &req, page());
        let removal = flashed.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
        assert!(removal.starts_with("sealgate_flash=;") && removal.contains("Max-Age=0"), "{removal}");
        assert!(body(flashed).contains(SIGNED_OUT));
    }

    #[test]
    fn a_wait_reads_as_words() {
        assert_eq!(wait_words(1), "a second");
        assert_eq!(wait_words(42), "42 seconds");
        assert_eq!(wait_words(60), "a minute");
        assert_eq!(wait_words(900), "15 minutes");
        assert_eq!(wait_words(901), "16 minutes");
    }
}
