//! Turning a JSON profile (ID token claims, userinfo) into a [`User`].

use super::ProviderError;
use crate::config::ClaimSettings;
use crate::identity::{User, MAX_CLAIMS_BYTES};
use serde_json::Value;
use std::collections::BTreeMap;

/// Dotted paths to the fields that make up a user.
#[derive(Debug, Clone)]
pub struct ClaimMap {
    pub id: String,
    pub username: String,
    pub email: String,
    pub name: String,
    pub avatar_url: String,
    pub groups: String,
    /// Claims kept in the session as text, by their (dotted) name
    /// (`keep_claims`).
    pub keep: Vec<String>,
}

impl Default for ClaimMap {
    fn default() -> Self {
        Self::oidc()
    }
}

/// Look up a dotted path (`data.user.id`).
fn lookup<'v>(json: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(json, |value, key| value.get(key))
}

/// The longest kept claim value: as long as any user field.
const MAX_KEPT: usize = 512;

/// A kept claim: a string, a number or a boolean, short and without
/// control characters (it may become a header); anything else is not kept.
fn kept(value: Option<&Value>) -> Option<Value> {
    let short = match value? {
        Value::String(s) => !s.is_empty() && s.len() <= MAX_KEPT && !s.contains(char::is_control),
        Value::Number(_) | Value::Bool(_) => true,
        _ => false,
    };
    short.then(|| value.cloned()).flatten()
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ClaimMap {
    /// The standard OpenID Connect claim names.
    pub fn oidc() -> ClaimMap {
        ClaimMap {
            id: "sub".into(),
            username: "preferred_username".into(),
            email: "email".into(),
            name: "name".into(),
            avatar_url: "picture".into(),
            groups: "groups".into(),
            keep: Vec::new(),
        }
    }

    pub fn apply(&mut self, overrides: &ClaimSettings) {
        let pairs = [
            (&mut self.id, &overrides.id),
            (&mut self.username, &overrides.username),
            (&mut self.email, &overrides.email),
            (&mut self.name, &overrides.name),
            (&mut self.avatar_url, &overrides.avatar_url),
            (&mut self.groups, &overrides.groups),
        ];
        for (field, value) in pairs {
            if let Some(value) = value {
                field.clone_from(value);
            }
        }
    }

    /// The claims `keep_claims` names, in order, while they fit in the
    /// session's bound for custom claims ([`MAX_CLAIMS_BYTES`]).
    fn kept_claims(&self, json: &Value) -> BTreeMap<String, Value> {
        let mut claims = BTreeMap::new();
        let mut bytes = 2;
        for name in &self.keep {
            let Some(value) = kept(lookup(json, name)) else { continue };
            // `"name":value,` in the JSON form.
            bytes += name.len() + value.to_string().len() + 4;
            if bytes > MAX_CLAIMS_BYTES {
                break;
            }
            claims.insert(name.clone(), value);
        }
        claims
    }

    /// Build a user. An email whose sibling `email_verified` is `false` is dropped.
    pub fn user(&self, json: &Value) -> Result<User, ProviderError> {
        let id =
            text(lookup(json, &self.id)).ok_or_else(|| ProviderError::Profile(format!("no `{}` claim", self.id)))?;
        let unverified = self
            .email
            .rsplit_once('.')
            .map_or(json.get("email_verified"), |(parent, _)| lookup(json, &format!("{parent}.email_verified")))
            .is_some_and(|v| v == &Value::Bool(false) || v == &Value::String("false".into()));
        let groups = match lookup(json, &self.groups) {
            Some(Value::Array(items)) => items.iter().filter_map(|v| text(Some(v))).collect(),
            Some(Value::String(s)) => s.split([',', ' ']).filter(|g| !g.is_empty()).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(User {
            id,
            username: text(lookup(json, &self.username)),
            email: if unverified { None } else { text(lookup(json, &self.email)) },
            name: text(lookup(json, &self.name)),
            avatar_url: text(lookup(json, &self.avatar_url)),
            groups,
            claims: self.kept_claims(json),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_standard_claims_and_drops_unverified_email() {
        let user = ClaimMap::oidc()
            .user(&json!({"sub": "s1", "email": "a@x", "email_verified": false, "name": "A", "groups": ["g1", "g2"]}))
            .unwrap();
        assert_eq!(user.id, "s1");
        assert_eq!(user.email, None);
        assert_eq!(user.groups, ["g1", "g2"]);
    }

    #[test]
    fn dotted_paths_and_numeric_ids() {
        let mut map = ClaimMap::oidc();
        map.apply(&ClaimSettings {
            id: Some("data.id".into()),
            username: Some("data.login".into()),
            email: Some("data.mail".into()),
            groups: Some("data.roles".into()),
            ..ClaimSettings::default()
        });
        let user = map.user(&json!({"data": {"id": 42, "login": "al", "mail": "al@x", "roles": "a,b"}})).unwrap();
        assert_eq!(
            (user.id.as_str(), user.username.as_deref(), user.email.as_deref()),
            ("42", Some("al"), Some("al@x"))
        );
        assert_eq!(user.groups, ["a", "b"]);
        assert!(map.user(&json!({"data": {}})).is_err());
    }

    #[test]
    fn kept_claims_are_text_and_bounded_and_others_are_not_kept() {
        let mut map = ClaimMap::oidc();
        map.keep = ["team", "org.unit", "admin", "roles", "essay", "bell"].map(String::from).to_vec();
        let profile = json!({
            "sub": "s1", "team": "blue", "org": {"unit": 7}, "admin": true, "roles": ["a"],
            "essay": "x".repeat(MAX_KEPT + 1), "bell": "ding\u{7}", "unasked": "no"
        });
        let user = map.user(&profile).unwrap();
        let kept: Vec<(&str, &Value)> = user.claims.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(kept, [("admin", &json!(true)), ("org.unit", &json!(7)), ("team", &json!("blue"))]);
        assert_eq!(user.validate(), Ok(()));
    }
}
