#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Evaluating a realistic 20-rule policy the way `/auth/verify` does on every
//! request: normalise the forwarded target, parse the `allow_*` narrowing,
//! decide. The matching rule is the 18th, so 17 rules are tried first.
//!
//! Run: `cargo bench --bench policy` (quick: `-- --warm-up-time 1 --measurement-time 3`).

use criterion::{criterion_group, criterion_main, Criterion};
use sealgate::config::{Access, PolicySettings, RuleSettings};
use sealgate::identity::User;
use sealgate::policy::{normalize_path, AllowLists, Decision, Policy, Principal, Target};
use std::hint::black_box;

const HOST: &str = "app.example.com";
/// Already normal: no decoding, no dot segments, lower case. Rule 18 matches it.
const NORMAL_URI: &str = "/projects/sealgate/settings/members";
/// The same path with encoding, dot segments, `//`, case and `;params`.
const TRICKY_URI: &str = "/Projects/%2e%2e/projects/SealGate/./Settings//members;jsessionid=1F2E3D?tab=roles";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn paths(items: &[&str], allow: Access) -> RuleSettings {
    RuleSettings { paths: strings(items), allow, ..RuleSettings::default() }
}

/// 20 rules: public assets, host rules, prefixes, globs, every kind of
/// allow-list, a deny rule; rule 18 covers `/projects/*/settings/**`.
fn settings() -> PolicySettings {
    let mut rules = vec![
        paths(&["/healthz", "/favicon.ico", "/assets/**", "/static/*.css"], Access::Public),
        RuleSettings { hosts: strings(&["status.example.com"]), ..paths(&[], Access::Public) },
        RuleSettings {
            groups: strings(&["admins"]),
            ..paths(&["/admin", "/internal/**/debug"], Access::Authenticated)
        },
        RuleSettings {
            hosts: strings(&[".ops.example.com"]),
            groups: strings(&["ops", "sre"]),
            ..RuleSettings::default()
        },
        RuleSettings { scopes: strings(&["reports:read"]), ..paths(&["/api/reports"], Access::Authenticated) },
        RuleSettings {
            emails: strings(&["cfo@example.com", "Finance.Lead@Example.com"]),
            groups: strings(&["finance"]),
            ..paths(&["/billing", "/invoices/*/pdf"], Access::Authenticated)
        },
        RuleSettings {
            email_domains: strings(&["partner.test", "vendor.test"]),
            ..paths(&["/partners"], Access::Authenticated)
        },
        paths(&["/files/*/raw", "/docs/**/edit"], Access::Deny),
        RuleSettings {
            hosts: strings(&["grafana.example.com"]),
            groups: strings(&["grafana-admins"]),
            ..paths(&["/api/datasources", "/admin"], Access::Authenticated)
        },
        RuleSettings { fresh_token: true, ..paths(&["/api/upstream"], Access::Authenticated) },
        RuleSettings { providers: strings(&["corp"]), ..paths(&["/corp"], Access::Authenticated) },
    ];
    // Rules 12 to 17: per-team sections on their own hosts and paths.
    for team in 12..=17 {
        rules.push(RuleSettings {
            hosts: strings(&[&format!("team{team}.example.com")]),
            groups: vec![format!("team-{team}")],
            ..paths(&[&format!("/section-{team}"), &format!("/files-{team}/*/part-*")], Access::Authenticated)
        });
    }
    // Rule 18: the one the benchmarks hit.
    rules.push(RuleSettings {
        groups: strings(&["Staff", "engineering-platform-team-25"]),
        emails: strings(&["owner@example.com"]),
        ..paths(&["/projects/*/settings/**", "/projects/*/danger"], Access::Authenticated)
    });
    rules.push(paths(&["/search"], Access::Public));
    rules.push(RuleSettings { groups: strings(&["support"]), ..paths(&["/support/**"], Access::Authenticated) });
    assert_eq!(rules.len(), 20);
    PolicySettings {
        default: Access::Authenticated,
        rules,
        permissions: [("staff".to_owned(), strings(&["read:projects", "write:projects:own"]))].into(),
    }
}

fn user(groups: &[String]) -> User {
    let mut user = User::new("00u1a2b3c4d5e6f7g8h9");
    user.username = Some("bench-user".into());
    user.email = Some("Bench.User@example.com".into());
    user.groups = groups.to_vec();
    user
}

/// What `routes::verify::decide` does per request.
fn evaluate(policy: &Policy, uri: &str, query: &str, who: &Principal<'_>) -> Decision {
    let target = Target::new(Some(HOST), Some(uri));
    let narrowing = AllowLists::from_query(query);
    policy.decide(&target, Some(who), &narrowing)
}

fn policy(c: &mut Criterion) {
    let settings = settings();
    assert_eq!(sealgate::policy::problems(&settings), Vec::<String>::new());
    let policy = Policy::from_settings(&settings);

    let two = user(&strings(&["developers", "staff"]));
    // 26 groups, none of them on rule 18's list but the last.
    let many_groups: Vec<String> = (0..26).map(|i| format!("Engineering-Platform-Team-{i:02}")).collect();
    let many = user(&many_groups);
    let principal = |user| Principal { user, provider: "credentials", scopes: None };
    let (two, many) = (principal(&two), principal(&many));
    let narrowing = "allow_groups=admins,Staff,ops&allow_email_domains=example.com";

    let allow = Decision::Allow { fresh_token: false };
    let cases = [
        ("normal_path_rule18", NORMAL_URI, "", &two),
        ("needs_normalising", TRICKY_URI, "", &two),
        ("26_groups", NORMAL_URI, "", &many),
        ("allow_groups_query", NORMAL_URI, narrowing, &two),
    ];
    for (name, uri, query, who) in &cases {
        assert_eq!(evaluate(&policy, uri, query, who), allow, "{name}");
    }
    assert_eq!(normalize_path(TRICKY_URI), NORMAL_URI);
    assert_eq!(evaluate(&policy, "/projects/x/settings", "allow_groups=ops", &two), Decision::Forbidden);

    // Target, narrowing and decision together: the policy's share of a request.
    let mut group = c.benchmark_group("policy");
    for (name, uri, query, who) in &cases {
        group.bench_function(*name, |b| b.iter(|| evaluate(&policy, black_box(uri), black_box(query), who)));
    }
    group.finish();

    // The parts, to see where the time goes.
    let mut group = c.benchmark_group("policy_parts");
    group.bench_function("target_normal", |b| {
        b.iter(|| Target::new(Some(black_box(HOST)), Some(black_box(NORMAL_URI))))
    });
    group.bench_function("target_tricky", |b| {
        b.iter(|| Target::new(Some(black_box(HOST)), Some(black_box(TRICKY_URI))))
    });
    let target = Target::new(Some(HOST), Some(NORMAL_URI));
    let none = AllowLists::default();
    group.bench_function("decide_26_groups", |b| b.iter(|| policy.decide(black_box(&target), Some(&many), &none)));
    group.bench_function("from_query", |b| b.iter(|| AllowLists::from_query(black_box(narrowing))));
    // `/auth/verify` also sends the user's permissions whenever a policy is active.
    group.bench_function("permissions_26_groups", |b| b.iter(|| policy.permissions(black_box(many.user))));
    group.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
