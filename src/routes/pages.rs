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
    /// Whether people may sign up (`credentials.signup`): a link to `/auth/signup`.
    pub signup: bool,
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
    let signup_url = page.signup.then(|| with_redirect("/auth/signup", redirect_to));
    let values = context! {
        error => page.error,
        notice,
        providers,
        credentials => page.credentials,
        signup_url,
        username => username.unwrap_or_default(),
        redirect_to => redirect_to.as_str(),
        failure_to,
    };
    Flash::shown(req, pages.page(page.status, "signin.html", values))
}

/// `path?redirect_to=…`, or `path` alone for the default target.
fn with_redirect(path: &str, redirect_to: &ReturnTo) -> String {
    if redirect_to.as_str() == "/" {
        return path.to_owned();
    }
    let query: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect_to", redirect_to.as_str()).finish();
    format!("{path}?{query}")
}

/// What the sign-up form shows: the refusal, and what was typed (never the password).
pub struct Signup<'a> {
    pub status: StatusCode,
    pub error: Option<Shown>,
    pub username: &'a str,
    pub email: &'a str,
    pub min_password: usize,
    pub redirect_to: &'a ReturnTo,
}

/// `GET /auth/signup`: the sign-up form.
pub fn signup(pages: &Pages, page: Signup<'_>) -> HttpResponse {
    let values = context! {
        error => page.error,
        username => page.username,
        email => page.email,
        min_password => page.min_password,
        redirect_to => page.redirect_to.as_str(),
        signin_url => with_redirect("/auth/signin", page.redirect_to),
    };
    pages.page(page.status, "signup.html", values)
}

/// `GET /auth/password`: the form to change one's password.
pub fn password(
    pages: &Pages,
    status: StatusCode,
    username: &str,
    min_password: usize,
    notice: Option<&str>,
    error: Option<Shown>,
) -> HttpResponse {
    let values = context! { username, min_password, notice, error };
    pages.page(status, "password.html", values)
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
            signup: true,
            providers: &[("corp", "<Corp & \"Co\">")],
            username: Some("\"><script>alert(1)</script>"),
        };
        let html = body(signin(&pages, &req, page));
        assert!(html.contains("<a href=\"/auth/signup\">Create an account</a>"), "{html}");
        assert!(html.contains("Sign in with &lt;Corp &amp; &quot;Co&quot;&gt;"), "{html}");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""), "{html}");
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<script") && !html.contains("<b>"), "{html}");
    }

    #[test]
    fn the_sign_up_form_keeps_what_was_typed_escaped_and_links_back_with_the_target() {
        let pages = Pages::load(&Default::default()).unwrap();
        let policy = crate::return_to::RedirectPolicy::new(&url::Url::parse("http://gate.test").unwrap(), &[]);
        let redirect_to = ReturnTo::parse(Some("/app?x=1"), &policy);
        let page = Signup {
            status: StatusCode::CONFLICT,
            error: Some(Shown::new("username_taken", "That username is taken.")),
            username: "<alice>",
            email: "a\"@example.com",
            min_password: 12,
            redirect_to: &redirect_to,
        };
        let response = signup(&pages, page);
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let html = body(response);
        assert!(html.contains("value=\"&lt;alice&gt;\""), "{html}");
        assert!(html.contains("value=\"a&quot;@example.com\""), "{html}");
        assert!(html.contains("minlength=\"12\"") && html.contains("At least 12 characters"), "{html}");
        assert!(html.contains("data-error=\"username_taken\""), "{html}");
        assert!(html.contains("href=\"/auth/signin?redirect_to=%2Fapp%3Fx%3D1\""), "{html}");
        assert!(!html.contains("name=\"password\" value"), "a password is never echoed");
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
            signup: false,
            providers: &[],
            username: None,
        };
        let plain = signin(&pages, &TestRequest::default().to_http_request(), page());
        assert!(plain.headers().get("set-cookie").is_none(), "no notice, nothing to remove");
        let html = body(plain);
        assert!(!html.contains("/auth/signup"), "sign-up is off: no link");
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
