//! Property tests of path normalisation (the path every policy rule is
//! matched against) on hostile request URIs: encodings nested up to five
//! deep, `..` in every disguise, `;params`, backslashes, controls, upper
//! case and non-ASCII text. It never panics, it gives exactly what a plain
//! segment-by-segment reference gives (so no trick reaches a rule in a form
//! the reference would have resolved), and its output is in normal form.

use super::normalize_path;
use proptest::prelude::*;
use std::borrow::Cow;

/// The normalisation as `target.rs`'s module doc states it, one step per
/// line: cut at `?`/`#`; per segment drop `;params`, percent-decode until
/// stable (at most four rounds), read `\` as `/`, drop a revealed
/// `;params`, trim controls, resolve `.`, `..` and empty segments, lower-case.
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

/// A URI path made of the pieces path tricks are built from, each possibly
/// percent-encoded up to five times over (one more than is decoded).
fn uri() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(vec![
            "/", "/", "/", ".", "..", ";", ";x=1", "\\", "?", "#", "a", "Admin", "ADMIN", "admin", "Σ", "ß", "İ",
            "\u{1}", "\u{85}", " ", "%", "%2", "%zz", "%ff", "%c3%9c", "%00",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9._~-]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    let encoded = (piece, 0usize..=5).prop_map(|(piece, depth)| {
        (0..depth).fold(piece, |text, _| text.bytes().map(|b| format!("%{b:02X}")).collect())
    });
    prop_oneof![
        8 => proptest::collection::vec(encoded, 0..12).prop_map(|pieces| pieces.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn normalize_path_agrees_with_the_reference(uri in uri()) {
        let normal = normalize_path(&uri);
        prop_assert_eq!(normal.as_ref(), reference(&uri), "{:?}", uri);
        if let Cow::Borrowed(path) = normal {
            // Borrowed only when there was nothing to do but cut the query.
            prop_assert!(uri.starts_with(path), "{:?}", uri);
        }
    }

    /// The output is in normal form: rooted, no empty, `.` or `..`
    /// segment, no backslash or `;`, no ASCII upper case; and normalising
    /// it again changes nothing, unless it still holds a `%` (an encoding
    /// nested deeper than the four rounds decoded).
    #[test]
    fn normalized_paths_are_normal(uri in uri()) {
        let normal = normalize_path(&uri);
        prop_assert!(normal.starts_with('/'), "{:?} -> {:?}", uri, normal);
        if normal != "/" {
            prop_assert!(
                normal.split('/').skip(1).all(|s| !matches!(s, "" | "." | "..")),
                "{:?} -> {:?}", uri, normal
            );
        }
        prop_assert!(!normal.contains(['\\', ';']), "{:?} -> {:?}", uri, normal);
        prop_assert!(!normal.bytes().any(|b| b.is_ascii_uppercase()), "{:?} -> {:?}", uri, normal);
        if !normal.contains(['%', '?', '#']) {
            let again = normalize_path(&normal).into_owned();
            prop_assert_eq!(again, normal.as_ref(), "{:?}", uri);
        }
    }

    /// `/x/../admin` in any disguise lands on `/admin`: a rule on `/admin`
    /// cannot be dodged by climbing out of another directory.
    #[test]
    fn a_climb_out_in_any_encoding_reaches_the_rule(prefix in "[a-z]{1,6}", depth in 0usize..=4, upper in any::<bool>()) {
        let dots = (0..depth).fold("..".to_owned(), |text, _| text.bytes().map(|b| format!("%{b:02X}")).collect());
        let admin = if upper { "ADMIN" } else { "admin" };
        for uri in [format!("/{prefix}/{dots}/{admin}"), format!("/{prefix}\\{dots}\\{admin};x")] {
            prop_assert_eq!(normalize_path(&uri).into_owned(), "/admin", "{:?}", uri);
        }
    }
}
