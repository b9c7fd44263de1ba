//! Ways to sign in. One provider per file.

pub mod credentials;
