//! RFC 7520 examples (JOSE cookbook, public domain; copied into
//! tests/vectors/jose-cookbook): our key loading and strict decryption path
//! must agree with them. (The signature check of the nested format's inner
//! layer is held to RFC 7515 A.3, ES256, and RFC 8037 A.4, EdDSA, in
//! `src/crypto/nested/tests.rs`: it is private to the sealer.)

use sealgate::crypto::jwe::{decrypt_with_key, split_strict};
use sealgate::crypto::keys::decode_oct;

fn vector(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/vectors/jose-cookbook/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check_compact(name: &str) {
    let v = vector(name);
    let key = decode_oct(&v["input"]["key"].to_string()).unwrap();
    assert_eq!(key.kid.as_deref(), v["input"]["key"]["kid"].as_str());
    let compact = v["output"]["compact"].as_str().unwrap();
    let alg = v["input"]["alg"].as_str().unwrap();
    let plaintext = decrypt_with_key(compact, alg, &key.secret, 8192).unwrap();
    assert_eq!(String::from_utf8(plaintext).unwrap(), v["input"]["plaintext"].as_str().unwrap());

    // The same token with its tag cut short is refused before decryption.
    let (rest, tag) = compact.rsplit_once('.').unwrap();
    for cut in [2, 11, 21] {
        assert!(decrypt_with_key(&format!("{rest}.{}", &tag[..cut]), alg, &key.secret, 8192).is_err());
    }
}

#[test]
fn rfc7520_5_6_direct_encryption_with_aes_gcm() {
    check_compact("5_6.direct_encryption_using_aes-gcm.json");
}

#[test]
fn rfc7520_5_8_key_wrap_with_aes_keywrap_and_aes_gcm() {
    check_compact("5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json");
}

#[test]
fn rfc7520_5_10_aad_exists_only_in_json_form_which_we_refuse() {
    let v = vector("5_10.including_additional_authentication_data.json");
    let key = decode_oct(&v["input"]["key"].to_string()).unwrap();
    assert_eq!(key.secret.len(), 16);
    // The key loads, and josekit decrypts the JSON serialization with it...
    let decrypter = josekit::jwe::A128KW.decrypter_from_bytes(&key.secret[..]).unwrap();
    let (plaintext, _) = josekit::jwe::deserialize_json(&v["output"]["json_flat"].to_string(), &decrypter).unwrap();
    assert_eq!(String::from_utf8(plaintext).unwrap(), v["input"]["plaintext"].as_str().unwrap());
    // ...but sealgate only accepts compact tokens: the JSON form never parses.
    assert!(split_strict(&v["output"]["json"].to_string(), 8192).is_err());
    assert!(split_strict(&v["output"]["json_flat"].to_string(), 8192).is_err());
}

#[test]
fn rfc7520_3_6_symmetric_key_loads() {
    let v = vector("3_6.symmetric_key_encryption.json");
    let key = decode_oct(&v.to_string()).unwrap();
    assert_eq!(key.kid.as_deref(), Some("1e571774-2e08-40da-8308-e8d68773842d"));
    assert_eq!(key.secret.len(), 32);
    // As a sealgate key set it is refused: its alg is a content encryption, not dir/A256KW.
    let set = format!("{{\"keys\":[{v}]}}");
    assert!(sealgate::crypto::keys::JwkSet::from_json(&set).unwrap_err().contains("A256GCM"));
}

/// RFC 7520 5.4 (ECDH-ES+A128KW on P-384, A128GCM): the outer layer of the
/// nested format. josekit decrypts it; our strict split and closed header
/// parse accept its shape and read its members; the nested sealer's pins
/// (ECDH-ES+A256KW, A256GCM, P-256 or X25519, `cty`, `typ`) refuse it.
#[test]
fn rfc7520_5_4_ecdh_es_key_agreement_with_key_wrapping() {
    use sealgate::crypto::nested::parse_outer_header;
    let v = vector("5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json");
    let compact = v["output"]["compact"].as_str().unwrap();
    let parts = split_strict(compact, 8192).unwrap();
    let header = parse_outer_header(parts.header).unwrap();
    assert_eq!(header.alg, "ECDH-ES+A128KW");
    assert_eq!(header.enc, "A128GCM");
    assert_eq!(header.kid.as_deref(), Some("peregrin.took@tuckborough.example"));
    assert_eq!((header.epk.kty.as_str(), header.epk.crv.as_str()), ("EC", "P-384"));
    assert!(header.cty.is_none() && header.typ.is_none(), "no cty or typ: not a header we issue");

    let key = josekit::jwk::Jwk::from_bytes(v["input"]["key"].to_string()).unwrap();
    let decrypter = josekit::jwe::ECDH_ES_A128KW.decrypter_from_jwk(&key).unwrap();
    let (plaintext, _) = josekit::jwe::deserialize_compact(compact, &decrypter).unwrap();
    assert_eq!(String::from_utf8(plaintext).unwrap(), v["input"]["plaintext"].as_str().unwrap());

    // A cut tag never gets past the split.
    let (rest, tag) = compact.rsplit_once('.').unwrap();
    for cut in [2, 11, 21] {
        assert!(split_strict(&format!("{rest}.{}", &tag[..cut]), 8192).is_err());
    }
    // A member added to its epk is refused by the closed shape.
    let mut raw: serde_json::Value = serde_json::from_str(&v["encrypting_content"]["protected"].to_string()).unwrap();
    raw["epk"]["d"] = "AAAA".into();
    let edited = base64_url(&serde_json::to_vec(&raw).unwrap());
    assert!(parse_outer_header(&edited).is_err());
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 8037 A.4 (EdDSA with the Ed25519 key of A.1): the inner layer of
/// the nested format. The key loads into a sealgate key set as a signing
/// key; josekit signs the payload to exactly the RFC's signature (Ed25519
/// is deterministic) and verifies it; our inner split accepts the JWS, and
/// the sealer's pins (a `kid` and `typ` of ours) refuse it as a session.
#[test]
fn rfc8037_a_4_ed25519_signature() {
    use sealgate::crypto::keys::{EncCurve, JwkSet, PairKind, SignAlg};
    use sealgate::crypto::nested::split_inner;
    let path = format!("{}/tests/vectors/rfc8037/a_4.ed25519_signing.json", env!("CARGO_MANIFEST_DIR"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let compact = v["output"]["compact"].as_str().unwrap();
    let payload = v["input"]["payload"].as_str().unwrap();

    // Into a nested key set, in place of a generated signing key.
    let generated = JwkSet::generate_nested(PairKind::Enc(EncCurve::X25519), PairKind::Sig(SignAlg::EdDsa)).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&generated.to_json()).unwrap();
    for key in file["keys"].as_array_mut().unwrap().iter_mut().filter(|k| k["use"] == "sig") {
        key["x"] = v["input"]["key"]["x"].clone();
        key["d"] = v["input"]["key"]["d"].clone();
    }
    let set = JwkSet::from_json(&file.to_string()).unwrap();
    let rfc_key = set.current_pair(false).unwrap();
    // ...and a `d` that is not `x`'s is refused.
    let mut mismatched = file.clone();
    for key in mismatched["keys"].as_array_mut().unwrap().iter_mut().filter(|k| k["use"] == "sig") {
        key["d"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    }
    assert!(JwkSet::from_json(&mismatched.to_string()).unwrap_err().contains("does not belong"));

    let signer = josekit::jws::EdDSA.signer_from_jwk(&rfc_key.private_jwk().unwrap()).unwrap();
    let (input, signature) = compact.rsplit_once('.').unwrap();
    use josekit::jws::JwsSigner as _;
    assert_eq!(base64_url(&signer.sign(input.as_bytes()).unwrap()), signature, "the RFC's signature, exactly");
    // A verifier from our key (it carries our kid) demands a kid, which the RFC's JWS lacks...
    let ours = josekit::jws::EdDSA.verifier_from_jwk(&rfc_key.public_jwk()).unwrap();
    assert!(josekit::jws::deserialize_compact(compact, &ours).is_err());
    // ...the RFC's key as it is verifies it.
    let rfc_jwk = josekit::jwk::Jwk::from_bytes(v["input"]["key"].to_string()).unwrap();
    let verifier = josekit::jws::EdDSA.verifier_from_jwk(&rfc_jwk.to_public_key().unwrap()).unwrap();
    let (verified, _) = josekit::jws::deserialize_compact(compact, &verifier).unwrap();
    assert_eq!(verified, payload.as_bytes());
    assert_eq!(rfc_key.public_jwk().parameter("x"), rfc_jwk.parameter("x"));

    let inner = split_inner(compact, 8192).unwrap();
    assert_eq!(inner.header.alg, "EdDSA");
    assert!(inner.header.kid.is_none(), "no kid: the sealer would refuse it as a session (unknown signer)");
    let tampered = format!("{input}.{}", &signature[..signature.len() - 2]);
    assert!(josekit::jws::deserialize_compact(&tampered, &verifier).is_err());
}
