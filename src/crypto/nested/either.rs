//! [`SessionSealer`]: the session cookie in either format. It seals in the
//! configured one, and opens the other too while `accept_other_format` is
//! on and the key set holds keys for it, so a format switch signs nobody out.

use super::NestedSealer;
use crate::config::SessionFormat;
use crate::crypto::jwe::{OpenError, SealError, Sealer};
use crate::crypto::keys::{JwkSet, Purpose};

#[derive(Debug)]
pub struct SessionSealer {
    format: SessionFormat,
    accept_other: bool,
    sealed: Sealer,
    nested: NestedSealer,
}

impl SessionSealer {
    pub fn new(
        set: &JwkSet,
        purpose: Purpose,
        max_len: usize,
        format: SessionFormat,
        accept_other: bool,
    ) -> Result<SessionSealer, SealError> {
        Ok(SessionSealer {
            format,
            accept_other,
            sealed: Sealer::new(set, purpose, max_len)?,
            nested: NestedSealer::new(set, purpose, max_len)?,
        })
    }

    /// The format new values are sealed in.
    pub fn format(&self) -> SessionFormat {
        self.format
    }

    /// Whether this replica can seal at all (a verify-only replica cannot).
    pub fn can_seal(&self) -> bool {
        match self.format {
            SessionFormat::Sealed => self.sealed.can_seal(),
            SessionFormat::Nested => self.nested.can_seal(),
        }
    }

    pub fn seal(&self, payload: &[u8]) -> Result<String, SealError> {
        match self.format {
            SessionFormat::Sealed => self.sealed.seal(payload),
            SessionFormat::Nested => self.nested.seal(payload),
        }
    }

    /// Open a value in the configured format, or in the other while it is
    /// accepted. The sealed format's check (the header compared byte for
    /// byte) comes first either way: it is the cheaper refusal.
    pub fn open(&self, token: &str) -> Result<Vec<u8>, OpenError> {
        let opens_sealed = self.format == SessionFormat::Sealed || self.accept_other;
        let opens_nested = self.format == SessionFormat::Nested || self.accept_other;
        match (opens_sealed, opens_nested) {
            (true, true) => match self.sealed.open(token) {
                Err(OpenError::UnknownHeader) => self.nested.open(token),
                other => other,
            },
            (true, false) => self.sealed.open(token),
            _ => self.nested.open(token),
        }
    }
}
