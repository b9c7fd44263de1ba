//! The middleware every request passes: it identifies a request whose
//! credential may need the network (a provider's token) before the handler
//! runs, and writes queued session-cookie changes on the response.

use super::extract::{credentials, CookieUpdate, RequestIdentity};
use super::wrapper::Wrapper;
use crate::credentials::Credentials;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::{web, HttpMessage};
use futures_util::future::LocalBoxFuture;
use std::rc::Rc;

/// Identifies requests that need I/O to be identified, and writes session
/// cookie changes: `.wrap(Middleware(Identify))`.
#[derive(Clone, Copy)]
pub struct Identify;

/// Write a queued session cookie change on the response.
fn write_cookie_update<B>(mut res: ServiceResponse<B>) -> Result<ServiceResponse<B>, actix_web::Error> {
    let update = res.request().extensions_mut().get_mut::<RequestIdentity>().and_then(|loaded| loaded.update.take());
    let Some(update) = update else {
        return Ok(res);
    };
    let request = res.request().clone();
    let Some(credentials) = credentials(&request) else {
        return Ok(res);
    };
    let cookies = match update {
        CookieUpdate::Clear => credentials.cookies.clear(),
        CookieUpdate::ClearPresent => credentials.cookies.clear_present(&request),
        CookieUpdate::Set { value, max_age } => match credentials.cookies.write(&request, &value, max_age) {
            Ok(cookies) => cookies,
            Err(_) => {
                tracing::error!(bytes = value.len(), "session is too large for the configured cookie chunks");
                return Ok(res);
            }
        },
    };
    let response = res.response_mut();
    for cookie in cookies {
        response.add_cookie(&cookie)?;
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

impl<S, B> Wrapper<S> for Identify
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>;

    fn call(&self, service: &Rc<S>, req: ServiceRequest) -> Self::Future {
        // A provider's token may need the network (JWKS, introspection):
        // identify it here, asynchronously, and leave the outcome where the
        // extractors look, before the handler runs.
        let needs_io = req.app_data::<web::Data<Credentials>>().filter(|c| c.needs_io(req.request())).cloned();
        if let Some(credentials) = needs_io {
            let service = Rc::clone(service);
            return Box::pin(async move {
                let outcome = credentials.identify(req.request()).await;
                req.extensions_mut().insert(RequestIdentity::new(outcome));
                write_cookie_update(service.call(req).await?)
            });
        }
        let fut = service.call(req);
        Box::pin(async move { write_cookie_update(fut.await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::{Settings, DEFAULT_CONFIG};
    use crate::credentials::{ApiTokens, ProviderBearer};
    use crate::crypto::keys::{JwkSet, KeyAlg};
    use crate::identity::User;
    use crate::session::cookie::CookieSpec;
    use crate::session::{Lifetimes, SessionCodec};
    use crate::web::{load, MaybeIdentity, Middleware, SignedIn};
    use actix_web::http::header::{COOKIE, SET_COOKIE};
    use actix_web::{test, App, HttpRequest, HttpResponse};
    use std::sync::Arc;

    /// A handler that reaches the identity three ways and checks that all
    /// three see the one opening.
    async fn three_ways(req: HttpRequest, maybe: MaybeIdentity, signed_in: SignedIn) -> HttpResponse {
        // A renewal makes a new session on each opening: one opening, one `Arc`.
        let again = load(&req);
        let same = [again.identified(), maybe.get()]
            .into_iter()
            .all(|shared| shared.is_some_and(|shared| Arc::ptr_eq(shared, &signed_in.0)));
        let user = signed_in.0.identity.user.id.clone();
        HttpResponse::Ok().body(format!("{same} {user}"))
    }

    /// Credentials on `clock` (idle lifetime 100 s), and a token for user
    /// `ivy` sealed by them.
    fn credentials_and_token(clock: &ManualClock) -> (web::Data<Credentials>, String) {
        let settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
        let keys = JwkSet::generate(KeyAlg::Dir);
        let codec =
            SessionCodec::new(&keys, Arc::new(clock.clone()), Lifetimes { idle: 100, absolute: 1000 }, 8192).unwrap();
        let api_tokens = ApiTokens::new(&keys, Arc::new(clock.clone()), None, 3600).unwrap();
        let token = codec.seal(&codec.start(User::new("ivy"), "credentials", true, None).unwrap()).unwrap();
        let provider_tokens = ProviderBearer::none(Arc::new(clock.clone()));
        let credentials = Credentials::new(codec, CookieSpec::from_settings(&settings), api_tokens, provider_tokens);
        (web::Data::new(credentials), token)
    }

    #[actix_web::test]
    async fn the_session_is_opened_once_per_request_and_renewed_once() {
        let clock = ManualClock::at(1_800_000_000);
        let (credentials, token) = credentials_and_token(&clock);
        let app = test::init_service(
            App::new().wrap(Middleware(Identify)).app_data(credentials).route("/", web::get().to(three_ways)),
        )
        .await;

        clock.advance(60); // past half the idle lifetime: a renewal is due
        let req = test::TestRequest::get().uri("/").insert_header((COOKIE, format!("sealgate={token}"))).to_request();
        let response = test::call_service(&app, req).await;
        let set_cookies = response.headers().get_all(SET_COOKIE).count();
        assert_eq!(test::read_body(response).await, "true ivy");
        assert_eq!(set_cookies, 1, "one renewal, written once");
    }
}
