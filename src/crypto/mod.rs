//! Keys and ciphers: everything that seals and opens, and nothing that
//! knows what the sealed bytes mean.
//!
//! - [`keys`]: the JWK Set of root keys, the key ring that follows reloads,
//!   purposes and the HKDF purpose keys derived from them.
//! - [`jwe`]: compact JWE with the strict parse in front of josekit, and the
//!   [`Sealer`](jwe::Sealer) that seals and opens one purpose.
//! - [`jws`]: the strict parse of a compact JWS someone else signed (a
//!   provider's JWT, a logout token), before any key is looked up.
//! - [`nested`]: the nested session format (a JWS inside a JWE to a public
//!   key), its strict parse of both layers, and the
//!   [`SessionSealer`](nested::SessionSealer) that seals in one format and
//!   opens both.
//! - [`token_cipher`]: the provider tokens a session carries, encrypted a
//!   second time (AES-256-GCM, bound to the session id).

pub mod jwe;
pub mod jws;
pub mod keys;
pub mod nested;
pub mod token_cipher;

pub use token_cipher::{ProviderTokens, TokenCipher, TokensError};
