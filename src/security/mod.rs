//! Request-level defences: which peers' forwarded headers to believe, which
//! origins may post to us, and how fast a client may fail to sign in.

mod forwarded;
mod origin;
mod rate_limit;

pub use forwarded::TrustedProxies;
pub use origin::OriginCheck;
pub use rate_limit::FailureLimiter;
