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
    /// Claims of the profile kept as text (a provider's `keep_claims`), by
    /// name: for configured headers and the assertion. At most 16.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, String>,
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
    #[error("too many kept claims, or one with a name that is not plain")]
    Claims,
}

const MAX_FIELD: usize = 512;
const MAX_GROUPS: usize = 256;
const MAX_CLAIMS: usize = 16;
const MAX_CLAIM_NAME: usize = 64;

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

    /// About how many bytes this user takes on the heap: its text, and the
    /// allocator's due for each piece of it.
    pub fn heap_bytes(&self) -> usize {
        const PER_STRING: usize = 24 + 16;
        let optional = [&self.username, &self.email, &self.name, &self.avatar_url];
        self.id.len()
            + optional.iter().filter_map(|text| text.as_ref()).map(|text| text.len() + PER_STRING).sum::<usize>()
            + self.groups.iter().map(|group| group.len() + PER_STRING).sum::<usize>()
            + self.claims.iter().map(|(name, value)| name.len() + value.len() + 3 * PER_STRING).sum::<usize>()
            + PER_STRING
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
        if self.claims.len() > MAX_CLAIMS {
            return Err(UserError::Claims);
        }
        for (name, value) in &self.claims {
            let plain = |b: u8| b.is_ascii_alphanumeric() || b"_-.:".contains(&b);
            if name.is_empty() || name.len() > MAX_CLAIM_NAME || !name.bytes().all(plain) {
                return Err(UserError::Claims);
            }
            check("claims", value)?;
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
    fn kept_claims_are_bounded_in_number_name_and_value() {
        let mut user = User::new("alice");
        user.claims.insert("team".into(), "blue".into());
        assert_eq!(user.validate(), Ok(()));
        user.claims.insert("team".into(), "x".repeat(MAX_FIELD + 1));
        assert_eq!(user.validate(), Err(UserError::TooLong("claims")));
        user.claims = [("a b".to_owned(), "v".to_owned())].into();
        assert_eq!(user.validate(), Err(UserError::Claims));
        user.claims = (0..=MAX_CLAIMS).map(|i| (format!("c{i}"), "v".to_owned())).collect();
        assert_eq!(user.validate(), Err(UserError::Claims));
    }
}
