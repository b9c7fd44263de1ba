//! The session cookie on the wire: attributes, and chunking of values too
//! large for one cookie into `NAME_1`, `NAME_2`, ...
//!
//! The session cookie has one reader, [`CookieSpec::read_headers`], used on
//! every request (through [`CookieSpec::read`]) and by `sealgate session
//! inspect`. It scans each `Cookie` header once, by hand: it is the hot
//! path, and actix's parser refuses the whole header when any one cookie in
//! it is malformed (an unrelated bad cookie must not sign a person out).
//! Every other read (flow cookies, the chunks a request carried) uses the
//! `cookie` crate's parser, pair by pair, skipping malformed pairs.

use crate::config::{SameSite, Settings};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite as CookieSameSite};
use actix_web::http::header::COOKIE;
use actix_web::HttpRequest;
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct CookieSpec {
    pub name: String,
    secure: bool,
    same_site: CookieSameSite,
    domain: Option<String>,
    chunk_bytes: usize,
    max_chunks: usize,
    /// `NAME_1` ..= `NAME_{max_chunks + 1}`, made once: reading looks for them on every request without a cookie.
    chunk_names: Box<[String]>,
}

/// The joined value was larger than the chunk limit allows, or chunks were missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cookie chunks are malformed or too many")]
pub struct ChunkError;

impl CookieSpec {
    pub fn from_settings(settings: &Settings) -> CookieSpec {
        let name = settings.cookie_name();
        CookieSpec {
            secure: settings.cookie_secure(),
            same_site: match settings.cookie.same_site {
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::Strict => CookieSameSite::Strict,
                SameSite::None => CookieSameSite::None,
            },
            domain: settings.cookie.domain.clone(),
            chunk_bytes: settings.cookie.chunk_bytes,
            max_chunks: settings.cookie.max_chunks,
            chunk_names: (1..=settings.cookie.max_chunks + 1).map(|i| chunk_name(&name, i)).collect(),
            name,
        }
    }

    fn chunk_name(&self, index: usize) -> String {
        chunk_name(&self.name, index)
    }

    /// The value of the session cookie in the request, joined from chunks
    /// when split; `Ok(None)` when there is none. A single cookie is
    /// borrowed from the request, not copied, and left as bytes (the
    /// open-cache recognises its tokens without a UTF-8 check): this runs
    /// on every `/auth/verify`.
    pub fn read<'r>(&self, req: &'r HttpRequest) -> Result<Option<Cow<'r, [u8]>>, ChunkError> {
        self.read_headers(|| req.headers().get_all(COOKIE).map(|header| header.as_bytes()))
    }

    /// The value of the session cookie in the `Cookie` header values that
    /// `headers` lists (called once per name looked for), joined from chunks
    /// when split. The first `NAME=` pair wins; chunks `NAME_1`.. are read
    /// only when there is no `NAME`, up to `max_chunks`.
    pub fn read_headers<'h, I>(&self, headers: impl Fn() -> I) -> Result<Option<Cow<'h, [u8]>>, ChunkError>
    where
        I: Iterator<Item = &'h [u8]>,
    {
        let find = |name: &str| headers().find_map(|header| cookie_in(header, name.as_bytes()));
        if let Some(value) = find(&self.name) {
            return Ok(Some(Cow::Borrowed(value)));
        }
        let mut names = self.chunk_names.iter();
        let Some(first) = names.next().and_then(|name| find(name)) else {
            return Ok(None);
        };
        let mut joined = Vec::with_capacity(first.len() * 2);
        joined.extend_from_slice(first);
        for (index, name) in (2..).zip(names) {
            match find(name) {
                Some(_) if index > self.max_chunks => return Err(ChunkError),
                Some(part) => joined.extend_from_slice(part),
                None => break,
            }
        }
        Ok(Some(Cow::Owned(joined)))
    }

    /// Names of this cookie and its chunks that the request carries.
    fn present(&self, req: &HttpRequest) -> Vec<String> {
        let prefix = format!("{}_", self.name);
        parsed_cookies(req)
            .filter_map(|cookie| {
                let name = cookie.name();
                let is_ours = name == self.name
                    || name.strip_prefix(prefix.as_str()).is_some_and(|n| n.parse::<usize>().is_ok_and(|i| i >= 1));
                is_ours.then(|| name.to_owned())
            })
            .collect()
    }

    pub fn build(&self, name: String, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(name, value);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(self.secure);
        cookie.set_same_site(self.same_site);
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    pub fn removal(&self, name: String) -> Cookie<'static> {
        let mut cookie = self.build(name, String::new());
        cookie.make_removal();
        cookie
    }

    /// The `(name, value)` pairs that store `value`: one cookie, or chunks
    /// `NAME_1..NAME_n` when it is longer than one chunk.
    pub fn split(&self, value: &str) -> Result<Vec<(String, String)>, ChunkError> {
        if value.len() <= self.chunk_bytes {
            return Ok(vec![(self.name.clone(), value.to_owned())]);
        }
        let count = value.len().div_ceil(self.chunk_bytes);
        if count > self.max_chunks {
            return Err(ChunkError);
        }
        // The value is base64url and dots: ASCII, so byte chunks are char-safe.
        Ok(value
            .as_bytes()
            .chunks(self.chunk_bytes)
            .enumerate()
            .map(|(i, part)| (self.chunk_name(i + 1), String::from_utf8_lossy(part).into_owned()))
            .collect())
    }

    /// Cookies that store `value` (split when needed) and remove any chunk
    /// the request carried that the new value does not overwrite.
    /// `max_age: None` makes a browser-session cookie.
    pub fn write(
        &self,
        req: &HttpRequest,
        value: &str,
        max_age: Option<i64>,
    ) -> Result<Vec<Cookie<'static>>, ChunkError> {
        let parts = self.split(value)?;
        let stale: Vec<String> =
            self.present(req).into_iter().filter(|n| !parts.iter().any(|(name, _)| name == n)).collect();
        let mut out = Vec::with_capacity(parts.len() + stale.len());
        for (name, part) in parts {
            let mut cookie = self.build(name, part);
            if let Some(seconds) = max_age {
                cookie.set_max_age(CookieDuration::seconds(seconds.max(0)));
            }
            out.push(cookie);
        }
        out.extend(stale.into_iter().map(|name| self.removal(name)));
        Ok(out)
    }

    /// Cookies that remove the session cookie and chunks this request carried.
    pub fn clear_present(&self, req: &HttpRequest) -> Vec<Cookie<'static>> {
        self.present(req).into_iter().map(|name| self.removal(name)).collect()
    }

    /// Cookies that remove the session cookie and every possible chunk.
    pub fn clear(&self) -> Vec<Cookie<'static>> {
        std::iter::once(self.name.clone())
            .chain((1..=self.max_chunks).map(|i| self.chunk_name(i)))
            .map(|name| self.removal(name))
            .collect()
    }
}

fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}_{index}")
}

/// Every cookie in the request's `Cookie` headers, read by the `cookie`
/// crate's parser; a malformed pair is skipped, not its header.
fn parsed_cookies(req: &HttpRequest) -> impl Iterator<Item = ::cookie::Cookie<'_>> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|header| header.to_str().ok())
        .flat_map(::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
}

/// The value of the first cookie called `name` (not the session cookie:
/// that is [`CookieSpec::read`]'s).
pub fn find_cookie<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    parsed_cookies(req).find(|cookie| cookie.name_raw() == Some(name)).and_then(|cookie| cookie.value_raw())
}

/// The value of the first cookie called `name`, by the session cookie's
/// scan. This runs on every `/auth/verify`, with a session cookie of a
/// kilobyte or more, so each `Cookie` header is scanned once (for `;`, with
/// SIMD): split on `;`, trim, split at the first `=`.
pub fn find_cookie_bytes<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r [u8]> {
    req.headers().get_all(COOKIE).find_map(|header| cookie_in(header.as_bytes(), name.as_bytes()))
}

/// The value of the first `name=value` pair in one `Cookie` header.
fn cookie_in<'h>(header: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    let mut rest = header;
    loop {
        let end = memchr::memchr(b';', rest);
        let (pair, after) = match end {
            Some(end) => (rest.get(..end)?, rest.get(end + 1..)?),
            None => (rest, &[][..]),
        };
        if let Some(value) = pair.trim_ascii().strip_prefix(name).and_then(|v| v.strip_prefix(b"=")) {
            return Some(value);
        }
        end?;
        rest = after;
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn spec() -> CookieSpec {
        let mut settings = Settings::from_toml(crate::config::DEFAULT_CONFIG).unwrap();
        settings.cookie.chunk_bytes = 1000;
        settings.cookie.max_chunks = 3;
        CookieSpec::from_settings(&settings)
    }

    #[test]
    fn splits_and_joins_large_values() {
        let spec = spec();
        let value = "x".repeat(2500);
        let req = TestRequest::default().to_http_request();
        let cookies = spec.write(&req, &value, Some(60)).unwrap();
        let names: Vec<_> = cookies.iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names, ["sealgate_1", "sealgate_2", "sealgate_3"]);
        assert!(cookies.iter().all(|c| c.http_only() == Some(true) && c.path() == Some("/")));

        let header = cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect::<Vec<_>>().join("; ");
        let back = TestRequest::default().insert_header((COOKIE, header)).to_http_request();
        assert_eq!(*spec.read(&back).unwrap().unwrap(), *value.as_bytes());
    }

    #[test]
    fn too_many_chunks_are_refused_both_ways() {
        let spec = spec();
        let req = TestRequest::default().to_http_request();
        assert_eq!(spec.write(&req, &"x".repeat(3001), None).unwrap_err(), ChunkError);
        let header = "sealgate_1=a; sealgate_2=b; sealgate_3=c; sealgate_4=d";
        let back = TestRequest::default().insert_header((COOKIE, header)).to_http_request();
        assert_eq!(spec.read(&back).unwrap_err(), ChunkError);
    }

    #[test]
    fn replacing_a_chunked_value_removes_the_old_chunks() {
        let spec = spec();
        let req = TestRequest::default()
            .insert_header((COOKIE, "other=1; sealgate_1=a; sealgate_2=b; sealgate_3=c"))
            .to_http_request();
        let cookies = spec.write(&req, "small", None).unwrap();
        let first = cookies.first().unwrap();
        assert_eq!((first.name(), first.value(), first.max_age()), ("sealgate", "small", None));
        let removed: Vec<_> = cookies.iter().skip(1).map(|c| (c.name().to_owned(), c.max_age())).collect();
        assert_eq!(removed.len(), 3);
        assert!(removed.iter().all(|(_, age)| *age == Some(CookieDuration::ZERO)));
    }

    #[test]
    fn a_malformed_neighbour_cookie_does_not_hide_ours() {
        let spec = spec();
        let req = TestRequest::default().insert_header((COOKIE, "bad; =x; sealgate=value")).to_http_request();
        assert_eq!(spec.read(&req).unwrap().as_deref(), Some(&b"value"[..]));
        let req = TestRequest::default()
            .insert_header((COOKIE, "bad; =x; sealgate-flow-1=flow; sealgate_2=b"))
            .to_http_request();
        assert_eq!(find_cookie(&req, "sealgate-flow-1"), Some("flow"));
        assert_eq!(spec.present(&req), ["sealgate_2"]);
    }

    /// Every `name=value` pair in the request's `Cookie` headers, plainly.
    fn cookie_pairs(req: &actix_web::HttpRequest) -> impl Iterator<Item = (&str, &str)> {
        req.headers()
            .get_all(COOKIE)
            .filter_map(|header| std::str::from_utf8(header.as_bytes()).ok())
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim_ascii().split_once('='))
    }

    /// The one-pass scanner against the plain definition (split on `;`,
    /// trim, split at the first `=`), on generated headers full of near
    /// misses: prefixes, suffixes, spaces, empty pairs and values, `=` in values.
    #[test]
    fn find_cookie_finds_what_the_plain_definition_finds() {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let names = ["sealgate", "sealgate_1", "sealgat", "sealgatex", " sealgate", "sealgate ", "", "x", "=sealgate"];
        let values = ["", "v", "a=b", "=", " spaced ", "\t", "sealgate=inner", "ey.J.x"];
        let separators = [";", "; ", " ;", ";;", ";\t"];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut found = 0;
        for _ in 0..20_000 {
            let mut header = String::new();
            for i in 0..rng.gen_range(0..5) {
                if i > 0 {
                    header.push_str(separators.choose(&mut rng).unwrap());
                }
                header.push_str(names.choose(&mut rng).unwrap());
                if rng.gen_bool(0.9) {
                    header.push('=');
                }
                header.push_str(values.choose(&mut rng).unwrap());
            }
            let mut req = TestRequest::default().insert_header((COOKIE, header.clone()));
            if rng.gen_bool(0.2) {
                req = req.append_header((COOKIE, "sealgate=second"));
            }
            let req = req.to_http_request();
            for name in ["sealgate", "sealgate_1"] {
                let expected = cookie_pairs(&req).find(|(n, _)| *n == name).map(|(_, v)| v);
                let scanned = find_cookie_bytes(&req, name).and_then(|v| std::str::from_utf8(v).ok());
                assert_eq!(scanned, expected, "{name} in {header:?}");
                found += usize::from(expected.is_some());
            }
        }
        assert!(found > 5_000, "the generator must produce matches too ({found})");
    }
}
