//! What each answered request leaves behind: its metrics, and for the
//! routes `log.access` names, one access log line.
//!
//! [`Observe`] wraps one route, so its label is the route's pattern, known
//! when the routes are configured: a request only counts, it never formats
//! a label. The access line has the method, the route, the provider a path
//! names, the status, the time taken, the credential's source, the user id
//! and the client's address; never a path as sent, a query, a cookie or a
//! token.

use super::extract::RequestIdentity;
use super::wrapper::{Middleware, Wrapper};
use crate::config::AccessLog;
use crate::metrics::{self, RouteMetrics, SourceLabel, VerifyOutcome};
use crate::state::AppState;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::{web, HttpMessage, HttpRequest};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The routes asked on every request upstream, or polled: no access log
/// line unless `log.access = "all"`.
const PER_REQUEST: [&str; 4] = ["/auth/verify", "/healthz", "/readyz", "/metrics"];

/// Observes one route: `.wrap(Observe::route("/auth/verify", log.access))`.
#[derive(Clone)]
pub struct Observe {
    route: Rc<Observer>,
}

impl Observe {
    pub fn route(route: &'static str, access: AccessLog) -> Middleware<Observe> {
        let log = match access {
            AccessLog::All => true,
            AccessLog::Default => !PER_REQUEST.contains(&route),
            AccessLog::Off => false,
        };
        let verify = route == "/auth/verify";
        Middleware(Observe { route: Rc::new(Observer { metrics: RouteMetrics::new(route), log, verify }) })
    }
}

/// One route's series and choices, shared by its requests in a worker (the
/// routes are configured once per worker).
struct Observer {
    metrics: RouteMetrics,
    log: bool,
    verify: bool,
}

impl Observer {
    fn answered(&self, req: Option<&HttpRequest>, status: u16, elapsed: Duration) {
        self.metrics.answered(status, elapsed);
        if self.verify {
            let source = req.map_or(SourceLabel::none, source);
            metrics::verified(VerifyOutcome::of(status, source != SourceLabel::none), source);
        }
        if let (true, Some(req)) = (self.log, req) {
            access_line(req, self.metrics.route(), status, elapsed);
        }
    }
}

/// The source of the credential this request was identified by, if any.
fn source(req: &HttpRequest) -> SourceLabel {
    let extensions = req.extensions();
    let identity = extensions.get::<RequestIdentity>().and_then(|loaded| loaded.outcome.identity());
    SourceLabel::from(identity.map(|identity| identity.source))
}

fn access_line(req: &HttpRequest, route: &'static str, status: u16, elapsed: Duration) {
    let extensions = req.extensions();
    let identity = extensions.get::<RequestIdentity>().and_then(|loaded| loaded.outcome.identity());
    let client = req.app_data::<web::Data<AppState>>().and_then(|state| state.proxies.client_ip(req));
    tracing::info!(
        target: "sealgate::access",
        method = %req.method(),
        route,
        provider = req.match_info().get("provider"),
        status,
        ms = elapsed.as_secs_f64() * 1000.0,
        source = ?SourceLabel::from(identity.map(|identity| identity.source)),
        user = identity.map(|identity| identity.user.id.as_str()),
        client = client.map(tracing::field::display),
        "request",
    );
}

impl<S, B> Wrapper<S> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Future = Observed<S::Future>;

    fn call(&self, service: &Rc<S>, req: ServiceRequest) -> Self::Future {
        Observed { inner: service.call(req), started: Instant::now(), route: Rc::clone(&self.route) }
    }
}

pin_project_lite::pin_project! {
    /// A route's answer, observed when it is ready. Not boxed: the hot
    /// path's answer is usually ready at once.
    pub struct Observed<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: Rc<Observer>,
    }
}

impl<F, B> Future for Observed<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        let elapsed = this.started.elapsed();
        match &answer {
            Ok(res) => this.route.answered(Some(res.request()), res.status().as_u16(), elapsed),
            Err(error) => this.route.answered(None, error.as_response_error().status_code().as_u16(), elapsed),
        }
        Poll::Ready(answer)
    }
}
