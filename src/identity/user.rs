//! The signed-in person as sealgate carries them in a session.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A user profile. Every field ends up in an HTTP header on `/auth/verify`,
/// so [`User::validate`] refuses control characters and bounds lengths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Stable identifier at the provider (`sub`), or the username for credentials.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Custom claims kept in the session (a sign-in hook's), at most
    /// [`MAX_CLAIMS_BYTES`] as JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, serde_json::Value>,
}

/// The form usernames and e-mail addresses are compared in: trimmed and
/// lower-cased, so `Alice@Example.com ` and `alice@example.com` are one person.
pub fn comparable(name: &str) -> String {
    name.trim().to_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user field `{0}` is empty")]
    Empty(&'static str),
    #[error("user field `{0}` is too long")]
    TooLong(&'static str),
    #[error("user field `{0}` contains control characters")]
    Control(&'static str),
    #[error("a group name contains a comma, which would break X-Auth-Groups")]
    GroupComma,
    #[error("too many groups")]
    TooManyGroups,
    #[error("the custom claims are too large, or a claim name is not 1-64 letters, digits, `_`, `-`, `.` or `:`")]
    Claims,
}

const MAX_FIELD: usize = 512;
const MAX_GROUPS: usize = 256;
/// Most bytes the custom claims take as JSON.
pub const MAX_CLAIMS_BYTES: usize = 4096;
const MAX_CLAIM_NAME: usize = 64;

fn is_claim_name(name: &str) -> bool {
    (1..=MAX_CLAIM_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn check(field: &'static str, value: &str) -> Result<(), UserError> {
    if value.is_empty() {
        return Err(UserError::Empty(field));
    }
    if value.len() > MAX_FIELD {
        return Err(UserError::TooLong(field));
    }
    if value.chars().any(char::is_control) {
        return Err(UserError::Control(field));
    }
    Ok(())
}

impl User {
    pub fn new(id: impl Into<String>) -> User {
        User {
            id: id.into(),
            username: None,
            email: None,
            name: None,
            avatar_url: None,
            groups: Vec::new(),
            claims: BTreeMap::new(),
        }
    }

    /// The bytes this user's text takes on the heap (the `User` itself is
    /// counted where it is held): a chunk per string, the groups' list, and
    /// for custom claims a B-tree node and about twice their JSON (keys and
    /// values, each in its own chunk).
    pub fn heap_bytes(&self) -> usize {
        use crate::heap::{block, items, text};
        const CLAIMS_NODE: usize =
            block(11 * (size_of::<String>() + size_of::<serde_json::Value>()) + 12 * size_of::<usize>());
        let optional = [&self.username, &self.email, &self.name, &self.avatar_url];
        text(&self.id)
            + optional.iter().filter_map(|field| field.as_deref()).map(text).sum::<usize>()
            + items::<String>(self.groups.len())
            + self.groups.iter().map(|group| text(group)).sum::<usize>()
            + if self.claims.is_empty() { 0 } else { CLAIMS_NODE + self.claims_bytes() * 2 }
    }

    /// How many bytes the custom claims take as JSON.
    pub fn claims_bytes(&self) -> usize {
        serde_json::to_vec(&self.claims).map_or(usize::MAX, |json| json.len())
    }

    pub fn validate(&self) -> Result<(), UserError> {
        check("id", &self.id)?;
        for (field, value) in [
            ("username", &self.username),
            ("email", &self.email),
            ("name", &self.name),
            ("avatar_url", &self.avatar_url),
        ] {
            if let Some(value) = value {
                check(field, value)?;
            }
        }
        if self.groups.len() > MAX_GROUPS {
            return Err(UserError::TooManyGroups);
        }
        for group in &self.groups {
            check("groups", group)?;
            if group.contains(',') {
                return Err(UserError::GroupComma);
            }
        }
        if !self.claims.is_empty()
            && (self.claims_bytes() > MAX_CLAIMS_BYTES || !self.claims.keys().all(|name| is_claim_name(name)))
        {
            return Err(UserError::Claims);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_header_injection_and_empty_ids() {
        let mut user = User::new("alice");
        assert_eq!(user.validate(), Ok(()));
        user.name = Some("Alice\r\nX-Auth-User: admin".into());
        assert_eq!(user.validate(), Err(UserError::Control("name")));
        assert_eq!(User::new("").validate(), Err(UserError::Empty("id")));
        let mut grouped = User::new("bob");
        grouped.groups = vec!["a,b".into()];
        assert_eq!(grouped.validate(), Err(UserError::GroupComma));
    }

    #[test]
    fn custom_claims_are_bounded_and_named_plainly() {
        let mut user = User::new("alice");
        user.claims.insert("tenant".into(), serde_json::json!({"id": 7, "plan": "pro"}));
        assert_eq!(user.validate(), Ok(()));
        user.claims.insert("big".into(), serde_json::Value::String("x".repeat(MAX_CLAIMS_BYTES)));
        assert_eq!(user.validate(), Err(UserError::Claims));
        user.claims.remove("big");
        user.claims.insert("bad name".into(), serde_json::Value::Bool(true));
        assert_eq!(user.validate(), Err(UserError::Claims));
    }

    #[test]
    fn names_compare_trimmed_and_lower_cased() {
        assert_eq!(comparable(" Alice@Example.COM\t"), "alice@example.com");
        assert_eq!(comparable("ÄRGER"), "ärger");
    }
}
