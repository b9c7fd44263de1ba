//! The `Authorization: Bearer` header, read as bytes, and which kind of
//! token it carries.
//!
//! Works on bytes: `HeaderValue::to_str` and a `char` scan cost more than
//! opening a cached token. The scheme is compared as bytes, and the token
//! must be printable ASCII with no spaces, so it is valid UTF-8.

use actix_web::http::header::AUTHORIZATION;
use actix_web::HttpRequest;

/// The longest Bearer token read.
const MAX_TOKEN: usize = 16 * 1024;

/// The token of an `Authorization: Bearer <token>` header. `Some(None)` for
/// an Authorization header that is not a well-formed Bearer credential.
pub fn bearer(req: &HttpRequest) -> Option<Option<&str>> {
    let header = req.headers().get(AUTHORIZATION)?;
    Some(bearer_token(header.as_bytes()))
}

fn bearer_token(value: &[u8]) -> Option<&str> {
    let (scheme, token) = value.split_at_checked(value.iter().position(|&b| b == b' ')?)?;
    let token = token.trim_ascii();
    let well_formed = scheme.eq_ignore_ascii_case(b"bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN
        // `fold`, not `all`: no early exit, so it compiles to SIMD (tokens run to kilobytes).
        && token.iter().fold(true, |graphic, b| graphic & b.is_ascii_graphic());
    if !well_formed {
        return None;
    }
    std::str::from_utf8(token).ok()
}

/// A sealgate API token is a compact JWE (five segments); anything else in
/// a Bearer header may be a provider's token.
pub fn is_api_token(token: &str) -> bool {
    memchr::memchr_iter(b'.', token.as_bytes()).count() == 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    /// The byte-level parser against the plain definition it replaced
    /// (visible ASCII, split at the first space, trim, no whitespace inside).
    #[test]
    fn bearer_token_accepts_exactly_what_the_plain_definition_accepts() {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        fn plain(value: &[u8]) -> Option<&str> {
            HeaderValue::from_bytes(value).ok()?.to_str().ok()?;
            let value = std::str::from_utf8(value).ok()?;
            let (scheme, token) = value.split_once(' ')?;
            let token = token.trim();
            let ok = scheme.eq_ignore_ascii_case("bearer")
                && !token.is_empty()
                && token.len() <= 16 * 1024
                && !token.contains(|c: char| c.is_whitespace());
            ok.then_some(token)
        }
        let parts: [&[u8]; 14] = [
            b"Bearer",
            b"bearer",
            b"BEARER",
            b"Basic",
            b"Bearerx",
            b" ",
            b"  ",
            b"\t",
            b"eyJ.a-b_c",
            b"x y",
            b"\x7f",
            b"\xc3\xa9",
            b"=",
            b"~",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut value: Vec<u8> = if rng.gen_bool(0.5) { b"Bearer ".to_vec() } else { Vec::new() };
            value.extend((0..rng.gen_range(1..6)).flat_map(|_| parts.choose(&mut rng).unwrap().to_vec()));
            if HeaderValue::from_bytes(&value).is_err() {
                continue;
            }
            assert_eq!(bearer_token(&value), plain(&value), "{:?}", String::from_utf8_lossy(&value));
            accepted += usize::from(plain(&value).is_some());
        }
        assert!(accepted > 1_000, "the generator must produce good tokens too ({accepted})");
        let long = format!("Bearer {}", "a".repeat(16 * 1024 + 1));
        assert_eq!(bearer_token(long.as_bytes()), None);
    }
}

#[cfg(test)]
mod proptests;
