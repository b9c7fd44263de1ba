//! The actix glue besides the routes: who is asking ([`Identify`], the
//! extractors), what each answer leaves behind ([`Observe`]), the identity
//! headers sent upstream, and the request-level defences (which peers'
//! forwarded headers to believe, which origins may post to us, how fast a
//! client may fail to sign in, and how large and slow a request body may
//! be: [`BodyLimits`]), and the page engine (templates, stylesheet, page
//! headers). The three middlewares are [`Wrapper`]s, made actix middleware
//! by [`Middleware`].

mod body;
mod extract;
mod forwarded;
pub mod identity_headers;
mod middleware;
mod observe;
mod origin;
pub mod pages;
mod rate_limit;
mod wrapper;

pub use body::{BodyLimits, BODY_LIMIT};
pub use extract::{clear_refused, clear_session, load, load_with, set_session, MaybeIdentity, SameOrigin, SignedIn};
pub use forwarded::TrustedProxies;
pub use middleware::Identify;
pub use observe::Observe;
pub use origin::OriginCheck;
pub use rate_limit::FailureLimiter;
pub use wrapper::{Middleware, Wrapper};
