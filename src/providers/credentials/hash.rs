//! argon2id password hashes: making one (`sealgate hash-password`), and
//! reading one from the users file once, at load, into what a check needs.

use super::gate::Memory;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Hash a password with argon2id and the crate's default (OWASP) parameters.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    hash_password_with(password, Params::DEFAULT)
}

/// Hash a password with argon2id and these parameters.
pub fn hash_password_with(password: &SecretString, params: Params) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash: {e}"))
}

/// An argon2id PHC string taken apart once, at load: the hasher with its
/// parameters, the salt, and the output a right password reproduces.
pub(super) struct StoredHash {
    pub(super) argon2: Argon2<'static>,
    salt: Vec<u8>,
    output: Vec<u8>,
}

impl StoredHash {
    pub(super) fn parse(phc: &str) -> Result<StoredHash, &'static str> {
        const NOT_PHC: &str = "password_hash is not a PHC string; use `sealgate hash-password`";
        let hash = PasswordHash::new(phc).map_err(|_| NOT_PHC)?;
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return Err("password_hash must be argon2id");
        }
        let version = hash.version.map_or(Ok(Version::default()), Version::try_from).map_err(|_| NOT_PHC)?;
        let params = Params::try_from(&hash).map_err(|_| "password_hash has unusable argon2 parameters")?;
        let mut salt = [0u8; 64];
        let salt = hash.salt.ok_or(NOT_PHC)?.decode_b64(&mut salt).map_err(|_| NOT_PHC)?.to_vec();
        let output = hash.hash.ok_or(NOT_PHC)?.as_bytes().to_vec();
        Ok(StoredHash { argon2: Argon2::new(Algorithm::Argon2id, version, params), salt, output })
    }

    /// A hash with the default parameters, standing in when there is no account.
    pub(super) fn default_params() -> StoredHash {
        StoredHash {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT),
            salt: Vec::new(),
            output: vec![0; Params::DEFAULT_OUTPUT_LEN],
        }
    }

    /// A hash no password matches, as costly to check as `like`.
    pub(super) fn dummy_like(like: &StoredHash) -> StoredHash {
        let salt: [u8; 16] = rand::random();
        let output: Vec<u8> = (0..like.output.len()).map(|_| rand::random()).collect();
        StoredHash { argon2: like.argon2.clone(), salt: salt.to_vec(), output }
    }

    pub(super) fn blocks(&self) -> usize {
        self.argon2.params().block_count()
    }

    /// The work of one check: blocks filled per pass, times passes.
    pub(super) fn cost(&self) -> (u64, usize) {
        let blocks = self.blocks();
        ((blocks as u64).saturating_mul(u64::from(self.argon2.params().t_cost())), blocks)
    }

    pub(super) fn matches(&self, password: &[u8], memory: &mut Memory) -> bool {
        let mut output = Zeroizing::new(vec![0u8; self.output.len()]);
        let blocks = memory.at_least(self.blocks());
        self.argon2.hash_password_into_with_memory(password, &self.salt, &mut output, blocks).is_ok()
            && bool::from(output.ct_eq(&self.output))
    }
}
