//! How long `/auth/verify`'s revocation check takes: one lookup in a
//! `RevocationView` holding 100,000 revoked sessions and 1,000 user marks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sealgate::clock::SystemClock;
use sealgate::config::store::WhenUnavailable;
use sealgate::store::{FeedEvent, Revocation, RevocationSnapshot, RevocationView};
use std::sync::Arc;

const SESSIONS: usize = 100_000;

fn filled_view() -> Arc<RevocationView> {
    let until = i64::MAX;
    let mut snapshot = RevocationSnapshot::default();
    for i in 0..SESSIONS {
        snapshot.apply(&Revocation::Session { id: format!("session-{i:08}-{:016x}", i * 7919), until });
    }
    for i in 0..1_000 {
        snapshot.apply(&Revocation::User { user: format!("user-{i}@example.com"), before: 1_000, until });
    }
    let view = RevocationView::new(Arc::new(SystemClock), WhenUnavailable::ServeKnown);
    view.apply([FeedEvent::Snapshot(snapshot)]);
    view
}

fn lookups(c: &mut Criterion) {
    let view = filled_view();
    assert_eq!(view.len(), SESSIONS + 1_000);
    let revoked = format!("session-{:08}-{:016x}", 4_242, 4_242 * 7919);
    let valid = "session-not-revoked-0000000000000000".to_owned();

    let mut group = c.benchmark_group("revocation_view_100k");
    group.bench_function("revoked_session", |b| {
        b.iter(|| {
            view.check(black_box(&revoked), black_box("corp"), black_box("someone@example.com"), black_box(2_000))
        })
    });
    group.bench_function("valid_session", |b| {
        b.iter(|| view.check(black_box(&valid), black_box("corp"), black_box("someone@example.com"), black_box(2_000)))
    });
    group.bench_function("valid_session_of_a_marked_user", |b| {
        b.iter(|| view.check(black_box(&valid), black_box("corp"), black_box("user-7@example.com"), black_box(2_000)))
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
