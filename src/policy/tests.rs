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

fn at<'a>(host: &'a str, uri: &'a str) -> Target<'a> {
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

/// Globs as first written (a segment list per request, `*` tried at every
/// position), the reference the compiled globs must agree with.
fn reference_glob(pattern: &str, path: &str) -> bool {
    fn segment(pattern: &str, segment_text: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == segment_text,
            Some((head, tail)) => {
                let Some(rest) = segment_text.strip_prefix(head) else { return false };
                (0..=rest.len())
                    .filter(|i| rest.is_char_boundary(*i))
                    .any(|i| segment(tail, rest.get(i..).unwrap_or("")))
            }
        }
    }
    fn segments(parts: &[&str], path: &[&str]) -> bool {
        match parts.split_first() {
            None => path.is_empty(),
            Some((first, rest)) if *first == "**" => {
                (0..=path.len()).any(|i| segments(rest, path.get(i..).unwrap_or(&[])))
            }
            Some((first, rest)) => match path.split_first() {
                Some((one, others)) => segment(first, one) && segments(rest, others),
                None => false,
            },
        }
    }
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    segments(&parts, &path.trim_start_matches('/').split('/').collect::<Vec<_>>())
}

/// Every string up to `max` tokens long made of `tokens`.
fn all_strings(tokens: &[&str], max: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..max {
        last = last.iter().flat_map(|s| tokens.iter().map(move |t| format!("{s}{t}"))).collect();
        all.extend(last.iter().cloned());
    }
    all
}

#[test]
fn compiled_globs_match_as_the_reference_does() {
    let patterns: Vec<String> = all_strings(&["/", "a", "b", "*", "**", "é"], 4)
        .into_iter()
        .map(|p| format!("/{p}"))
        .filter(|p| p.contains('*'))
        .collect();
    let paths: Vec<String> = all_strings(&["/", "a", "b", "ab", "é"], 4).into_iter().map(|p| format!("/{p}")).collect();
    for pattern in &patterns {
        let compiled = PathPattern::parse(pattern);
        assert!(matches!(compiled, PathPattern::Glob(_)), "{pattern}");
        for path in &paths {
            assert_eq!(compiled.matches(path), reference_glob(pattern, path), "{pattern} against {path}");
        }
    }
}

#[test]
fn globs_compile_into_parts() {
    let glob = |p: &str| match PathPattern::parse(p) {
        PathPattern::Glob(parts) => parts,
        PathPattern::Prefix(prefix) => panic!("{p} compiled to the prefix {prefix}"),
    };
    let literal = |s: &str| GlobPart::Literal(s.to_owned());
    let wild = |head: &str, middle: &[&str], tail: &str| GlobPart::Wild {
        head: head.to_owned(),
        middle: middle.iter().map(|s| (*s).to_owned()).collect(),
        tail: tail.to_owned(),
    };
    assert_eq!(glob("/Files/*/RAW"), [literal("files"), wild("", &[], ""), literal("raw")]);
    assert_eq!(glob("/docs/**/v*-x*.md"), [literal("docs"), GlobPart::AnySegments, wild("v", &["-x"], ".md")]);
    assert_eq!(glob("/a***b"), [wild("a", &["", ""], "b")]);
    // Equal globs are still equal once compiled (for unreachable-rule checks).
    assert_eq!(PathPattern::parse("/files/*/raw"), PathPattern::parse("/FILES/*/raw"));
    assert_ne!(PathPattern::parse("/files/*/raw"), PathPattern::parse("/files/**/raw"));
}

/// Names whose case folding is not plain ASCII, and ASCII ones around them.
const MIXED_NAMES: [&str; 16] = [
    "admins",
    "Admins",
    "ADMINS",
    "Ünïcode-Team",
    "ünïcode-team",
    "ÜNÏCODE-TEAM",
    "ΟΔΟΣ",
    "οδος",
    "οδοσ",
    "İstanbul",
    "i̇stanbul",
    "STRASSE",
    "Straße",
    "K", // Kelvin sign: lower-cases to ASCII `k`.
    "k",
    "",
];

#[test]
fn case_folding_matches_to_lowercase() {
    let long_upper = "CN=Platform Engineering,OU=Groups,DC=Example,DC=Com/".repeat(6);
    let long_lower = long_upper.to_lowercase();
    assert!(long_upper.len() > STACK_LOWERCASE);
    let mut values: Vec<String> = MIXED_NAMES.iter().map(|s| (*s).to_owned()).collect();
    values.extend([long_upper, long_lower, "X".repeat(STACK_LOWERCASE), "x".repeat(STACK_LOWERCASE + 1)]);
    let filler: Vec<String> = (0..=SCAN_LIMIT).map(|i| format!("filler-{i}")).collect();
    for configured in &values {
        // Scanned (one entry) and searched (more than SCAN_LIMIT entries); and
        // lists built by hand that hold upper case, which never matched.
        let small = lower(std::slice::from_ref(configured));
        let large = lower(&[filler.clone(), vec![configured.clone()]].concat());
        let verbatim: BTreeSet<String> = [configured.clone()].into();
        let verbatim_large: BTreeSet<String> = filler.iter().chain([configured]).cloned().collect();
        assert!(small.len() <= SCAN_LIMIT && large.len() > SCAN_LIMIT);
        let small_map: BTreeMap<String, usize> = small.iter().map(|k| (k.clone(), 1)).collect();
        let large_map: BTreeMap<String, usize> = large.iter().map(|k| (k.clone(), 1)).collect();
        let verbatim_map: BTreeMap<String, usize> = [(configured.clone(), 1)].into();
        for value in &values {
            let lowered = value.to_lowercase();
            for set in [&small, &large, &verbatim, &verbatim_large] {
                assert_eq!(holds(set, value), set.contains(&lowered), "{value:?} in {set:?}");
            }
            for map in [&small_map, &large_map, &verbatim_map] {
                assert_eq!(get_lowercase(map, value), map.get(&lowered), "{value:?} in {map:?}");
            }
            with_lowercase(value, |folded| assert_eq!(folded, lowered, "{value:?}"));
        }
        for set in [&small, &large, &verbatim, &verbatim_large] {
            let reference = |values: &[String]| values.iter().any(|v| set.contains(&v.to_lowercase()));
            for (index, value) in values.iter().enumerate() {
                let pair = [value.clone(), values.get(index + 1).cloned().unwrap_or_default()];
                assert_eq!(holds_any(set, std::slice::from_ref(value)), reference(std::slice::from_ref(value)));
                assert_eq!(holds_any(set, &pair), reference(&pair), "{pair:?} in {set:?}");
            }
            assert_eq!(holds_any(set, &values), reference(&values));
            assert!(!holds_any(set, &[]));
        }
    }
}

#[test]
fn non_ascii_groups_and_emails_still_match_case_insensitively() {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let settings = PolicySettings {
        default: Access::Authenticated,
        rules: vec![
            RuleSettings {
                groups: strings(&["ÜNÏCODE-Team", "ΟΔΟΣ"]), ..rule(&["/unicode"], Access::Authenticated)
            },
            RuleSettings { emails: strings(&["Jürgen@Example.COM"]), ..rule(&["/email"], Access::Authenticated) },
            RuleSettings { email_domains: strings(&["BÜRO.example"]), ..rule(&["/domain"], Access::Authenticated) },
        ],
        permissions: [("Ünïcode-Team".to_owned(), strings(&["read:unicode"]))].into_iter().collect(),
    };
    let policy = Policy::from_settings(&settings);
    let none = AllowLists::default();
    let decide = |uri, user: &User| {
        policy.decide(&at("app.test", uri), Some(&Principal { user, provider: "credentials", scopes: None }), &none)
    };
    assert_eq!(decide("/unicode", &user("a@b.c", &["staff", "ünïcode-team"])), ALLOW);
    assert_eq!(decide("/unicode", &user("a@b.c", &["ÜNÏCODE-TEAM"])), ALLOW);
    assert_eq!(decide("/unicode", &user("a@b.c", &["οδος"])), ALLOW);
    assert_eq!(decide("/unicode", &user("a@b.c", &["unicode-team"])), FORBIDDEN);
    assert_eq!(decide("/email", &user("JÜRGEN@example.com", &[])), ALLOW);
    assert_eq!(decide("/email", &user("jurgen@example.com", &[])), FORBIDDEN);
    assert_eq!(decide("/domain", &user("Ann@büro.EXAMPLE", &[])), ALLOW);
    assert_eq!(decide("/domain", &user("ann@buro.example", &[])), FORBIDDEN);
    // An address with stray spaces around it is still the same address.
    assert_eq!(decide("/email", &user(" Jürgen@EXAMPLE.com ", &[])), ALLOW);
    assert_eq!(decide("/domain", &user("ann@BÜRO.example\u{20}", &[])), ALLOW);
    assert_eq!(policy.permissions(&user("a@b.c", &["ÜNÏCODE-TEAM"])), ["read:unicode"]);
    let narrow = AllowLists::from_query("allow_groups=%C3%BCn%C3%AFcode-team");
    let who = user("a@b.c", &["Ünïcode-Team"]);
    let principal = Principal { user: &who, provider: "credentials", scopes: None };
    assert_eq!(policy.decide(&at("app.test", "/x"), Some(&principal), &narrow), ALLOW);
}

/// `admits` as first written (everything lower-cased on the heap, every list
/// consulted), the reference for the allocation-free one.
fn reference_admits(lists: &AllowLists, who: &Principal<'_>) -> bool {
    if lists.is_empty() {
        return true;
    }
    let email = who.user.email.as_deref().map(crate::identity::comparable);
    let on_emails = email.as_ref().is_some_and(|e| lists.emails.contains(e));
    let on_domains =
        email.as_ref().and_then(|e| e.rsplit_once('@')).is_some_and(|(_, domain)| lists.email_domains.contains(domain));
    let on_groups = who.user.groups.iter().any(|g| lists.groups.contains(&g.to_lowercase()));
    let on_providers = lists.providers.contains(&who.provider.to_lowercase());
    let on_scopes = who.scopes.is_some_and(|scopes| scopes.iter().any(|s| lists.scopes.contains(&s.to_lowercase())));
    on_emails || on_domains || on_groups || on_providers || on_scopes
}

#[test]
fn admits_decides_as_the_reference_does() {
    let queries = [
        "",
        "allow_groups=admins",
        "allow_groups=%C3%BCn%C3%AFcode-team,ops",
        "allow_emails=J%C3%BCrgen@Example.com",
        "allow_email_domains=EXAMPLE.com",
        "allow_email_domains=%CE%BF%CE%B4%CE%BF%CF%82.test",
        "allow_providers=Corp",
        "allow_scopes=Reports:Read",
        "allow_groups=ΟΔΟΣ&allow_scopes=x",
    ];
    let emails = [None, Some("jürgen@example.com"), Some(" Ann@EXAMPLE.com "), Some("x@ΟΔΟΣ.test"), Some("no-at-sign")];
    let scopes: Vec<String> = vec!["REPORTS:read".into()];
    for query in queries {
        let lists = AllowLists::from_query(query);
        for email in emails {
            for groups in [&[][..], &["Admins"], &["staff", "ÜNÏCODE-team"], &["οδοσ"]] {
                let mut person = user("", groups);
                person.email = email.map(str::to_owned);
                for provider in ["credentials", "CORP"] {
                    for scopes in [None, Some(&scopes[..])] {
                        let who = Principal { user: &person, provider, scopes };
                        assert_eq!(lists.admits(&who), reference_admits(&lists, &who), "{query} for {who:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn narrowing_is_parsed_only_when_a_query_could_name_it() {
    assert!(AllowLists::from_query("").is_empty());
    assert!(AllowLists::from_query("tab=roles&page=2").is_empty());
    // A percent-encoded key still narrows, as it did before the shortcut.
    let encoded = AllowLists::from_query("allow%5Fgroups=Ops");
    assert_eq!(encoded.groups, BTreeSet::from(["ops".to_owned()]));
    assert_eq!(AllowLists::from_query("%61llow_providers=corp").providers, BTreeSet::from(["corp".to_owned()]));
}

/// `from_query` as first written: everything through form_urlencoded.
fn reference_from_query(query: &str) -> AllowLists {
    let mut lists = AllowLists::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let list = match key.as_ref() {
            "allow_emails" => &mut lists.emails,
            "allow_email_domains" => &mut lists.email_domains,
            "allow_groups" => &mut lists.groups,
            "allow_providers" => &mut lists.providers,
            "allow_scopes" => &mut lists.scopes,
            _ => continue,
        };
        list.extend(value.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()));
    }
    lists
}

#[test]
fn narrowing_parses_as_form_urlencoded_does() {
    let pieces = [
        "allow_groups",
        "allow_emails",
        "allow_email_domains",
        "allow_providers",
        "allow_scopes",
        "allow%5Fgroups",
        "allow+groups",
        "=",
        "&",
        ",",
        "+",
        "%2C",
        "%26",
        "%3D",
        "%",
        "%zz",
        "%C3%9C",
        "Ops",
        "a b",
        "x",
        "=y",
    ];
    for query in all_strings(&pieces, 3) {
        assert_eq!(AllowLists::from_query(&query), reference_from_query(&query), "{query:?}");
    }
    for query in [
        "allow_groups=admins,Staff,ops&allow_email_domains=example.com",
        "allow_groups=a+b,%20c%20&&allow_groups=D&x=1",
        "tab=roles&allow_scopes=Reports:Read,,&allow_providers",
        "allow_groups=%E2%84%AA",
    ] {
        assert_eq!(AllowLists::from_query(query), reference_from_query(query), "{query:?}");
    }
}

/// The bypass of issue 19: a port that is not one kept the host whole, so
/// `hosts` rules stopped matching and the (wider) default applied.
#[test]
fn a_malformed_host_never_widens_access() {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let settings = PolicySettings {
        default: Access::Authenticated,
        rules: vec![
            RuleSettings {
                name: Some("internal".into()),
                hosts: strings(&[".internal.example.com"]),
                allow: Access::Deny,
                ..RuleSettings::default()
            },
            RuleSettings {
                name: Some("admins".into()),
                hosts: strings(&["app.example.com"]),
                groups: strings(&["admins"]),
                ..RuleSettings::default()
            },
            RuleSettings { name: Some("public".into()), ..rule(&["/public"], Access::Public) },
        ],
        permissions: BTreeMap::new(),
    };
    assert_eq!(problems(&settings), Vec::<String>::new());
    let policy = Policy::from_settings(&settings);
    let none = AllowLists::default();
    let (plain, admin) = (user("joe@example.com", &["staff"]), user("ann@example.com", &["admins"]));
    let session = |u| Principal { user: u, provider: "credentials", scopes: None };

    assert_eq!(policy.decide(&at("app.example.com", "/x"), Some(&session(&plain)), &none), FORBIDDEN);
    assert_eq!(policy.decide(&at("app.example.com:443", "/x"), Some(&session(&admin)), &none), ALLOW);
    for host in [
        "app.example.com:abc",
        "app.example.com:443.",
        "app.example.com:80:80",
        "app.example.com:+443",
        "app.example.com:-1",
        "APP.example.com:99999",
        "app.example.com, other.example",
    ] {
        for uri in ["/x", "/public"] {
            let target = at(host, uri);
            assert_eq!(policy.rule_for(&target).name, "malformed host", "{host:?} {uri}");
            assert_eq!(policy.decide(&target, Some(&session(&plain)), &none), FORBIDDEN, "{host:?} {uri}");
            assert_eq!(policy.decide(&target, Some(&session(&admin)), &none), FORBIDDEN, "fails closed: {host:?}");
            assert_eq!(policy.decide(&target, None, &none), ANONYMOUS, "{host:?} {uri}");
        }
    }
    // A deny rule on the bare name still applies (and says so).
    for host in ["db.internal.example.com:abc", "DB.Internal.Example.com.:+1"] {
        assert_eq!(policy.rule_for(&at(host, "/public")).name, "internal", "{host:?}");
        assert_eq!(policy.decide(&at(host, "/public"), Some(&session(&admin)), &none), FORBIDDEN);
    }
}

#[test]
fn check_config_names_host_patterns_that_are_not_hosts() {
    let settings = PolicySettings {
        rules: vec![RuleSettings {
            hosts: vec!["app.example.com:abc".into(), ".example.com".into(), "a b".into()],
            ..RuleSettings::default()
        }],
        ..PolicySettings::default()
    };
    let problems = problems(&settings);
    assert!(problems.iter().any(|p| p.contains("`app.example.com:abc` is not a host name")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("`a b` is not a host name")), "{problems:?}");
    assert!(!problems.iter().any(|p| p.contains("`.example.com`")), "{problems:?}");
}
