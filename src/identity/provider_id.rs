//! A provider's id, as it appears in URLs (`/auth/signin/{id}`), sessions
//! and `X-Auth-Provider`: short and plain, so it needs no escaping anywhere.

use serde::{Deserialize, Serialize};

/// A provider id: 1 to 32 of `a-z`, `0-9`, `-` and `_`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a provider id is 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
pub struct ProviderIdError;

/// Whether `id` is a well-formed provider id.
pub fn is_provider_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && id.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl ProviderId {
    pub fn parse(id: impl Into<String>) -> Result<ProviderId, ProviderIdError> {
        let id = id.into();
        if is_provider_id(&id) {
            Ok(ProviderId(id))
        } else {
            Err(ProviderIdError)
        }
    }

    /// An id written in the code itself (`api-token`); a unit test next to
    /// each such constant checks that it parses.
    pub fn known(id: &'static str) -> ProviderId {
        debug_assert!(is_provider_id(id), "{id}");
        ProviderId(id.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderId {
    type Error = ProviderIdError;
    fn try_from(id: String) -> Result<ProviderId, ProviderIdError> {
        ProviderId::parse(id)
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> String {
        id.0
    }
}

impl std::ops::Deref for ProviderId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ProviderId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ProviderId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_parse() {
        for good in ["credentials", "api-token", "corp_2", "0x"] {
            assert_eq!(ProviderId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Corp", "-x", "a b", "a/b", &"x".repeat(33)] {
            assert_eq!(ProviderId::parse(bad), Err(ProviderIdError), "{bad:?}");
        }
        assert!(serde_json::from_str::<ProviderId>("\"Bad\"").is_err());
        assert_eq!(serde_json::to_string(&ProviderId::parse("corp").unwrap()).unwrap(), "\"corp\"");
    }
}
