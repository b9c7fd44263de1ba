//! Compact JWE, checked strictly before any cryptography.
//!
//! josekit 0.10 does not check the length of the AES-GCM tag: a token whose
//! tag is cut to one byte is accepted, which makes forgery a matter of a few
//! hundred tries. So nothing reaches josekit until [`split_strict`] has
//! checked the shape (five segments, canonical base64url, a 12-byte IV, a
//! 16-byte tag, a bounded size) and [`Sealer::open`] has matched the
//! protected header byte for byte against one we issue. Garbage is rejected
//! here cheaply, without josekit's error machinery.

mod sealer;

pub use sealer::{SealError, Sealer, ENC};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Why a token was refused. The codes are stable and safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("token too long")]
    TooLong,
    #[error("token does not have five segments")]
    Segments,
    #[error("token segment is not canonical base64url")]
    Base64,
    #[error("IV is not 12 bytes")]
    IvLength,
    #[error("tag is not 16 bytes")]
    TagLength,
    #[error("encrypted key has the wrong length for the algorithm")]
    EncryptedKey,
    #[error("protected header is not one we issue (unknown kid, alg, enc, typ or extra members)")]
    UnknownHeader,
    #[error("decryption failed")]
    Decrypt,
    #[error("the nested token's inner JWS is malformed")]
    Inner,
    #[error("the inner JWS header is not one we issue (unknown kid, alg or typ, or extra members)")]
    UnknownSigner,
    #[error("the inner JWS signature does not verify")]
    Signature,
}

impl OpenError {
    /// A short, stable code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            OpenError::TooLong => "too_long",
            OpenError::Segments => "segments",
            OpenError::Base64 => "base64",
            OpenError::IvLength => "iv_length",
            OpenError::TagLength => "tag_length",
            OpenError::EncryptedKey => "encrypted_key",
            OpenError::UnknownHeader => "unknown_header",
            OpenError::Decrypt => "decrypt",
            OpenError::Inner => "inner",
            OpenError::UnknownSigner => "unknown_signer",
            OpenError::Signature => "signature",
        }
    }
}

/// The five segments of a compact JWE, still base64url.
#[derive(Debug, Clone, Copy)]
pub struct Compact<'a> {
    pub header: &'a str,
    pub encrypted_key: &'a str,
    pub iv: &'a str,
    pub ciphertext: &'a str,
    pub tag: &'a str,
}

pub const IV_BYTES: usize = 12;
pub const TAG_BYTES: usize = 16;

/// Canonical unpadded base64url: only its alphabet, a length some byte
/// count encodes to, and no stray bits in the last symbol (`AB` and `AA`
/// would both decode to one zero byte; only `AA` is canonical).
pub(crate) fn is_b64url(segment: &str) -> bool {
    let symbols_ok = segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    // The bits of the last symbol past the end of the data: 4 after one
    // byte of a group (2 symbols), 2 after two (3 symbols).
    let stray_bits = match segment.len() % 4 {
        0 => 0,
        1 => return false,
        2 => 0b1111,
        _ => 0b0011,
    };
    symbols_ok && segment.bytes().last().map_or(0, b64url_value) & stray_bits == 0
}

/// The 6-bit value of a base64url symbol (already checked to be one).
fn b64url_value(symbol: u8) -> u8 {
    match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'-' => 62,
        _ => 63,
    }
}

/// Decode a segment that must hold exactly `N` bytes, rejecting
/// non-canonical encodings (stray trailing bits).
fn decode_exact<const N: usize>(segment: &str, error: OpenError) -> Result<[u8; N], OpenError> {
    let mut out = [0u8; N];
    // The encoded length of N bytes without padding.
    if segment.len() != (N * 4).div_ceil(3) {
        return Err(error);
    }
    match URL_SAFE_NO_PAD.decode_slice(segment.as_bytes(), &mut out) {
        Ok(n) if n == N => Ok(out),
        Ok(_) => Err(error),
        Err(_) => Err(OpenError::Base64),
    }
}

/// Split a compact JWE and check its shape. Checks nothing cryptographic.
pub fn split_strict(token: &str, max_len: usize) -> Result<Compact<'_>, OpenError> {
    if token.len() > max_len {
        return Err(OpenError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(encrypted_key), Some(iv), Some(ciphertext), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OpenError::Segments);
    };
    if header.is_empty() || ciphertext.is_empty() {
        return Err(OpenError::Segments);
    }
    // The short, fixed-size parts first: most garbage fails here cheaply.
    decode_exact::<IV_BYTES>(iv, OpenError::IvLength)?;
    decode_exact::<TAG_BYTES>(tag, OpenError::TagLength)?;
    for segment in [header, encrypted_key, ciphertext] {
        if !is_b64url(segment) {
            return Err(OpenError::Base64);
        }
    }
    Ok(Compact { header, encrypted_key, iv, ciphertext, tag })
}

/// Strictly check `token`, then decrypt it with a raw key for `alg`
/// (`dir`, `A128KW` or `A256KW`; any AES-GCM `enc` josekit knows). This is
/// the path [`Sealer::open`] takes once it has picked a key; it exists on its
/// own so that the RFC 7520 examples can be checked against it.
pub fn decrypt_with_key(token: &str, alg: &str, key: &[u8], max_len: usize) -> Result<Vec<u8>, OpenError> {
    use josekit::jwe::{self, JweDecrypter};
    let parts = split_strict(token, max_len)?;
    let decrypter: Box<dyn JweDecrypter> = match alg {
        "dir" if parts.encrypted_key.is_empty() => {
            Box::new(jwe::Dir.decrypter_from_bytes(key).map_err(|_| OpenError::Decrypt)?)
        }
        "A128KW" if decoded_len(parts.encrypted_key) == 24 => {
            Box::new(jwe::A128KW.decrypter_from_bytes(key).map_err(|_| OpenError::Decrypt)?)
        }
        "A256KW" if decoded_len(parts.encrypted_key) == 40 => {
            Box::new(jwe::A256KW.decrypter_from_bytes(key).map_err(|_| OpenError::Decrypt)?)
        }
        "dir" | "A128KW" | "A256KW" => return Err(OpenError::EncryptedKey),
        _ => return Err(OpenError::UnknownHeader),
    };
    jwe::deserialize_compact(token, &*decrypter).map(|(payload, _)| payload).map_err(|_| OpenError::Decrypt)
}

/// The decoded length of an unpadded base64url segment.
pub(crate) fn decoded_len(segment: &str) -> usize {
    segment.len() * 3 / 4
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    const IV: &str = "AAAAAAAAAAAAAAAA"; // 12 zero bytes
    const TAG: &str = "AAAAAAAAAAAAAAAAAAAAAA"; // 16 zero bytes
    const H: &str = "aGVh";
    const C: &str = "Y2lw";

    #[test]
    fn accepts_a_well_formed_token() {
        let token = format!("eyJhbGciOiJkaXIifQ..{IV}.Y2lwaGVy.{TAG}");
        let parts = split_strict(&token, 1024).unwrap();
        assert_eq!(parts.encrypted_key, "");
        assert_eq!(parts.ciphertext, "Y2lwaGVy");
    }

    #[test]
    fn refuses_malformed_shapes() {
        let cases: Vec<(String, OpenError)> = vec![
            (format!("{H}..{IV}.{C}"), OpenError::Segments),
            (format!("{H}..{IV}.{C}.{TAG}.x"), OpenError::Segments),
            (format!("..{IV}.{C}.{TAG}"), OpenError::Segments),
            (format!("{H}..{IV}..{TAG}"), OpenError::Segments),
            (format!("{H}..{IV}.{C}.{}", &TAG[..2]), OpenError::TagLength),
            (format!("{H}..{IV}.{C}.{TAG}AA"), OpenError::TagLength),
            (format!("{H}..{}.{C}.{TAG}", &IV[..15]), OpenError::IvLength),
            (format!("{H}..{IV}.Y2+/.{TAG}"), OpenError::Base64),
            (format!("{H}=..{IV}.{C}.{TAG}"), OpenError::Base64),
            (format!("{H}..{IV}.c.{TAG}"), OpenError::Base64), // a length no encoding has
            (format!("{H}..{IV}.{C}.AAAAAAAAAAAAAAAAAAAAAB"), OpenError::Base64), // trailing bits set
            (format!("{H}..{IV}.{}.{TAG}", "c".repeat(2000)), OpenError::TooLong),
        ];
        for (token, expected) in cases {
            assert_eq!(split_strict(&token, 1024).unwrap_err(), expected, "{token}");
        }
    }
}
