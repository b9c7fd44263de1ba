//! Types that cannot hold bad values. Untrusted strings are parsed into these
//! at the edge; past the edge, code trusts them.

mod return_to;
mod user;

pub use return_to::{RedirectPolicy, ReturnTo};
pub use user::{User, UserError};
