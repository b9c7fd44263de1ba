//! The `Cookie`-header reader and chunk joining on any bytes: the input is
//! split at `\n` into up to four `Cookie` headers (each kept only when it is
//! a valid header value). Checks: no panic; `find_cookie_bytes` finds what
//! the plain RFC 6265 reading finds; `read` joins chunks as that reading
//! says.
#![no_main]

use actix_web::http::header::{HeaderValue, COOKIE};
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use sealgate::config::{Settings, DEFAULT_CONFIG};
use sealgate::session::cookie::{find_cookie_bytes, CookieSpec};
use std::sync::OnceLock;

const MAX_CHUNKS: usize = 3;

fn spec() -> &'static CookieSpec {
    static SPEC: OnceLock<CookieSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
        settings.cookie.chunk_bytes = 10;
        settings.cookie.max_chunks = MAX_CHUNKS;
        CookieSpec::from_settings(&settings)
    })
}

fn reference_find<'h>(headers: &[&'h [u8]], name: &str) -> Option<&'h [u8]> {
    headers.iter().flat_map(|header| header.split(|&b| b == b';')).find_map(|pair| {
        let pair = pair.trim_ascii();
        let at = pair.iter().position(|&b| b == b'=')?;
        let (pair_name, value) = pair.split_at(at);
        (pair_name == name.as_bytes()).then(|| &value[1..])
    })
}

fuzz_target!(|data: &[u8]| {
    let headers: Vec<&[u8]> =
        data.split(|&b| b == b'\n').filter(|h| HeaderValue::from_bytes(h).is_ok()).take(4).collect();
    let mut req = TestRequest::default();
    for header in &headers {
        req = req.append_header((COOKIE, HeaderValue::from_bytes(header).unwrap()));
    }
    let req = req.to_http_request();
    let spec = spec();
    for name in ["sealgate", "sealgate_1", "sealgate_2"] {
        assert_eq!(find_cookie_bytes(&req, name), reference_find(&headers, name), "{name}");
    }
    let expected = match reference_find(&headers, "sealgate") {
        Some(value) => Ok(Some(value.to_vec())),
        None => {
            let chunks: Vec<&[u8]> =
                (1..).map_while(|i| reference_find(&headers, &format!("sealgate_{i}"))).take(MAX_CHUNKS + 1).collect();
            match chunks.len() {
                0 => Ok(None),
                n if n > MAX_CHUNKS => Err(()),
                _ => Ok(Some(chunks.concat())),
            }
        }
    };
    let read = spec.read(&req);
    assert_eq!(read.as_ref().map(|v| v.as_ref().map(|v| v.to_vec())).map_err(|_| ()), expected);
});
