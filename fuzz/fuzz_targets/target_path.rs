//! Path and host normalisation (`policy::normalize_path`,
//! `policy::normalize_host`, `Target::new`) on any UTF-8. The input is
//! split at the first `\n` into a host and a URI. Checks: no panic; the
//! path agrees with a plain segment-by-segment reference and is in normal
//! form; a host that parses has no ASCII upper case and no trailing dot,
//! a malformed one keeps only its bare name; `Target` holds the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::policy::{normalize_host, normalize_path, Host, Target};

fn reference(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let mut segments: Vec<String> = Vec::new();
    for raw in path.split('/') {
        let mut text = raw.split(';').next().unwrap_or_default().to_owned();
        for _ in 0..4 {
            let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
            if decoded == text {
                break;
            }
            text = decoded;
        }
        for piece in text.replace('\\', "/").split('/') {
            let piece = piece.split(';').next().unwrap_or_default().trim_matches(char::is_control);
            match piece {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                other => segments.push(other.to_lowercase()),
            }
        }
    }
    format!("/{}", segments.join("/"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (host, uri) = text.split_once('\n').unwrap_or(("", text));
    let path = normalize_path(uri);
    assert_eq!(path, reference(uri), "{uri:?}");
    assert!(path.starts_with('/'));
    assert!(!path.contains(['\\', ';']));
    assert!(!path.bytes().any(|b| b.is_ascii_uppercase()));
    if !path.contains(['%', '?', '#']) {
        assert_eq!(normalize_path(&path), path, "not idempotent for {uri:?}");
    }
    // A host that parses is lower case without a trailing dot; a malformed
    // one keeps only its bare name (the text before a `:`), for deny rules.
    match Host::parse(host) {
        Host::Name(name) => {
            assert!(!name.ends_with('.'), "{host:?} -> {name:?}");
            assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "{host:?} -> {name:?}");
            assert_eq!(normalize_host(host), name);
        }
        Host::Malformed(name) => {
            let bare = host.strip_prefix('[').unwrap_or(host).to_lowercase();
            assert!(bare.contains(name.as_ref()), "{host:?} -> {name:?}");
        }
    }
    let target = Target::new(Some(host), Some(uri));
    assert_eq!(target.path.as_deref(), Some(path.as_ref()));
});
