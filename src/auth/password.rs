//! Password hashing: Argon2id for everything new; bcrypt hashes (from the
//! original stack) still verify and are rehashed on the next successful login.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

pub fn hash(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but stored with an outdated scheme: store a fresh hash.
    YesRehash,
}

pub fn verify(password: &str, stored: &str) -> Verified {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash,
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Verified::Yes,
        Err(_) => Verified::No,
    }
}

/// A hash that never matches, verified when the user does not exist so that
/// "no such user" costs as long as "wrong password".
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password, only spends time").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("s3cret!").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify("s3cret!", &h), Verified::Yes);
        assert_eq!(verify("wrong", &h), Verified::No);
    }

    #[test]
    fn legacy_bcrypt_verifies_and_asks_for_rehash() {
        let legacy = bcrypt::hash("s3cret!", 4).unwrap();
        assert_eq!(verify("s3cret!", &legacy), Verified::YesRehash);
        assert_eq!(verify("nope", &legacy), Verified::No);
    }

    #[test]
    fn garbage_hashes_never_verify() {
        assert_eq!(verify("x", "not-a-hash"), Verified::No);
        assert_eq!(verify("x", ""), Verified::No);
    }
}
