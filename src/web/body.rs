//! Request bodies, bounded for every route: at most `max_bytes`, and all of
//! it within `timeout` of the request's head. A larger body is refused with
//! 413 (before it is read, when `Content-Length` says so), a slower one with
//! 408; both close the connection, so a slow-body client cannot hold it.
//!
//! Requests without a body (every `/auth/verify`) pass straight through.

use super::wrapper::Wrapper;
use crate::errors::AppError;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{Bytes, BytesMut};
use actix_web::HttpMessage;
use futures_util::future::{Either, LocalBoxFuture};
use futures_util::StreamExt;
use std::rc::Rc;
use std::time::Duration;

/// The largest request body any route reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The bounds on every request body: `.wrap(Middleware(limits))`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl BodyLimits {
    /// Read the whole body of `payload` within the bounds.
    async fn read(self, payload: &mut Payload) -> Result<Bytes, AppError> {
        let read = async {
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| AppError::BadRequest("invalid_request"))?;
                if body.len().saturating_add(chunk.len()) > self.max_bytes {
                    return Err(AppError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body.freeze())
        };
        tokio::time::timeout(self.timeout, read).await.map_err(|_| AppError::RequestTimeout)?
    }
}

impl<S, B> Wrapper<S> for BodyLimits
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Future = Either<S::Future, LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>>;

    fn call(&self, service: &Rc<S>, mut req: ServiceRequest) -> Self::Future {
        if matches!(req.parts_mut().1, Payload::None) {
            return Either::Left(service.call(req));
        }
        let service = Rc::clone(service);
        let limits = *self;
        Either::Right(Box::pin(async move {
            let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|length| length > limits.max_bytes as u64) {
                return Err(AppError::TooLarge.into());
            }
            let mut payload = req.take_payload();
            let body = limits.read(&mut payload).await.map_err(|error| {
                if matches!(error, AppError::RequestTimeout) {
                    tracing::info!(path = %req.path(), "request body too slow; closing the connection");
                }
                error
            })?;
            req.set_payload(Payload::from(body));
            service.call(req).await
        }))
    }
}
