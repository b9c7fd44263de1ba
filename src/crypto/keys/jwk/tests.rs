use super::*;

#[test]
fn rejects_bad_sets() {
    let k32 = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let k16 = URL_SAFE_NO_PAD.encode([7u8; 16]);
    let cases = [
        (r#"{"keys":[]}"#.to_string(), "no keys"),
        (format!(r#"{{"keys":[{{"kty":"RSA","kid":"a","k":"{k32}"}}]}}"#), "kty"),
        (format!(r#"{{"keys":[{{"kty":"oct","k":"{k32}"}}]}}"#), "no `kid`"),
        (format!(r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{k16}"}}]}}"#), "exactly 32"),
        (format!(r#"{{"keys":[{{"kty":"oct","kid":"a","alg":"A128KW","k":"{k32}"}}]}}"#), "alg"),
        (format!(r#"{{"keys":[{{"kty":"oct","kid":"a\"b","k":"{k32}"}}]}}"#), "kid"),
        (
            format!(r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{k32}"}},{{"kty":"oct","kid":"a","k":"{k32}"}}]}}"#),
            "twice",
        ),
        (format!(r#"{{"keys":[{{"kty":"oct","kid":"a","use":"sig","k":"{k32}"}}]}}"#), "use"),
    ];
    for (json, expected) in cases {
        let error = JwkSet::from_json(&json).unwrap_err();
        assert!(error.contains(expected), "{json}: {error}");
    }
}

#[test]
fn round_trips_through_json() {
    let mut set = JwkSet::generate(KeyAlg::Dir);
    set.add_generated(KeyAlg::A256Kw, KeyState::Current);
    set.add_generated(KeyAlg::Dir, KeyState::Next);
    let again = JwkSet::from_json(&set.to_json()).unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(again.current().kid(), set.current().kid());
    assert_eq!(again.current().secret(), set.current().secret());
    assert!(again.same_keys(&set));
    assert!(!again.same_keys(&JwkSet::generate(KeyAlg::Dir)));
}

fn key(kid: &str, state: Option<&str>) -> String {
    let k = URL_SAFE_NO_PAD.encode([7u8; 32]);
    match state {
        Some(state) => format!(r#"{{"kty":"oct","kid":"{kid}","k":"{k}","sealgate_state":"{state}"}}"#),
        None => format!(r#"{{"kty":"oct","kid":"{kid}","k":"{k}"}}"#),
    }
}

fn states(json: &str) -> Vec<(String, KeyState)> {
    JwkSet::from_json(json).unwrap().iter().map(|k| (k.kid().to_owned(), k.state())).collect()
}

#[test]
fn a_file_without_states_keeps_its_last_key_current() {
    let json = format!(r#"{{"keys":[{},{}]}}"#, key("a", None), key("b", None));
    assert_eq!(states(&json), [("a".into(), KeyState::Previous), ("b".into(), KeyState::Current)]);
    // A next key at the end does not take over: the last unmarked key is current.
    let json = format!(r#"{{"keys":[{},{},{}]}}"#, key("a", None), key("b", None), key("c", Some("next")));
    assert_eq!(states(&json)[1], ("b".into(), KeyState::Current));
    // A key marked current wins wherever it is.
    let json = format!(r#"{{"keys":[{},{}]}}"#, key("a", Some("current")), key("b", None));
    assert_eq!(states(&json), [("a".into(), KeyState::Current), ("b".into(), KeyState::Previous)]);
}

#[test]
fn states_that_leave_no_single_current_key_are_refused() {
    let cases = [
        (format!(r#"{{"keys":[{}]}}"#, key("a", Some("next"))), "no key is current"),
        (format!(r#"{{"keys":[{},{}]}}"#, key("a", Some("current")), key("b", Some("current"))), "more than one"),
        (format!(r#"{{"keys":[{}]}}"#, key("a", Some("retired"))), "sealgate_state `retired`"),
    ];
    for (json, expected) in cases {
        let error = JwkSet::from_json(&json).unwrap_err();
        assert!(error.contains(expected), "{json}: {error}");
        assert!(!error.contains(&URL_SAFE_NO_PAD.encode([7u8; 32])), "no key material in errors: {error}");
    }
}

#[test]
fn a_staged_rotation_changes_what_seals_only_on_activate() {
    let mut set = JwkSet::generate(KeyAlg::Dir);
    let old = set.current().kid().to_owned();
    let next = set.add_generated(KeyAlg::A256Kw, KeyState::Next);
    assert_eq!(set.current().kid(), old, "a next key does not seal");
    assert_eq!(set.get(&next).unwrap().state(), KeyState::Next);
    assert!(set.get(&next).unwrap().created().is_some());

    assert!(set.activate("nope").unwrap_err().contains("no key `nope`"));
    assert_eq!(set.activate(&next).unwrap(), old);
    assert_eq!(set.current().kid(), next);
    assert_eq!(set.get(&old).unwrap().state(), KeyState::Previous);
    // An older sealgate takes the last key as current: it is written last.
    let written: serde_json::Value = serde_json::from_str(&set.to_json()).unwrap();
    assert_eq!(written["keys"][1]["kid"], next.as_str());
    assert_eq!(written["keys"][1]["sealgate_state"], "current");
    assert!(written["keys"][0].get("sealgate_state").is_none());

    assert!(set.retire(&next).unwrap_err().contains("is the current key"));
    assert!(set.retire("nope").unwrap_err().contains("no key `nope`"));
    assert_eq!(set.retire(&old).unwrap(), KeyState::Previous);
    assert_eq!(set.len(), 1);
    assert_eq!(set.current().kid(), next);
}

#[test]
fn age_comes_from_the_creation_member_or_the_kid_date() {
    let json = format!(r#"{{"keys":[{}]}}"#, key("20260101-abc", None));
    assert_eq!(JwkSet::from_json(&json).unwrap().current().created(), Some(1_767_225_600));
    let json = format!(r#"{{"keys":[{}]}}"#, key("primary", None));
    assert_eq!(JwkSet::from_json(&json).unwrap().current().created(), None);
    let stamped = key("primary", None).replace(r#""kty""#, r#""sealgate_created":1800000000,"kty""#);
    let json = format!(r#"{{"keys":[{stamped}]}}"#);
    assert_eq!(JwkSet::from_json(&json).unwrap().current().created(), Some(1_800_000_000));
}

#[test]
fn a_private_half_that_is_not_the_public_halfs_is_refused_for_every_kind() {
    use super::super::pair::{EncCurve, SignAlg};
    let kinds = [
        PairKind::Enc(EncCurve::P256),
        PairKind::Enc(EncCurve::X25519),
        PairKind::Sig(SignAlg::Es256),
        PairKind::Sig(SignAlg::EdDsa),
    ];
    for kind in kinds {
        let (enc, sig) = match kind {
            PairKind::Enc(_) => (kind, PairKind::Sig(SignAlg::Es256)),
            PairKind::Sig(_) => (PairKind::Enc(EncCurve::P256), kind),
        };
        let one: serde_json::Value =
            serde_json::from_str(&JwkSet::generate_nested(enc, sig).unwrap().to_json()).unwrap();
        let other: serde_json::Value =
            serde_json::from_str(&JwkSet::generate_nested(enc, sig).unwrap().to_json()).unwrap();
        let of_kind = |set: &serde_json::Value| {
            set["keys"].as_array().unwrap().iter().find(|k| k["alg"] == kind.alg() && k["crv"] == kind.crv()).cloned()
        };
        let theirs = of_kind(&other).unwrap();
        let mut mixed = one.clone();
        for key in mixed["keys"].as_array_mut().unwrap() {
            if key["alg"] == kind.alg() && key["crv"] == kind.crv() {
                // Another key's public half, this key's private half.
                key["x"] = theirs["x"].clone();
                key["y"] = theirs["y"].clone();
                if key["y"].is_null() {
                    key.as_object_mut().unwrap().remove("y");
                }
            }
        }
        assert!(of_kind(&one).is_some(), "{kind:?}");
        JwkSet::from_json(&one.to_string()).unwrap();
        let error = JwkSet::from_json(&mixed.to_string()).unwrap_err();
        assert!(error.contains("does not belong"), "{kind:?}: {error}");
    }
}
