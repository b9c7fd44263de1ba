#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Sealing and opening a realistic session (about 1.5 KB sealed), with both
//! symmetric key algorithms and both nested kinds (ES256 inside
//! ECDH-ES+A256KW on P-256; EdDSA inside it on X25519), and the cost of
//! refusing garbage.
//!
//! Run: `cargo bench --bench seal_open` (quick: `-- --warm-up-time 1 --measurement-time 3`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::Rng;
use sealgate::clock::{SharedClock, SystemClock};
use sealgate::config::SessionFormat;
use sealgate::crypto::jwe::OpenError;
use sealgate::crypto::keys::{EncCurve, JwkSet, KeyAlg, PairKind, SignAlg};
use sealgate::identity::User;
use sealgate::session::{Lifetimes, Session, SessionCodec, SessionError};
use std::hint::black_box;
use std::sync::Arc;

/// The sealed size the benchmarks aim for, in bytes.
const TARGET_TOKEN_BYTES: usize = 1500;
/// As in config/sealgate.toml.
const MAX_TOKEN_BYTES: usize = 16384;
const LIFETIMES: Lifetimes = Lifetimes { idle: 7 * 24 * 3600, absolute: 30 * 24 * 3600 };

fn codec(alg: KeyAlg) -> SessionCodec {
    let clock: SharedClock = Arc::new(SystemClock);
    SessionCodec::new(&JwkSet::generate(alg), clock, LIFETIMES, MAX_TOKEN_BYTES).expect("codec")
}

/// A codec sealing in the nested format, as `sealgate keygen --alg ECDH-ES+A256KW` sets it up.
fn nested_codec(enc: EncCurve, sig: SignAlg) -> SessionCodec {
    let clock: SharedClock = Arc::new(SystemClock);
    let set = JwkSet::generate_nested(PairKind::Enc(enc), PairKind::Sig(sig)).expect("nested keys");
    SessionCodec::in_format(&set, clock, LIFETIMES, MAX_TOKEN_BYTES, SessionFormat::Nested, false).expect("codec")
}

fn user(groups: usize) -> User {
    let mut user = User::new("00u1a2b3c4d5e6f7g8h9");
    user.username = Some("bench-user".into());
    user.email = Some("bench.user@example.com".into());
    user.name = Some("Bench User".into());
    user.groups = (0..groups).map(|i| format!("engineering-platform-team-{i:02}")).collect();
    user
}

/// A session whose `dir`-sealed token is just over [`TARGET_TOKEN_BYTES`].
fn session(codec: &SessionCodec) -> Session {
    for groups in 0..256 {
        let session = codec.start_with_ttl(user(groups), "credentials", 3600, None).expect("session");
        if codec.seal(&session).expect("seal").len() >= TARGET_TOKEN_BYTES {
            return session;
        }
    }
    panic!("could not reach {TARGET_TOKEN_BYTES} bytes");
}

/// `token` with its tag segment cut short: refused by the strict parser.
fn truncated_tag(token: &str) -> String {
    let (rest, tag) = token.rsplit_once('.').expect("five segments");
    format!("{rest}.{}", &tag[..tag.len() / 2])
}

/// `token` with one tag byte changed, still well formed: it reaches AES-GCM.
fn flipped_tag(token: &str) -> String {
    let (rest, tag) = token.rsplit_once('.').expect("five segments");
    let first = if tag.starts_with('A') { 'B' } else { 'A' };
    format!("{rest}.{first}{}", &tag[1..])
}

/// Random printable junk of `len` bytes, none of it base64url or a dot.
fn junk(len: usize) -> String {
    const CHARS: &[u8] = b"!#$%&()*+,/:<>?@[]^{|}~";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

fn seal_open(c: &mut Criterion) {
    let dir = codec(KeyAlg::Dir);
    let a256kw = codec(KeyAlg::A256Kw);
    let p256 = nested_codec(EncCurve::P256, SignAlg::Es256);
    let x25519 = nested_codec(EncCurve::X25519, SignAlg::EdDsa);
    let session = session(&dir);
    let codecs = [("dir", &dir), ("A256KW", &a256kw), ("nested-P256-ES256", &p256), ("nested-X25519-EdDSA", &x25519)];

    let mut tokens = Vec::new();
    for (alg, codec) in codecs {
        let token = codec.seal(&session).expect("seal");
        assert_eq!(codec.open(&token).expect("open").user, session.user);
        println!("{alg}: sealed session is {} bytes ({} groups)", token.len(), session.user.groups.len());
        tokens.push((alg, codec, token));
    }

    let mut group = c.benchmark_group("seal");
    for (alg, codec) in codecs {
        group.bench_function(BenchmarkId::from_parameter(alg), |b| b.iter(|| codec.seal(black_box(&session))));
    }
    group.finish();

    // The first time a token is seen: strict parse, decryption, JSON, checks.
    let mut group = c.benchmark_group("open_uncached");
    for (alg, codec, token) in &tokens {
        group.bench_function(BenchmarkId::from_parameter(alg), |b| b.iter(|| codec.open_uncached(black_box(token))));
    }
    group.finish();

    // Every later request with it: the hot path (cache hit, times re-checked).
    let mut group = c.benchmark_group("open");
    for (alg, codec, token) in &tokens {
        group.bench_function(BenchmarkId::from_parameter(alg), |b| b.iter(|| codec.open(black_box(token))));
    }
    group.finish();

    // Garbage, against the `dir` codec, compared with opening a valid token there.
    let (_, _, valid) = &tokens[0];
    let garbage = [
        ("truncated_tag", truncated_tag(valid), SessionError::Sealed(OpenError::TagLength)),
        ("junk", junk(valid.len()), SessionError::Sealed(OpenError::Segments)),
        ("flipped_tag", flipped_tag(valid), SessionError::Sealed(OpenError::Decrypt)),
    ];
    // Uncached, so each figure is the cost of meeting that input for the first time.
    let mut group = c.benchmark_group("open_garbage");
    group.bench_function("valid_dir", |b| b.iter(|| dir.open_uncached(black_box(valid))));
    for (name, token, expected) in &garbage {
        assert_eq!(dir.open_uncached(token).expect_err(name), *expected, "{name}");
        group.bench_function(*name, |b| b.iter(|| dir.open_uncached(black_box(token))));
    }
    group.finish();
}

criterion_group!(benches, seal_open);
criterion_main!(benches);
