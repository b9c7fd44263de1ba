//! `host` or `.example.com`: the one host pattern that redirect targets
//! (`redirects.allowed_hosts`) and policy rules (`hosts`) are matched with.

/// An exact host, or `.domain` for the domain and every subdomain of it.
/// Holds the pattern as given: callers normalise it (case, IDNA) the way
/// they normalise the hosts they match it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    pub fn new(pattern: impl Into<String>) -> HostPattern {
        HostPattern(pattern.into())
    }

    /// Whether `host` is this host, or (for `.domain`) the domain or one of
    /// its subdomains. `.example.com` matches `example.com` and
    /// `a.example.com`, never `badexample.com`.
    pub fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix('.') {
            Some(domain) => host == domain || host.strip_suffix(self.0.as_str()).is_some_and(|sub| !sub.is_empty()),
            None => host == self.0,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dot_pattern_covers_the_domain_and_its_subdomains_only() {
        let domain = HostPattern::new(".example.com");
        for (host, expected) in [
            ("example.com", true),
            ("a.example.com", true),
            ("a.b.example.com", true),
            (".example.com", false),
            ("badexample.com", false),
            ("example.com.evil", false),
            ("example.org", false),
        ] {
            assert_eq!(domain.matches(host), expected, "{host}");
        }
        let exact = HostPattern::new("app.test");
        assert!(exact.matches("app.test"));
        assert!(!exact.matches("x.app.test"));
    }
}
