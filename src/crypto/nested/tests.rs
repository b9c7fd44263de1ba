use super::*;
use crate::crypto::keys::{PairKind, Purpose};
use serde_json::{json, Value};

fn nested_set(enc: EncCurve, sig: SignAlg) -> JwkSet {
    JwkSet::generate_nested(PairKind::Enc(enc), PairKind::Sig(sig)).unwrap()
}

fn sealer(set: &JwkSet) -> NestedSealer {
    NestedSealer::new(set, Purpose::Session, 8192).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

const ALL: [(EncCurve, SignAlg); 2] = [(EncCurve::P256, SignAlg::Es256), (EncCurve::X25519, SignAlg::EdDsa)];

#[test]
fn round_trips_with_both_key_kinds_and_headers_are_exactly_ours() {
    for (enc, sig) in ALL {
        let set = nested_set(enc, sig);
        let s = sealer(&set);
        assert!(s.can_seal());
        let token = s.seal(b"{\"hello\":1}").unwrap();
        assert_eq!(s.open(&token).unwrap(), b"{\"hello\":1}");
        let outer = decode(token.split('.').next().unwrap());
        let members: Vec<&str> = outer.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(members.len(), 6, "{outer}");
        assert_eq!(outer["alg"], "ECDH-ES+A256KW");
        assert_eq!(outer["enc"], "A256GCM");
        assert_eq!(outer["cty"], "JWT");
        assert_eq!(outer["typ"], "sealgate-session");
        assert_eq!(outer["kid"], set.current_pair(true).unwrap().kid());
        assert_eq!(outer["epk"]["crv"], enc.as_str());
        // The inner JWS, decrypted with josekit directly.
        let jwk = set.current_pair(true).unwrap().private_jwk().unwrap();
        let decrypter = jwe::ECDH_ES_A256KW.decrypter_from_jwk(&jwk).unwrap();
        let (inner, _) = jwe::deserialize_compact(&token, &decrypter).unwrap();
        let inner = String::from_utf8(inner).unwrap();
        let header = decode(inner.split('.').next().unwrap());
        assert_eq!(
            header,
            json!({"alg": sig.as_str(), "kid": set.current_pair(false).unwrap().kid(), "typ": "sealgate-session"})
        );
    }
}

/// Seal a JWE around `inner` to the set's encryption key with `header`
/// members changed, the way an attacker holding the public key could.
fn encrypt_to(set: &JwkSet, inner: &[u8], edit: impl Fn(&mut JweHeader)) -> String {
    let enc = set.current_pair(true).unwrap();
    let encrypter = jwe::ECDH_ES_A256KW.encrypter_from_jwk(&enc.public_jwk()).unwrap();
    let mut header = JweHeader::new();
    header.set_content_encryption(ENC);
    header.set_key_id(enc.kid());
    header.set_content_type(CTY);
    header.set_token_type("sealgate-session");
    edit(&mut header);
    jwe::serialize_compact(inner, &header, &encrypter).unwrap()
}

#[test]
fn outer_headers_out_of_shape_are_refused_before_decryption() {
    let set = nested_set(EncCurve::P256, SignAlg::Es256);
    let s = sealer(&set);
    let good = s.seal(b"x").unwrap();
    let inner = {
        let jwk = set.current_pair(true).unwrap().private_jwk().unwrap();
        let decrypter = jwe::ECDH_ES_A256KW.decrypter_from_jwk(&jwk).unwrap();
        jwe::deserialize_compact(&good, &decrypter).unwrap().0
    };
    // The same inner JWS re-encrypted with our exact header opens: the test harness is sound.
    assert_eq!(s.open(&encrypt_to(&set, &inner, |_| {})).unwrap(), b"x");
    type Edit = Box<dyn Fn(&mut JweHeader)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("unknown kid", Box::new(|h| h.set_key_id("nobody"))),
        ("no cty", Box::new(|h| h.set_claim("cty", None).unwrap())),
        ("other cty", Box::new(|h| h.set_content_type("jwt+other"))),
        ("other typ", Box::new(|h| h.set_token_type("sealgate-flow"))),
        ("jku", Box::new(|h| h.set_claim("jku", Some(json!("https://evil.example/jwks"))).unwrap())),
        ("jwk", Box::new(|h| h.set_claim("jwk", Some(json!({"kty": "EC"}))).unwrap())),
        ("x5u", Box::new(|h| h.set_claim("x5u", Some(json!("https://evil.example/x5u"))).unwrap())),
        ("crit", Box::new(|h| h.set_claim("crit", Some(json!(["exp"]))).unwrap())),
        ("apu", Box::new(|h| h.set_claim("apu", Some(json!("YWxpY2U"))).unwrap())),
        ("zip", Box::new(|h| h.set_claim("zip", Some(json!("DEF"))).unwrap())),
    ];
    for (what, edit) in cases {
        let token = encrypt_to(&set, &inner, edit);
        assert_eq!(s.open(&token).unwrap_err(), OpenError::UnknownHeader, "{what}");
    }
}

#[test]
fn hand_made_outer_headers_are_refused() {
    let set = nested_set(EncCurve::P256, SignAlg::Es256);
    let s = sealer(&set);
    let token = s.seal(b"x").unwrap();
    let (header, rest) = token.split_once('.').unwrap();
    let ours = decode(header);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut h = ours.clone();
        edit(&mut h);
        format!("{}.{rest}", b64(&h))
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg ECDH-ES", with(&|h| h["alg"] = json!("ECDH-ES"))),
        ("alg A256KW", with(&|h| h["alg"] = json!("A256KW"))),
        ("enc A128GCM", with(&|h| h["enc"] = json!("A128GCM"))),
        ("epk extra member", with(&|h| h["epk"]["d"] = json!("AAAA"))),
        ("epk other curve", with(&|h| h["epk"]["crv"] = json!("X25519"))),
        ("epk short x", with(&|h| h["epk"]["x"] = json!("AAAA"))),
        ("epk no y", with(&|h| h["epk"].as_object_mut().unwrap().remove("y").map(|_| ()).unwrap_or(()))),
        ("kid a number", with(&|h| h["kid"] = json!(7))),
        ("no epk", with(&|h| h.as_object_mut().unwrap().remove("epk").map(|_| ()).unwrap_or(()))),
        ("an array", format!("{}.{rest}", b64(&json!([ours.clone()])))),
        ("too long", with(&|h| h["typ"] = json!("x".repeat(MAX_OUTER_HEADER)))),
    ];
    for (what, token) in cases {
        assert_eq!(s.open(&token).unwrap_err(), OpenError::UnknownHeader, "{what}");
    }
    // A member named twice (serde's derived structs refuse the second).
    let text = serde_json::to_string(&ours).unwrap();
    let twice = format!("{},\"alg\":\"ECDH-ES+A256KW\"}}", text.strip_suffix('}').unwrap());
    let token = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(twice));
    assert_eq!(s.open(&token).unwrap_err(), OpenError::UnknownHeader);
}

#[test]
fn a_truncated_tag_or_wrapped_key_never_reaches_josekit() {
    let set = nested_set(EncCurve::X25519, SignAlg::EdDsa);
    let s = sealer(&set);
    let token = s.seal(b"payload").unwrap();
    let (rest, tag) = token.rsplit_once('.').unwrap();
    for cut in 1..tag.len() {
        assert!(s.open(&format!("{rest}.{}", &tag[..cut])).is_err(), "tag cut to {cut}");
    }
    let parts: Vec<&str> = token.split('.').collect();
    let wrapped = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let short = URL_SAFE_NO_PAD.encode(&wrapped[..39]);
    let short_key = [parts[0], &short, parts[2], parts[3], parts[4]].join(".");
    assert_eq!(s.open(&short_key).unwrap_err(), OpenError::EncryptedKey);
}

/// A JWS with `header` over `payload`, signed by the set's signing key (or
/// by `other`'s), to wrap in a JWE to the set's encryption key.
fn signed(key: &crate::crypto::keys::PairKey, header: Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(&header), URL_SAFE_NO_PAD.encode(payload));
    let signer = jws::ES256.signer_from_jwk(&key.private_jwk().unwrap()).unwrap();
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[test]
fn inner_tokens_out_of_shape_or_signed_by_another_key_are_refused() {
    let set = nested_set(EncCurve::P256, SignAlg::Es256);
    let s = sealer(&set);
    let sig = set.current_pair(false).unwrap();
    let kid = sig.kid();
    let ok = json!({"alg": "ES256", "kid": kid, "typ": "sealgate-session"});
    assert_eq!(s.open(&encrypt_to(&set, signed(sig, ok, b"p").as_bytes(), |_| {})).unwrap(), b"p");

    let forger = nested_set(EncCurve::P256, SignAlg::Es256);
    let forged_sig = forger.current_pair(false).unwrap();
    let cases: Vec<(&str, String, OpenError)> = vec![
        (
            "another signing key, our kid",
            signed(forged_sig, json!({"alg": "ES256", "kid": kid, "typ": "sealgate-session"}), b"p"),
            OpenError::Signature,
        ),
        (
            "another signing key, its own kid",
            signed(forged_sig, json!({"alg": "ES256", "kid": forged_sig.kid(), "typ": "sealgate-session"}), b"p"),
            OpenError::UnknownSigner,
        ),
        (
            "alg none",
            signed(sig, json!({"alg": "none", "kid": kid, "typ": "sealgate-session"}), b"p"),
            OpenError::UnknownSigner,
        ),
        (
            "alg EdDSA",
            signed(sig, json!({"alg": "EdDSA", "kid": kid, "typ": "sealgate-session"}), b"p"),
            OpenError::UnknownSigner,
        ),
        ("no kid", signed(sig, json!({"alg": "ES256", "typ": "sealgate-session"}), b"p"), OpenError::UnknownSigner),
        (
            "other typ",
            signed(sig, json!({"alg": "ES256", "kid": kid, "typ": "sealgate-flow"}), b"p"),
            OpenError::UnknownSigner,
        ),
        (
            "jwk member",
            signed(sig, json!({"alg": "ES256", "kid": kid, "typ": "sealgate-session", "jwk": {}}), b"p"),
            OpenError::Inner,
        ),
        (
            "crit member",
            signed(sig, json!({"alg": "ES256", "kid": kid, "typ": "sealgate-session", "crit": ["b64"]}), b"p"),
            OpenError::Inner,
        ),
        ("not a JWS", "hello".into(), OpenError::Inner),
        (
            "four segments",
            format!("{}.x", signed(sig, json!({"alg": "ES256", "kid": kid, "typ": "sealgate-session"}), b"p")),
            OpenError::Inner,
        ),
    ];
    for (what, inner, expected) in cases {
        let token = encrypt_to(&set, inner.as_bytes(), |_| {});
        assert_eq!(s.open(&token).unwrap_err(), expected, "{what}");
    }
    // A signature of the wrong length is refused before josekit.
    let good = signed(sig, json!({"alg": "ES256", "kid": kid, "typ": "sealgate-session"}), b"p");
    let (input, signature) = good.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let short = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature[..63]));
    assert_eq!(s.open(&encrypt_to(&set, short.as_bytes(), |_| {})).unwrap_err(), OpenError::Signature);
}

#[test]
fn a_verify_only_set_opens_but_cannot_seal() {
    let full = nested_set(EncCurve::P256, SignAlg::Es256);
    let token = sealer(&full).seal(b"s").unwrap();
    let verify = full.verify_only().unwrap();
    assert!(!verify.can_sign());
    assert!(!verify.holds_minting_keys());
    assert!(full.holds_minting_keys());
    let s = sealer(&verify);
    assert!(!s.can_seal());
    assert!(matches!(s.seal(b"s"), Err(SealError::CannotSign)));
    assert_eq!(s.open(&token).unwrap(), b"s");
    // What the verify-only set's file holds: no `d` on a signing key, no root symmetric key.
    let text = verify.to_json();
    let again = JwkSet::from_json(&text).unwrap();
    assert!(again.same_keys(&verify));
    let file: Value = serde_json::from_str(&text).unwrap();
    for key in file["keys"].as_array().unwrap() {
        match key["use"].as_str() {
            Some("sig") => assert!(key.get("d").is_none(), "{key}"),
            _ if key["kty"] == "oct" => assert_eq!(key["sealgate_purpose"], "provider-tokens", "{key}"),
            _ => assert!(key.get("d").is_some(), "{key}"),
        }
    }
    // ...and the symmetric sealer built from it has nothing to seal or open sessions with.
    let sealed = crate::crypto::jwe::Sealer::new(&verify, Purpose::Session, 8192).unwrap();
    assert!(!sealed.can_seal());
    let sealed_token = crate::crypto::jwe::Sealer::new(&full, Purpose::Session, 8192).unwrap().seal(b"s").unwrap();
    assert!(sealed.open(&sealed_token).is_err());
}

#[test]
fn a_staged_rotation_of_key_pairs() {
    let mut set = nested_set(EncCurve::P256, SignAlg::Es256);
    let ring = crate::crypto::keys::KeyRing::new(set.clone());
    let s = NestedSealer::new(&ring.set(), Purpose::Session, 8192).unwrap();
    let old = s.seal(b"old").unwrap();
    let old_enc = set.current_pair(true).unwrap().kid().to_owned();
    let old_sig = set.current_pair(false).unwrap().kid().to_owned();
    let next_enc = set.add_generated_pair(PairKind::Enc(EncCurve::X25519), KeyState::Next).unwrap();
    let next_sig = set.add_generated_pair(PairKind::Sig(SignAlg::EdDsa), KeyState::Next).unwrap();
    ring.replace(JwkSet::from_json(&set.to_json()).unwrap()).unwrap();
    let kid = |t: &str| decode(t.split('.').next().unwrap())["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid(&s.seal(b"x").unwrap()), old_enc, "next keys do not seal");
    set.activate(&next_enc).unwrap();
    set.activate(&next_sig).unwrap();
    ring.replace(set.clone()).unwrap();
    let new = s.seal(b"new").unwrap();
    assert_eq!(kid(&new), next_enc);
    assert_eq!(s.open(&old).unwrap(), b"old", "previous keys still open");
    set.retire(&old_enc).unwrap();
    set.retire(&old_sig).unwrap();
    ring.replace(set).unwrap();
    assert_eq!(s.open(&old).unwrap_err(), OpenError::UnknownHeader);
    assert_eq!(s.open(&new).unwrap(), b"new");
}

#[test]
fn purposes_do_not_cross() {
    let set = nested_set(EncCurve::P256, SignAlg::Es256);
    let token = NestedSealer::new(&set, Purpose::Flow, 8192).unwrap().seal(b"x").unwrap();
    assert_eq!(sealer(&set).open(&token).unwrap_err(), OpenError::UnknownHeader);
}

#[test]
fn formats_open_each_other_only_while_accepted() {
    use crate::config::SessionFormat::{Nested, Sealed};
    let set = nested_set(EncCurve::P256, SignAlg::Es256);
    let make = |format, accept| SessionSealer::new(&set, Purpose::Session, 8192, format, accept).unwrap();
    let sealed_token = make(Sealed, false).seal(b"sealed").unwrap();
    let nested_token = make(Nested, false).seal(b"nested").unwrap();
    assert_eq!(sealed_token.split('.').count(), 5);
    assert_ne!(decode(sealed_token.split('.').next().unwrap())["alg"], "ECDH-ES+A256KW");
    for format in [Sealed, Nested] {
        let both = make(format, true);
        assert_eq!(both.open(&sealed_token).unwrap(), b"sealed");
        assert_eq!(both.open(&nested_token).unwrap(), b"nested");
    }
    assert_eq!(make(Sealed, false).open(&nested_token).unwrap_err(), OpenError::UnknownHeader);
    assert_eq!(make(Nested, false).open(&sealed_token).unwrap_err(), OpenError::UnknownHeader);
    // Without key pairs the nested format opens nothing, accepted or not.
    let oct_only = JwkSet::generate(crate::crypto::keys::KeyAlg::Dir);
    let sealed_only = SessionSealer::new(&oct_only, Purpose::Session, 8192, Sealed, true).unwrap();
    assert_eq!(sealed_only.open(&nested_token).unwrap_err(), OpenError::UnknownHeader);
}

#[test]
fn debug_shows_no_key_material() {
    let set = nested_set(EncCurve::P256, SignAlg::Es256);
    let shown = format!("{set:?} {:?}", sealer(&set));
    let json: Value = serde_json::from_str(&set.to_json()).unwrap();
    for key in json["keys"].as_array().unwrap() {
        for member in ["d", "k"] {
            if let Some(secret) = key[member].as_str() {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}

/// A published example under tests/vectors.
fn vector(file: &str) -> Value {
    let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A nested key set whose signing key is the example's (under our kid), with
/// its private half or, as a verify-only replica holds it, without.
fn set_with_vector_key(v: &Value, sig: SignAlg, private: bool) -> JwkSet {
    let enc = match sig {
        SignAlg::Es256 => EncCurve::P256,
        SignAlg::EdDsa => EncCurve::X25519,
    };
    let mut file: Value = serde_json::from_str(&nested_set(enc, sig).to_json()).unwrap();
    for key in file["keys"].as_array_mut().unwrap().iter_mut().filter(|k| k["use"] == "sig") {
        let key = key.as_object_mut().unwrap();
        key.remove("d");
        for member in ["x", "y", "d"].into_iter().filter(|m| private || *m != "d") {
            if let Some(value) = v["input"]["key"].get(member) {
                key.insert(member.into(), value.clone());
            }
        }
    }
    let set = JwkSet::from_json(&file.to_string()).unwrap();
    if private {
        set
    } else {
        set.verify_only().unwrap()
    }
}

/// The known answers of the inner layer's signature check (`SigKey::verify`,
/// what `open` runs once the JWS is pinned to a key): RFC 7515 A.3 (ES256,
/// P-256) and RFC 8037 A.4 (EdDSA, Ed25519). ECDSA signs with a random
/// nonce, so the known answer is that the published signature verifies
/// under the published public key, not that we sign the same bytes.
///
/// The examples' headers are `{"alg":...}` alone: `open` refuses them as
/// no signer of ours (no `kid`, no `typ`; asserted below), and a `kid`
/// added would change what is signed. So the check below `open`'s pins is
/// driven directly, with a key set holding the RFC key as a verify-only
/// replica does (its public half, our kid).
#[test]
fn the_signature_check_gives_the_published_answers_of_rfc_7515_a_3_and_rfc_8037_a_4() {
    for (file, alg) in
        [("rfc7515/a_3.es256_signing.json", SignAlg::Es256), ("rfc8037/a_4.ed25519_signing.json", SignAlg::EdDsa)]
    {
        let v = vector(file);
        let compact = v["output"]["compact"].as_str().unwrap();
        let payload = v["input"]["payload"].as_str().unwrap().as_bytes();
        assert!(set_with_vector_key(&v, alg, true).can_sign(), "{file}: the RFC's d belongs to its public key");
        let set = set_with_vector_key(&v, alg, false);
        assert!(!set.can_sign() && !set.holds_minting_keys());
        let key = NestedKeys::build(&set).unwrap().sig.pop().unwrap();
        assert_eq!(key.alg, alg);

        // Accepted: the strict split reads it, and the published signature verifies.
        let inner = split_inner(compact, 8192).unwrap();
        assert_eq!((inner.header.alg.as_str(), inner.header.kid.as_deref()), (alg.as_str(), None));
        assert_eq!(key.verify(&inner).unwrap(), payload, "{file}");

        // Refused: one byte of the signature (in r and in s, for ES256) or of the payload changed.
        let (header, rest) = compact.split_once('.').unwrap();
        let (payload_segment, signature) = rest.split_once('.').unwrap();
        let flipped = |segment: &str, at: usize| {
            let mut bytes = URL_SAFE_NO_PAD.decode(segment).unwrap();
            bytes[at] ^= 0x01;
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let mut edited = Vec::new();
        for at in [0, 31, 32, 63] {
            edited.push(format!("{header}.{payload_segment}.{}", flipped(signature, at)));
        }
        for at in [0, payload.len() - 1] {
            edited.push(format!("{header}.{}.{signature}", flipped(payload_segment, at)));
        }
        for token in &edited {
            let inner = split_inner(token, 8192).unwrap();
            assert_eq!(key.verify(&inner).unwrap_err(), OpenError::Signature, "{file}: {token}");
        }
        // Refused under another key of the same algorithm.
        let other = set_with_vector_key(&json!({"input": {"key": {}}}), alg, false);
        let other_key = NestedKeys::build(&other).unwrap().sig.pop().unwrap();
        assert_eq!(other_key.verify(&inner).unwrap_err(), OpenError::Signature, "{file}");

        // Inside an outer layer of ours, `open` refuses it before the check: it names no key of ours.
        let token = encrypt_to(&set, compact.as_bytes(), |_| {});
        assert_eq!(sealer(&set).open(&token).unwrap_err(), OpenError::UnknownSigner, "{file}");
    }
}
