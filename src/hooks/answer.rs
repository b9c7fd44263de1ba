//! The sign-in hook's answer, parsed strictly: unknown fields, wrong types,
//! a malformed deny code or a user that no longer validates are all a
//! malformed answer, which counts as the hook failing.
//!
//! ```json
//! {}                                                   sign in unchanged
//! {"deny": "not_invited"}                              refuse, with this code
//! {"user": {"id": "42", "email": "a@example.com"},     replace fields ("id": link to that account)
//!  "groups": {"add": ["beta"], "remove": ["staff"]},   change groups
//!  "claims": {"tenant": "acme", "old": null}}          keep claims in the session (null removes)
//! ```

use crate::identity::User;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest deny code.
const MAX_CODE: usize = 40;

/// A hook's reason for refusing a sign-in: `[a-z_]{1,40}`, shown on the
/// sign-in page and sent to `failure_to` / the error page as `?error=`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DenyCode {
    bytes: [u8; MAX_CODE],
    len: u8,
}

impl DenyCode {
    pub fn parse(code: &str) -> Option<DenyCode> {
        let well_formed =
            (1..=MAX_CODE).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if !well_formed {
            return None;
        }
        let mut bytes = [0; MAX_CODE];
        bytes.get_mut(..code.len())?.copy_from_slice(code.as_bytes());
        Some(DenyCode { bytes, len: code.len() as u8 })
    }

    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl std::fmt::Debug for DenyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DenyCode({})", self.as_str())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    #[serde(default)]
    deny: Option<String>,
    #[serde(default)]
    user: Option<UserChanges>,
    #[serde(default)]
    groups: Option<GroupChanges>,
    #[serde(default)]
    claims: Option<BTreeMap<String, Value>>,
}

/// Fields to replace; a field left out (or `null`) stays as it was.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    /// Links the sign-in to this (existing) account id.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupChanges {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// What the hook decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Deny(DenyCode),
    Change { user: UserChanges, groups: GroupChanges, claims: BTreeMap<String, Value> },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer is not the documented JSON: {0}")]
    Shape(String),
    #[error("the deny code is not 1-40 of a-z and _")]
    DenyCode,
    #[error("a deny answer carries changes too")]
    DenyWithChanges,
    #[error("a password sign-in's user id cannot be changed")]
    PasswordId,
    #[error("the changed user is not valid: {0}")]
    User(crate::identity::UserError),
}

impl Answer {
    /// Parse an answer body (an empty one is `{}`).
    pub fn parse(body: &[u8]) -> Result<Answer, AnswerError> {
        let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
        // The error says where, never what (the answer may carry personal data).
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            AnswerError::Shape(format!("{:?} at line {} column {}", e.classify(), e.line(), e.column()))
        })?;
        // An object only: serde would also read a struct from an array.
        if !value.is_object() {
            return Err(AnswerError::Shape("not a JSON object".into()));
        }
        let raw: RawAnswer = serde_json::from_value(value)
            .map_err(|_| AnswerError::Shape("an unknown field, or a field of the wrong type or shape".into()))?;
        match raw.deny {
            Some(code) => {
                if raw.user.is_some() || raw.groups.is_some() || raw.claims.is_some() {
                    return Err(AnswerError::DenyWithChanges);
                }
                DenyCode::parse(&code).map(Answer::Deny).ok_or(AnswerError::DenyCode)
            }
            None => Ok(Answer::Change {
                user: raw.user.unwrap_or_default(),
                groups: raw.groups.unwrap_or_default(),
                claims: raw.claims.unwrap_or_default(),
            }),
        }
    }
}

/// `user` with the changes applied, validated. `password`: a password
/// sign-in, whose id names the users-file account and so stays.
pub fn change(
    mut user: User,
    changes: UserChanges,
    groups: GroupChanges,
    claims: BTreeMap<String, Value>,
    password: bool,
) -> Result<User, AnswerError> {
    if let Some(id) = changes.id {
        if password && id != user.id {
            return Err(AnswerError::PasswordId);
        }
        user.id = id;
    }
    let fields = [
        (&mut user.username, changes.username),
        (&mut user.email, changes.email),
        (&mut user.name, changes.name),
        (&mut user.avatar_url, changes.avatar_url),
    ];
    for (field, value) in fields {
        if value.is_some() {
            *field = value;
        }
    }
    user.groups.retain(|group| !groups.remove.contains(group));
    for group in groups.add {
        if !user.groups.contains(&group) {
            user.groups.push(group);
        }
    }
    for (name, value) in claims {
        if value.is_null() {
            user.claims.remove(&name);
        } else {
            user.claims.insert(name, value);
        }
    }
    user.validate().map_err(AnswerError::User)?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> User {
        let mut user = User::new("alice");
        user.email = Some("alice@example.com".into());
        user.groups = vec!["staff".into(), "admins".into()];
        user
    }

    fn changed(body: &str, password: bool) -> Result<User, AnswerError> {
        match Answer::parse(body.as_bytes())? {
            Answer::Change { user, groups, claims } => change(alice(), user, groups, claims, password),
            Answer::Deny(code) => panic!("denied: {code:?}"),
        }
    }

    #[test]
    fn an_empty_answer_changes_nothing() {
        assert_eq!(changed("{}", false).unwrap(), alice());
        assert_eq!(changed("", false).unwrap(), alice());
    }

    #[test]
    fn an_answer_replaces_fields_groups_and_claims() {
        let body = r#"{"user": {"id": "u-42", "name": "Alice L."}, "groups": {"add": ["beta", "staff"], "remove": ["admins"]},
                       "claims": {"tenant": {"id": 7}, "gone": null}}"#;
        let user = changed(body, false).unwrap();
        assert_eq!(user.id, "u-42");
        assert_eq!(user.name.as_deref(), Some("Alice L."));
        assert_eq!(user.email.as_deref(), Some("alice@example.com"));
        assert_eq!(user.groups, ["staff", "beta"]);
        assert_eq!(user.claims.get("tenant"), Some(&json!({"id": 7})));
        assert!(!user.claims.contains_key("gone"));
    }

    #[test]
    fn a_deny_answer_names_a_plain_code() {
        assert_eq!(
            Answer::parse(br#"{"deny": "not_invited"}"#).unwrap(),
            Answer::Deny(DenyCode::parse("not_invited").unwrap())
        );
        assert_eq!(DenyCode::parse("not_invited").unwrap().as_str(), "not_invited");
        for bad in [r#""Not""#, r#""a-b""#, r#""""#, r#"7"#, &format!("\"{}\"", "a".repeat(41))] {
            assert!(Answer::parse(format!(r#"{{"deny": {bad}}}"#).as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(
            Answer::parse(br#"{"deny": "no", "groups": {"add": ["x"]}}"#).unwrap_err(),
            AnswerError::DenyWithChanges
        );
    }

    #[test]
    fn malformed_answers_are_refused() {
        for body in [
            "not json",
            "[]",
            r#"{"allow": true}"#,
            r#"{"user": {"id": 42}}"#,
            r#"{"user": {"admin": true}}"#,
            r#"{"groups": ["x"]}"#,
            r#"{"groups": {"add": "x"}}"#,
            r#"{"claims": ["x"]}"#,
        ] {
            assert!(matches!(Answer::parse(body.as_bytes()), Err(AnswerError::Shape(_))), "{body}");
        }
        let invalid = [
            r#"{"user": {"name": "A\r\nX-Auth-User: admin"}}"#,
            r#"{"groups": {"add": ["a,b"]}}"#,
            r#"{"user": {"id": ""}}"#,
            r#"{"claims": {"bad name": 1}}"#,
        ];
        for body in invalid {
            assert!(matches!(changed(body, false), Err(AnswerError::User(_))), "{body}");
        }
        let big = format!(r#"{{"claims": {{"big": "{}"}}}}"#, "x".repeat(5000));
        assert!(matches!(changed(&big, false), Err(AnswerError::User(_))));
        assert_eq!(changed(r#"{"user": {"id": "mallory"}}"#, true).unwrap_err(), AnswerError::PasswordId);
        assert_eq!(changed(r#"{"user": {"id": "alice"}}"#, true).unwrap().id, "alice");
    }
}
