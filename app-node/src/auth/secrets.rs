//! Credential primitives: argon2 password hashes and random secrets that
//! are stored only as SHA-256 digests.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Why a credential operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password is unusable (too short, too long).
    #[error("{0}")]
    WeakPassword(String),
    /// Hashing failed; should not happen with valid input.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl AuthError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::WeakPassword(_) => "weak-password",
            AuthError::Hash(_) => "hash-failed",
        }
    }
}

/// Hashes a new password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(AuthError::WeakPassword(
            "the password must have at least 8 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(AuthError::WeakPassword("the password is too long".into()));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against a stored hash; malformed hashes never verify.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random secret (API token, session id, CSRF token), URL-safe.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!("reel_{}", hex::encode(b))
}

/// The digest stored in place of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_short_ones_are_refused() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse!", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn secrets_are_random_and_digests_stable() {
        assert_ne!(new_secret(), new_secret());
        assert_eq!(digest("a"), digest("a"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("a", "ab"));
    }
}
