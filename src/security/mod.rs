//! Request-level defences: which peers' forwarded headers to believe, which
//! origins may post to us, how fast a client may fail to sign in, and how
//! large and slow a request body may be.

mod body;
mod forwarded;
mod origin;
mod rate_limit;

pub use body::BodyLimits;
pub use forwarded::TrustedProxies;
pub use origin::OriginCheck;
pub use rate_limit::FailureLimiter;
