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

pub use target::{normalize_host, normalize_path, Target};

use crate::config::{Access, PolicySettings, RuleSettings};
use crate::domain::User;
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
        let email = who.user.email.as_deref().map(str::to_lowercase);
        let on_emails = email.as_ref().is_some_and(|e| self.emails.contains(e));
        let on_domains = email
            .as_ref()
            .and_then(|e| e.rsplit_once('@'))
            .is_some_and(|(_, domain)| self.email_domains.contains(domain));
        let on_groups = who.user.groups.iter().any(|g| self.groups.contains(&g.to_lowercase()));
        let on_providers = self.providers.contains(&who.provider.to_lowercase());
        let on_scopes = who.scopes.is_some_and(|scopes| scopes.iter().any(|s| self.scopes.contains(&s.to_lowercase())));
        on_emails || on_domains || on_groups || on_providers || on_scopes
    }

    /// Parse `allow_emails`, `allow_email_domains`, `allow_groups`,
    /// `allow_providers`, `allow_scopes` from a query string (comma-separated).
    pub fn from_query(query: &str) -> AllowLists {
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
}

/// One path pattern: a prefix (`/api` matches `/api` and `/api/...`), or a
/// glob when it contains `*` (`*` within a segment, `**` across segments).
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Prefix(String),
    Glob(Vec<String>),
}

impl PathPattern {
    fn parse(raw: &str) -> PathPattern {
        let normal = if raw.contains('*') { raw.to_lowercase() } else { normalize_path(raw) };
        if normal.contains('*') {
            PathPattern::Glob(normal.trim_start_matches('/').split('/').map(str::to_owned).collect())
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
            PathPattern::Glob(parts) => {
                let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                glob_segments(parts, &segments)
            }
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

fn glob_segment(pattern: &str, segment: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == segment,
        Some((head, tail)) => {
            let Some(rest) = segment.strip_prefix(head) else { return false };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob_segment(tail, rest.get(i..).unwrap_or("")))
        }
    }
}

fn glob_segments(parts: &[String], segments: &[&str]) -> bool {
    match parts.split_first() {
        None => segments.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=segments.len()).any(|i| glob_segments(rest, segments.get(i..).unwrap_or(&[])))
        }
        Some((first, rest)) => match segments.split_first() {
            Some((segment, others)) => glob_segment(first, segment) && glob_segments(rest, others),
            None => false,
        },
    }
}

/// A host pattern: exact, or `.example.com` for the domain and its subdomains.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern(String);

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix('.') {
            Some(domain) => host == domain || host.strip_suffix(self.0.as_str()).is_some_and(|sub| !sub.is_empty()),
            None => host == self.0,
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
            hosts: settings.hosts.iter().map(|h| HostPattern(normalize_host_pattern(h))).collect(),
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

    fn matches(&self, target: &Target) -> bool {
        let host_ok =
            self.hosts.is_empty() || target.host.as_deref().is_some_and(|h| self.hosts.iter().any(|p| p.matches(h)));
        let path_ok = self.paths.is_empty()
            || target.path.as_deref().is_some_and(|p| self.paths.iter().any(|pat| pat.matches(p)));
        host_ok && path_ok
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
        None => normalize_host(host),
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
            permissions: settings.permissions.iter().map(|(g, p)| (g.to_lowercase(), p.clone())).collect(),
        }
    }

    /// Whether this policy does anything beyond "signed in, or 401".
    pub fn is_trivial(&self) -> bool {
        self.rules.is_empty() && self.default.access == Access::Authenticated && self.permissions.is_empty()
    }

    pub fn rule_for(&self, target: &Target) -> &Rule {
        self.rules.iter().find(|r| r.matches(target)).unwrap_or(&self.default)
    }

    /// Decide for `who` (or nobody) at `target`, narrowed by `narrowing`.
    pub fn decide(&self, target: &Target, who: Option<&Principal<'_>>, narrowing: &AllowLists) -> Decision {
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
        let set: BTreeSet<&String> =
            user.groups.iter().filter_map(|g| self.permissions.get(&g.to_lowercase())).flatten().collect();
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
mod tests;
