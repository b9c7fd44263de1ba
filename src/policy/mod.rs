//! Per-route authorization: rules matched on the forwarded host and path,
//! first match wins, a configured default covers the rest.
//!
//! A rule either makes its routes `public`, or requires a signed-in person,
//! optionally narrowed by allow-lists (emails, email domains, groups,
//! providers, API-token scopes; being on any one list is enough). It can
//! also demand a fresh provider access token. `/auth/verify?allow_groups=..`
//! and friends narrow the matched rule further; they can never widen it.
//! Decisions are stateless: the session (or token) and the request decide.

mod target;

pub use target::{normalize_host, normalize_path, Host, Target};

use crate::config::{Access, PolicySettings, RuleSettings};
use crate::identity::{HostPattern, User};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Who is asking, as far as a policy cares.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    pub user: &'a User,
    pub provider: &'a str,
    /// API-token scopes; `None` for sessions (which are not scope-limited).
    pub scopes: Option<&'a [String]>,
}

/// Allow-lists; a principal passes when it is on any non-empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowLists {
    pub emails: BTreeSet<String>,
    pub email_domains: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub providers: BTreeSet<String>,
    pub scopes: BTreeSet<String>,
}

fn lower(items: &[String]) -> BTreeSet<String> {
    items.iter().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect()
}

/// Longest ASCII value lower-cased on the stack (long LDAP group DNs included).
const STACK_LOWERCASE: usize = 256;

/// Call `f` with `value` lower-cased, as `str::to_lowercase` would do it, but
/// without allocating for ASCII values (the usual case): borrowed when already
/// lower case, else lower-cased in a stack buffer. Non-ASCII values (and very
/// long ones) are lower-cased on the heap as before.
fn with_lowercase<R>(value: &str, f: impl FnOnce(&str) -> R) -> R {
    if !value.is_ascii() {
        return f(&value.to_lowercase());
    }
    if !value.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(value);
    }
    let mut buffer = [0u8; STACK_LOWERCASE];
    let Some(lowered) = buffer.get_mut(..value.len()) else { return f(&value.to_ascii_lowercase()) };
    lowered.copy_from_slice(value.as_bytes());
    lowered.make_ascii_lowercase();
    match std::str::from_utf8(lowered) {
        Ok(lowered) => f(lowered),
        Err(_) => f(&value.to_ascii_lowercase()),
    }
}

/// Whether `lower` is exactly the ASCII `value` lower-cased (what
/// `value.to_lowercase() == lower` says for ASCII, without building it).
fn lowercases_to(value: &str, lower: &str) -> bool {
    // No early exit: a plain reduction, which the compiler vectorises.
    value.len() == lower.len()
        && value.bytes().zip(lower.bytes()).fold(0, |differ, (v, l)| differ | (v.to_ascii_lowercase() ^ l)) == 0
}

/// Up to this many entries, a list is scanned rather than searched.
const SCAN_LIMIT: usize = 8;

/// The value `map` holds under `key` lower-cased (`map.get(&key.to_lowercase())`),
/// without allocating for ASCII keys.
fn get_lowercase<'m, V>(map: &'m BTreeMap<String, V>, key: &str) -> Option<&'m V> {
    if map.is_empty() {
        None
    } else if key.is_ascii() && map.len() <= SCAN_LIMIT {
        map.iter().find(|(lower, _)| lowercases_to(key, lower)).map(|(_, value)| value)
    } else {
        with_lowercase(key, |key| map.get(key))
    }
}

/// Whether `set` holds `value` lower-cased (`set.contains(&value.to_lowercase())`),
/// without allocating for ASCII values.
fn holds(set: &BTreeSet<String>, value: &str) -> bool {
    if set.is_empty() {
        false
    } else if value.is_ascii() && set.len() <= SCAN_LIMIT {
        set.iter().any(|lower| lowercases_to(value, lower))
    } else {
        with_lowercase(value, |value| set.contains(value))
    }
}

/// Whether `set` holds any of `values` lower-cased (`holds` for each), with
/// a small set walked once rather than once per value.
fn holds_any(set: &BTreeSet<String>, values: &[String]) -> bool {
    if set.is_empty() || values.is_empty() {
        false
    } else if set.len() > SCAN_LIMIT {
        values.iter().any(|value| holds(set, value))
    } else {
        // An ASCII value lower-cases to ASCII, so only ASCII entries can be it;
        // a non-ASCII value may lower-case to anything (`K`, the Kelvin sign, to `k`).
        set.iter().filter(|lower| lower.is_ascii()).any(|lower| values.iter().any(|value| lowercases_to(value, lower)))
            || values.iter().filter(|value| !value.is_ascii()).any(|value| set.contains(&value.to_lowercase()))
    }
}

impl AllowLists {
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty()
            && self.email_domains.is_empty()
            && self.groups.is_empty()
            && self.providers.is_empty()
            && self.scopes.is_empty()
    }

    /// Whether `who` is on at least one of the lists (true when all are empty).
    pub fn admits(&self, who: &Principal<'_>) -> bool {
        if self.is_empty() {
            return true;
        }
        // Cheapest first; an empty list is skipped without looking at the user.
        let on_providers = || holds(&self.providers, who.provider);
        let on_emails = || {
            (!self.emails.is_empty() || !self.email_domains.is_empty())
                && who.user.email.as_deref().map(str::trim).is_some_and(|email| {
                    with_lowercase(email, |email| {
                        self.emails.contains(email)
                            || email.rsplit_once('@').is_some_and(|(_, domain)| self.email_domains.contains(domain))
                    })
                })
        };
        let on_groups = || holds_any(&self.groups, &who.user.groups);
        let on_scopes = || who.scopes.is_some_and(|scopes| holds_any(&self.scopes, scopes));
        on_providers() || on_emails() || on_groups() || on_scopes()
    }

    /// Parse `allow_emails`, `allow_email_domains`, `allow_groups`,
    /// `allow_providers`, `allow_scopes` from a query string (comma-separated).
    pub fn from_query(query: &str) -> AllowLists {
        let mut lists = AllowLists::default();
        // No `allow_` key, not even a percent-encoded one: nothing to parse.
        if !query.contains("allow_") && !query.contains('%') {
            return lists;
        }
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            // What form_urlencoded::parse yields for this pair, read in place
            // when there is nothing to decode (the usual case).
            let (key, value) = if pair.contains(['%', '+']) {
                match url::form_urlencoded::parse(pair.as_bytes()).next() {
                    Some(pair) => pair,
                    None => continue,
                }
            } else {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(key), Cow::Borrowed(value))
            };
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
}

/// One path pattern: a prefix (`/api` matches `/api` and `/api/...`), or a
/// glob when it contains `*` (`*` within a segment, `**` across segments).
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Prefix(String),
    Glob(Vec<GlobPart>),
}

/// One `/`-separated part of a glob, compiled at load.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobPart {
    /// `**`: any number of segments, none included.
    AnySegments,
    /// No `*`: exactly this segment.
    Literal(String),
    /// `*` within a segment: the text around and between the stars, in order.
    Wild { head: String, middle: Vec<String>, tail: String },
}

impl GlobPart {
    fn parse(part: &str) -> GlobPart {
        if part == "**" {
            return GlobPart::AnySegments;
        }
        let mut pieces = part.split('*').map(str::to_owned);
        let head = pieces.next().unwrap_or_default();
        let mut middle: Vec<String> = pieces.collect();
        match middle.pop() {
            None => GlobPart::Literal(head),
            Some(tail) => GlobPart::Wild { head, middle, tail },
        }
    }

    /// Whether one segment matches this (non-`**`) part.
    fn matches(&self, segment: &str) -> bool {
        match self {
            GlobPart::AnySegments => false,
            GlobPart::Literal(literal) => literal == segment,
            GlobPart::Wild { head, middle, tail } => {
                let Some(mut rest) = segment.strip_prefix(head.as_str()).and_then(|s| s.strip_suffix(tail.as_str()))
                else {
                    return false;
                };
                // With only `*` wildcards, taking each piece at its first occurrence is enough.
                middle.iter().all(|piece| match rest.find(piece.as_str()) {
                    Some(at) => {
                        rest = rest.get(at + piece.len()..).unwrap_or_default();
                        true
                    }
                    None => false,
                })
            }
        }
    }
}

/// The first segment of `path`, and the rest after its `/` (`None` when it was the last).
fn first_segment(path: &str) -> (&str, Option<&str>) {
    match path.bytes().position(|b| b == b'/') {
        Some(at) => (path.get(..at).unwrap_or_default(), path.get(at + 1..)),
        None => (path, None),
    }
}

/// Whether `parts` match `segments`: `None` for no segments left, else the
/// rest of the path, whose `/`-separated pieces are the segments.
fn glob_matches(parts: &[GlobPart], segments: Option<&str>) -> bool {
    match (parts.split_first(), segments) {
        (None, segments) => segments.is_none(),
        (Some((GlobPart::AnySegments, rest)), mut segments) => loop {
            if glob_matches(rest, segments) {
                return true;
            }
            match segments {
                Some(path) => segments = first_segment(path).1,
                None => return false,
            }
        },
        (Some(_), None) => false,
        // A literal (which holds no `/`) is a prefix ending at a `/` or at the end.
        (Some((GlobPart::Literal(literal), rest)), Some(path)) => match path.strip_prefix(literal.as_str()) {
            Some("") => glob_matches(rest, None),
            Some(after) => after.strip_prefix('/').is_some_and(|after| glob_matches(rest, Some(after))),
            None => false,
        },
        (Some((part, rest)), Some(path)) => {
            let (segment, others) = first_segment(path);
            part.matches(segment) && glob_matches(rest, others)
        }
    }
}

impl PathPattern {
    fn parse(raw: &str) -> PathPattern {
        let normal = if raw.contains('*') { raw.to_lowercase() } else { normalize_path(raw).into_owned() };
        if normal.contains('*') {
            PathPattern::Glob(normal.trim_start_matches('/').split('/').map(GlobPart::parse).collect())
        } else {
            PathPattern::Prefix(normal)
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Prefix(prefix) if prefix == "/" => true,
            PathPattern::Prefix(prefix) => {
                path == prefix || path.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/'))
            }
            PathPattern::Glob(parts) => glob_matches(parts, Some(path.trim_start_matches('/'))),
        }
    }

    /// Whether every path this pattern matches is also matched by `other`.
    fn covered_by(&self, other: &PathPattern) -> bool {
        match (self, other) {
            (PathPattern::Prefix(mine), PathPattern::Prefix(_)) => other.matches(mine),
            (mine, theirs) => mine == theirs,
        }
    }
}

/// A rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    hosts: Vec<HostPattern>,
    paths: Vec<PathPattern>,
    pub access: Access,
    pub allow: AllowLists,
    pub fresh_token: bool,
}

impl Rule {
    fn compile(index: usize, settings: &RuleSettings) -> Rule {
        Rule {
            name: settings.name.clone().unwrap_or_else(|| format!("rule {}", index + 1)),
            hosts: settings.hosts.iter().map(|h| HostPattern::new(normalize_host_pattern(h))).collect(),
            paths: settings.paths.iter().map(|p| PathPattern::parse(p)).collect(),
            access: settings.allow,
            allow: AllowLists {
                emails: lower(&settings.emails),
                email_domains: lower(&settings.email_domains),
                groups: lower(&settings.groups),
                providers: lower(&settings.providers),
                scopes: lower(&settings.scopes),
            },
            fresh_token: settings.fresh_token,
        }
    }

    fn matches(&self, target: &Target<'_>) -> bool {
        let on_host = |host: &str| self.hosts.iter().any(|p| p.matches(host));
        (self.hosts.is_empty()
            || match &target.host {
                Some(Host::Name(host)) => on_host(host),
                // A malformed host is denied where its bare name is, and let in nowhere.
                Some(Host::Malformed(bare)) => self.access == Access::Deny && on_host(bare),
                None => false,
            })
            && (self.paths.is_empty()
                || target.path.as_deref().is_some_and(|p| self.paths.iter().any(|pat| pat.matches(p))))
    }

    /// Whether `earlier` matches every request this rule matches.
    fn shadowed_by(&self, earlier: &Rule) -> bool {
        let hosts = earlier.hosts.is_empty()
            || (!self.hosts.is_empty() && self.hosts.iter().all(|h| earlier.hosts.contains(h)));
        let paths = earlier.paths.is_empty()
            || (!self.paths.is_empty() && self.paths.iter().all(|p| earlier.paths.iter().any(|e| p.covered_by(e))));
        hosts && paths
    }
}

fn normalize_host_pattern(host: &str) -> String {
    match host.strip_prefix('.') {
        Some(domain) => format!(".{}", normalize_host(domain)),
        None => normalize_host(host).into_owned(),
    }
}

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through; `fresh_token` when the rule demands a fresh provider token.
    Allow { fresh_token: bool },
    /// Nobody is signed in and the route is not public: 401.
    Unauthenticated,
    /// Signed in, but not allowed here: 403.
    Forbidden,
}

#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    default: Rule,
    /// What a malformed host gets when no `deny` rule names its bare name.
    malformed_host: Rule,
    /// Whether any rule names a host or a path.
    needs_target: bool,
    /// Group (lower-case) to `action:entity[:own|any]` permissions.
    permissions: BTreeMap<String, Vec<String>>,
}

impl Policy {
    pub fn from_settings(settings: &PolicySettings) -> Policy {
        Policy {
            rules: settings.rules.iter().enumerate().map(|(i, r)| Rule::compile(i, r)).collect(),
            default: Rule {
                name: "default".into(),
                hosts: Vec::new(),
                paths: Vec::new(),
                access: settings.default,
                allow: AllowLists::default(),
                fresh_token: false,
            },
            malformed_host: Rule {
                name: "malformed host".into(),
                hosts: Vec::new(),
                paths: Vec::new(),
                access: Access::Deny,
                allow: AllowLists::default(),
                fresh_token: false,
            },
            needs_target: settings.rules.iter().any(|r| !r.hosts.is_empty() || !r.paths.is_empty()),
            permissions: settings.permissions.iter().map(|(g, p)| (g.to_lowercase(), p.clone())).collect(),
        }
    }

    /// Whether any rule names a host or a path, so that a request whose
    /// forwarded headers are not believed cannot be judged as the proxy meant.
    pub fn needs_target(&self) -> bool {
        self.needs_target
    }

    /// Whether this policy does anything beyond "signed in, or 401".
    pub fn is_trivial(&self) -> bool {
        self.rules.is_empty() && self.default.access == Access::Authenticated && self.permissions.is_empty()
    }

    /// The first rule that matches, else the default. A malformed host
    /// fails closed: it matches only `deny` rules (on its bare name, or
    /// without hosts), and when none does it is denied rather than given
    /// the default.
    pub fn rule_for(&self, target: &Target<'_>) -> &Rule {
        if let Some(Host::Malformed(_)) = target.host {
            return self
                .rules
                .iter()
                .find(|r| r.access == Access::Deny && r.matches(target))
                .unwrap_or(&self.malformed_host);
        }
        self.rules.iter().find(|r| r.matches(target)).unwrap_or(&self.default)
    }

    /// Decide for `who` (or nobody) at `target`, narrowed by `narrowing`.
    pub fn decide(&self, target: &Target<'_>, who: Option<&Principal<'_>>, narrowing: &AllowLists) -> Decision {
        let rule = self.rule_for(target);
        if rule.access == Access::Public && narrowing.is_empty() {
            return Decision::Allow { fresh_token: false };
        }
        let Some(who) = who else { return Decision::Unauthenticated };
        if rule.access == Access::Deny {
            return Decision::Forbidden;
        }
        if rule.allow.admits(who) && narrowing.admits(who) {
            Decision::Allow { fresh_token: rule.fresh_token }
        } else {
            Decision::Forbidden
        }
    }

    /// The permissions of a user's groups, sorted and without duplicates.
    pub fn permissions(&self, user: &User) -> Vec<String> {
        if self.permissions.is_empty() {
            return Vec::new();
        }
        let set: BTreeSet<&String> =
            user.groups.iter().filter_map(|g| get_lowercase(&self.permissions, g)).flatten().collect();
        set.into_iter().cloned().collect()
    }
}

fn is_permission(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    let word = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b));
    match parts.as_slice() {
        [action, entity] => word(action) && word(entity),
        [action, entity, scope] => word(action) && word(entity) && matches!(*scope, "own" | "any"),
        _ => false,
    }
}

/// Contradictory, unreachable or malformed rules, for `check-config`.
pub fn problems(settings: &PolicySettings) -> Vec<String> {
    let mut problems = Vec::new();
    let policy = Policy::from_settings(settings);
    for (index, (rule, raw)) in policy.rules.iter().zip(&settings.rules).enumerate() {
        let at = format!("policy.rules[{index}] ({})", rule.name);
        if raw.hosts.is_empty() && raw.paths.is_empty() {
            problems.push(format!("{at} matches every request; use policy.default instead"));
        }
        for host in &raw.hosts {
            if let Host::Malformed(_) = Host::parse(host.strip_prefix('.').unwrap_or(host)) {
                problems.push(format!("{at}: host `{host}` is not a host name (it could never match)"));
            }
        }
        for path in &raw.paths {
            if !path.starts_with('/') {
                problems.push(format!("{at}: path `{path}` must start with `/`"));
            }
        }
        let access = match rule.access {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::Deny => "deny",
        };
        if rule.access != Access::Authenticated && !rule.allow.is_empty() {
            problems.push(format!(
                "{at}: allow-lists need allow = \"authenticated\"; allow = \"{access}\" contradicts them"
            ));
        }
        if rule.access != Access::Authenticated && rule.fresh_token {
            problems.push(format!("{at}: fresh_token needs a signed-in person; it contradicts allow = \"{access}\""));
        }
        if let Some((earlier_index, earlier)) =
            policy.rules.iter().enumerate().take(index).find(|(_, e)| rule.shadowed_by(e))
        {
            problems.push(format!(
                "{at} is unreachable: policy.rules[{earlier_index}] ({}) matches every request it does",
                earlier.name
            ));
        }
    }
    for (group, permissions) in &settings.permissions {
        for permission in permissions {
            if !is_permission(permission) {
                problems.push(format!("policy.permissions.{group}: `{permission}` is not action:entity[:own|any]"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod target_proptests;
#[cfg(test)]
mod tests;
