//! Property tests of the `Cookie`-header reader and of chunk joining, on
//! hostile headers: any bytes a header value may hold, several `Cookie`
//! headers, near-miss names, chunks missing, repeated or too many. Neither
//! panics, and neither finds a value the plain reference reading (written
//! here from RFC 6265's `cookie-string`) does not.

use super::*;
use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use proptest::prelude::*;

const MAX_CHUNKS: usize = 3;

/// Built once: parsing the settings costs more than a test case.
fn spec() -> &'static CookieSpec {
    static SPEC: std::sync::OnceLock<CookieSpec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let mut settings = Settings::from_toml(crate::config::DEFAULT_CONFIG).expect("the default config parses");
        settings.cookie.chunk_bytes = 10;
        settings.cookie.max_chunks = MAX_CHUNKS;
        CookieSpec::from_settings(&settings)
    })
}

/// The plain reading: each header in order, split on `;`, each pair
/// trimmed of ASCII whitespace and split at its first `=`; the first pair
/// whose name is `name` wins.
fn reference_find<'h>(headers: &'h [Vec<u8>], name: &str) -> Option<&'h [u8]> {
    headers.iter().flat_map(|header| header.split(|&b| b == b';')).find_map(|pair| {
        let pair = pair.trim_ascii();
        let at = pair.iter().position(|&b| b == b'=')?;
        let (pair_name, value) = pair.split_at(at);
        (pair_name == name.as_bytes()).then(|| value.get(1..).unwrap_or_default())
    })
}

/// What reading the session cookie should give: the cookie itself, else
/// `NAME_1`, `NAME_2`, ... joined while they are present, and an error
/// when there are more than `max_chunks` of them.
fn reference_read(headers: &[Vec<u8>], name: &str, max_chunks: usize) -> Result<Option<Vec<u8>>, ChunkError> {
    if let Some(value) = reference_find(headers, name) {
        return Ok(Some(value.to_vec()));
    }
    let chunks: Vec<&[u8]> =
        (1..).map_while(|i| reference_find(headers, &format!("{name}_{i}"))).take(max_chunks + 1).collect();
    match chunks.len() {
        0 => Ok(None),
        n if n > max_chunks => Err(ChunkError),
        _ => Ok(Some(chunks.concat())),
    }
}

fn request(headers: &[Vec<u8>]) -> HttpRequest {
    let mut req = TestRequest::default();
    for header in headers {
        req = req.append_header((COOKIE, HeaderValue::from_bytes(header).expect("the generator makes valid values")));
    }
    req.to_http_request()
}

/// Bytes a header value may hold: tab, visible ASCII and space, and
/// obs-text (0x80-0xFF, so not always UTF-8).
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => proptest::sample::select(b"abz09-_.=; \t".to_vec()),
        2 => 0x20u8..0x7f,
        1 => 0x80u8..=0xff,
    ]
}

/// One `Cookie` header: pairs with names that are ours, our chunks, or
/// near misses, and values with `=`, spaces and odd bytes, joined by the
/// separators clients send, or plain noise.
fn cookie_header() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        proptest::sample::select(vec![
            "sealgate",
            "sealgate_1",
            "sealgate_2",
            "sealgate_3",
            "sealgate_4",
            "sealgate_0",
            "sealgate_01",
            "sealgat",
            "sealgatex",
            " sealgate",
            "sealgate ",
            "",
            "x",
        ])
        .prop_map(|n| n.as_bytes().to_vec()),
        proptest::collection::vec(header_byte(), 0..6),
    ];
    let value = proptest::collection::vec(header_byte(), 0..12);
    let pair = (name, proptest::option::weighted(0.9, Just(b'=')), value).prop_map(|(name, eq, value)| {
        let mut pair = name;
        pair.extend(eq);
        pair.extend(value);
        pair
    });
    let separator = proptest::sample::select(vec!["; ", ";", ";;", " ;", ";\t"]);
    prop_oneof![
        6 => proptest::collection::vec((separator, pair), 0..7).prop_map(|pairs| {
            let mut header = Vec::new();
            for (i, (separator, pair)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    header.extend_from_slice(separator.as_bytes());
                }
                header.extend(pair);
            }
            header
        }),
        1 => proptest::collection::vec(header_byte(), 0..40),
    ]
    .prop_filter("a valid header value", |header| HeaderValue::from_bytes(header).is_ok())
}

fn cookie_headers() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(cookie_header(), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The one-pass scanner finds exactly the reference's value, for our
    /// name, a chunk's and a near miss's, in any bytes.
    #[test]
    fn find_cookie_bytes_finds_what_the_reference_finds(headers in cookie_headers()) {
        let req = request(&headers);
        for name in ["sealgate", "sealgate_1", "sealgat", "x"] {
            prop_assert_eq!(find_cookie_bytes(&req, name), reference_find(&headers, name), "{} in {:?}", name, headers);
        }
    }

    /// Reading joins chunks exactly as the reference does: never a value
    /// the reference does not give, never more than `max_chunks` chunks.
    #[test]
    fn read_agrees_with_the_reference(headers in cookie_headers()) {
        let req = request(&headers);
        let read = spec().read(&req).map(|value| value.map(|value| value.into_owned()));
        prop_assert_eq!(read, reference_read(&headers, "sealgate", MAX_CHUNKS), "{:?}", headers);
    }

    /// What `write` stores, `read` gives back, whether in one cookie or in
    /// chunks (whatever the request carried before); a value too long for
    /// `max_chunks` chunks is refused.
    #[test]
    fn written_values_read_back(value in "[A-Za-z0-9._-]{0,45}", before in cookie_headers()) {
        let spec = spec();
        let written = spec.write(&request(&before), &value, Some(60));
        if value.len() > spec.chunk_bytes * MAX_CHUNKS {
            prop_assert_eq!(written.unwrap_err(), ChunkError);
            return Ok(());
        }
        let cookies = written.expect("a value within the chunk limit is written");
        // What the browser sends next: the cookies set, not the ones removed.
        let header = cookies
            .iter()
            .filter(|c| c.max_age() != Some(CookieDuration::ZERO))
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        let next = request(&[header.into_bytes()]);
        let back = spec.read(&next).expect("chunks read back");
        prop_assert_eq!(back.as_deref(), Some(value.as_bytes()));
    }
}
