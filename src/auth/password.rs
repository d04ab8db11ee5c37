//! argon2id password hashes (PHC strings); parameters from the configuration.
use crate::config::PasswordParams;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid password hashing parameters: {0}")]
    Params(String),
    #[error("password hashing failed")]
    Hash,
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
}

impl PasswordHasher {
    pub fn new(p: PasswordParams) -> Result<Self, PasswordError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        Ok(Self { argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params) })
    }

    /// A fresh random salt per call.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.argon2.hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| PasswordError::Hash)
    }

    /// Constant-time comparison inside argon2; a malformed stored hash is a mismatch.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        self.argon2.verify_password(password.as_bytes(), stored).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 }).expect("params")
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = cheap();
        let a = h.hash("correct horse").expect("hash");
        let b = h.hash("correct horse").expect("hash");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(h.verify("correct horse", &a));
        assert!(!h.verify("wrong", &a));
        assert!(!h.verify("correct horse", "not a hash"));
    }
}
