//! Turning a JSON profile (ID token claims, userinfo) into a [`User`].

use super::ProviderError;
use crate::config::ClaimSettings;
use crate::identity::User;
use serde_json::Value;

/// Dotted paths to the fields that make up a user.
#[derive(Debug, Clone)]
pub struct ClaimMap {
    pub id: String,
    pub username: String,
    pub email: String,
    pub name: String,
    pub avatar_url: String,
    pub groups: String,
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
            claims: Default::default(),
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
}
