//! RFC 7520 examples (JOSE cookbook, public domain; copied into
//! tests/vectors/jose-cookbook): our key loading and strict decryption path
//! must agree with them.

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
