//! Policy table tests: every rule kind and every normalisation trick, each
//! with the exact decision.

use super::*;
use crate::config::{Access, PolicySettings, RuleSettings};

fn rule(paths: &[&str], allow: Access) -> RuleSettings {
    RuleSettings { paths: paths.iter().map(|s| (*s).to_owned()).collect(), allow, ..RuleSettings::default() }
}

fn policy() -> Policy {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let settings = PolicySettings {
        default: Access::Authenticated,
        rules: vec![
            rule(&["/public", "/assets/*.css"], Access::Public),
            RuleSettings { groups: strings(&["admins"]), ..rule(&["/admin"], Access::Authenticated) },
            RuleSettings { emails: strings(&["Boss@Example.com"]), ..rule(&["/boss"], Access::Authenticated) },
            RuleSettings { email_domains: strings(&["partner.test"]), ..rule(&["/partners"], Access::Authenticated) },
            RuleSettings { providers: strings(&["corp"]), ..rule(&["/corp"], Access::Authenticated) },
            RuleSettings { scopes: strings(&["reports:read"]), ..rule(&["/api/reports"], Access::Authenticated) },
            RuleSettings { fresh_token: true, ..rule(&["/api/upstream"], Access::Authenticated) },
            rule(&["/files/*/raw", "/docs/**/edit"], Access::Deny),
            RuleSettings {
                hosts: strings(&["internal.example.com", ".ops.example.com"]),
                groups: strings(&["ops"]),
                ..RuleSettings::default()
            },
        ],
        permissions: [("admins".to_owned(), strings(&["write:orders:any", "read:orders"]))].into_iter().collect(),
    };
    assert_eq!(problems(&settings), Vec::<String>::new());
    Policy::from_settings(&settings)
}

fn user(email: &str, groups: &[&str]) -> User {
    let mut user = User::new("u1");
    user.email = Some(email.into());
    user.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    user
}

const ALLOW: Decision = Decision::Allow { fresh_token: false };
const FRESH: Decision = Decision::Allow { fresh_token: true };
const FORBIDDEN: Decision = Decision::Forbidden;
const ANONYMOUS: Decision = Decision::Unauthenticated;

fn at(host: &str, uri: &str) -> Target {
    Target::new(Some(host), Some(uri))
}

#[test]
fn every_rule_kind_decides_exactly() {
    let policy = policy();
    let none = AllowLists::default();
    let admin = user("ann@example.com", &["admins"]);
    let boss = user("boss@example.com", &[]);
    let partner = user("pat@partner.test", &[]);
    let plain = user("joe@example.com", &["staff"]);
    let ops = user("olga@example.com", &["Ops"]);
    let session = |u| Principal { user: u, provider: "credentials", scopes: None };
    let with_scopes =
        |u, scopes: &'static [String]| Principal { user: u, provider: "credentials", scopes: Some(scopes) };
    static REPORTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| vec!["reports:read".into()]);
    static OTHER: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| vec!["orders:read".into()]);

    let cases: Vec<(Target, Option<Principal<'_>>, Decision)> = vec![
        (at("app.test", "/public/x"), None, ALLOW),
        (at("app.test", "/assets/site.css"), None, ALLOW),
        (at("app.test", "/assets/site.js"), None, ANONYMOUS),
        (at("app.test", "/publicity"), None, ANONYMOUS),
        (at("app.test", "/anything"), None, ANONYMOUS),
        (at("app.test", "/anything"), Some(session(&plain)), ALLOW),
        (at("app.test", "/admin/users"), None, ANONYMOUS),
        (at("app.test", "/admin/users"), Some(session(&plain)), FORBIDDEN),
        (at("app.test", "/admin/users"), Some(session(&admin)), ALLOW),
        (at("app.test", "/boss"), Some(session(&boss)), ALLOW),
        (at("app.test", "/boss"), Some(session(&admin)), FORBIDDEN),
        (at("app.test", "/partners/a"), Some(session(&partner)), ALLOW),
        (at("app.test", "/partners/a"), Some(session(&plain)), FORBIDDEN),
        (at("app.test", "/corp"), Some(Principal { user: &plain, provider: "corp", scopes: None }), ALLOW),
        (at("app.test", "/corp"), Some(session(&plain)), FORBIDDEN),
        (at("app.test", "/api/reports/1"), Some(with_scopes(&plain, &REPORTS)), ALLOW),
        (at("app.test", "/api/reports/1"), Some(with_scopes(&plain, &OTHER)), FORBIDDEN),
        (at("app.test", "/api/upstream"), Some(session(&plain)), FRESH),
        (at("app.test", "/files/a/raw"), Some(session(&admin)), FORBIDDEN),
        (at("app.test", "/files/a/b/raw"), Some(session(&plain)), ALLOW),
        (at("app.test", "/docs/a/b/c/edit"), Some(session(&plain)), FORBIDDEN),
        (at("internal.example.com", "/x"), Some(session(&plain)), FORBIDDEN),
        (at("internal.example.com", "/x"), Some(session(&ops)), ALLOW),
        (at("a.ops.example.com", "/x"), Some(session(&plain)), FORBIDDEN),
        (at("ops.example.com", "/x"), Some(session(&ops)), ALLOW),
        (at("notops.example.com", "/x"), Some(session(&plain)), ALLOW),
        (Target::default(), None, ANONYMOUS),
        (Target::default(), Some(session(&plain)), ALLOW),
    ];
    for (target, who, expected) in cases {
        assert_eq!(policy.decide(&target, who.as_ref(), &none), expected, "{target:?} as {who:?}");
    }
}

#[test]
fn normalisation_tricks_do_not_slip_past_a_rule() {
    let policy = policy();
    let plain = user("joe@example.com", &["staff"]);
    let who = Principal { user: &plain, provider: "credentials", scopes: None };
    for uri in [
        "/admin",
        "/ADMIN/users",
        "/%61dmin",
        "/%2561dmin",
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%252e%252e/admin",
        "/public/..%2fadmin",
        "/public\\..\\admin",
        "//admin",
        "/./admin",
        "/admin;jsessionid=1",
        "/public;/../admin",
        "/admin?/public",
        "/admin#/public",
    ] {
        assert_eq!(policy.decide(&at("app.test", uri), Some(&who), &AllowLists::default()), FORBIDDEN, "{uri}");
    }
    for host in ["INTERNAL.example.com", "internal.example.com.", "internal.example.com:8443"] {
        assert_eq!(policy.decide(&at(host, "/x"), Some(&who), &AllowLists::default()), FORBIDDEN, "{host}");
    }
    // `?` and `;` cannot make a public prefix swallow a private path.
    assert_eq!(policy.decide(&at("app.test", "/admin?x=/public"), None, &AllowLists::default()), ANONYMOUS);
}

#[test]
fn query_narrowing_only_restricts() {
    let policy = policy();
    let plain = user("joe@example.com", &["staff"]);
    let admin = user("ann@example.com", &["admins"]);
    let who = |u| Principal { user: u, provider: "credentials", scopes: None };
    let narrow = AllowLists::from_query("allow_groups=admins,ops&allow_emails=");
    assert_eq!(policy.decide(&at("app.test", "/anything"), Some(&who(&plain)), &narrow), FORBIDDEN);
    assert_eq!(policy.decide(&at("app.test", "/anything"), Some(&who(&admin)), &narrow), ALLOW);
    // A narrowing on a public route makes it require sign-in, never the reverse.
    assert_eq!(policy.decide(&at("app.test", "/public/x"), None, &narrow), ANONYMOUS);
    // Narrowing cannot widen /boss for an admin.
    assert_eq!(policy.decide(&at("app.test", "/boss"), Some(&who(&admin)), &narrow), FORBIDDEN);
    let by_domain = AllowLists::from_query("allow_email_domains=EXAMPLE.com");
    assert_eq!(policy.decide(&at("app.test", "/x"), Some(&who(&plain)), &by_domain), ALLOW);
}

#[test]
fn permissions_come_from_groups() {
    let policy = policy();
    assert_eq!(policy.permissions(&user("a@b", &["Admins", "staff"])), ["read:orders", "write:orders:any"]);
    assert!(policy.permissions(&user("a@b", &["staff"])).is_empty());
}

#[test]
fn contradictory_and_unreachable_rules_are_reported() {
    let settings = PolicySettings {
        default: Access::Authenticated,
        rules: vec![
            rule(&["/api"], Access::Authenticated),
            rule(&["/api/v2"], Access::Public),
            RuleSettings { groups: vec!["x".into()], ..rule(&["/pub"], Access::Public) },
            RuleSettings { fresh_token: true, ..rule(&["/deny"], Access::Deny) },
            rule(&[], Access::Public),
            rule(&["no-slash"], Access::Authenticated),
        ],
        permissions: [("g".to_owned(), vec!["nonsense".to_owned()])].into_iter().collect(),
    };
    let problems = problems(&settings);
    let text = problems.join("\n");
    for expected in [
        "policy.rules[1] (rule 2) is unreachable: policy.rules[0]",
        "policy.rules[2] (rule 3): allow-lists need allow = \"authenticated\"",
        "policy.rules[3] (rule 4): fresh_token needs a signed-in person",
        "policy.rules[4] (rule 5) matches every request",
        "policy.rules[5] (rule 6): path `no-slash` must start with `/`",
        "policy.permissions.g: `nonsense`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}
