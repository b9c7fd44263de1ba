//! actix's middleware plumbing, written once: a [`Wrapper`] says what a
//! middleware does with one request, and [`Middleware`] makes it actix's
//! `Transform` (per wrapped service) and `Service` (per request).
//!
//! Nothing here costs a request anything: the wrapped service is put in an
//! `Rc` once, when the worker builds its services, and a request's future
//! is the wrapper's own type (unboxed unless the wrapper boxes it).

use actix_web::dev::{forward_ready, Service, ServiceRequest, Transform};
use futures_util::future::{ready, Ready};
use std::future::Future;
use std::rc::Rc;

/// What a middleware does with each request passing it to `S`.
pub trait Wrapper<S: Service<ServiceRequest>>: Clone {
    /// The answer to one request.
    type Future: Future<Output = Result<S::Response, S::Error>>;

    /// Answer `req`, calling `service` (shared, so that a future may keep it).
    fn call(&self, service: &Rc<S>, req: ServiceRequest) -> Self::Future;
}

/// A [`Wrapper`] as actix middleware: `.wrap(Middleware(Identify))`.
pub struct Middleware<W>(pub W);

impl<S, W> Transform<S, ServiceRequest> for Middleware<W>
where
    S: Service<ServiceRequest>,
    W: Wrapper<S>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Transform = Wrapped<S, W>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(Wrapped { service: Rc::new(service), wrapper: self.0.clone() }))
    }
}

/// A service wrapped by a [`Wrapper`].
pub struct Wrapped<S, W> {
    service: Rc<S>,
    wrapper: W,
}

impl<S, W> Service<ServiceRequest> for Wrapped<S, W>
where
    S: Service<ServiceRequest>,
    W: Wrapper<S>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = W::Future;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        self.wrapper.call(&self.service, req)
    }
}
