//! Argon2id password hashes: making one (`stratus hash-password`) and checking a password against one.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`): they carry their own
//! parameters, so raising the cost later needs only a new hash, no code change. New hashes use the
//! argon2 crate's defaults (argon2id, 19 MiB, 2 passes, 1 lane), OWASP's recommended minimum.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};

/// Passwords longer than this are refused before any hashing: the work is bounded whatever is posted.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password cannot be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashPasswordError {
    /// Nothing to hash.
    #[error("the password is empty")]
    Empty,
    /// Over [`MAX_PASSWORD_BYTES`].
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The hasher failed (it does not for valid input; reported rather than unwrapped).
    #[error("hashing failed: {0}")]
    Hasher(argon2::password_hash::Error),
}

/// A new random 16-byte salt, from the thread's CSPRNG.
fn new_salt() -> Result<SaltString, HashPasswordError> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(HashPasswordError::Hasher)
}

/// Hashes a password with argon2id and the default cost, as a PHC string.
pub fn hash_password(password: &SecretString) -> Result<String, HashPasswordError> {
    let bytes = password.expose_secret().as_bytes();
    if bytes.is_empty() {
        return Err(HashPasswordError::Empty);
    }
    if bytes.len() > MAX_PASSWORD_BYTES {
        return Err(HashPasswordError::TooLong);
    }
    let salt = new_salt()?;
    Argon2::default()
        .hash_password(bytes, &salt)
        .map(|hash| hash.to_string())
        .map_err(HashPasswordError::Hasher)
}

/// Hashes a password with exactly the algorithm and cost of `like` (a PHC string). Used for the dummy hash
/// that wrong user names are checked against, so that they take as long as the right one.
pub(crate) fn hash_like(password: &[u8], like: &str) -> Option<String> {
    let template = PasswordHash::new(like).ok()?;
    let params = Params::try_from(&template).ok()?;
    let algorithm = Algorithm::try_from(template.algorithm).unwrap_or(Algorithm::Argon2id);
    let version = template
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let salt = new_salt().ok()?;
    Argon2::new(algorithm, version, params)
        .hash_password(password, &salt)
        .ok()
        .map(|hash| hash.to_string())
}

/// Whether `password` matches the PHC string `phc`, compared in constant time (by the argon2 crate). A
/// malformed hash or an over-long password never matches. CPU-heavy (tens of milliseconds, by design):
/// call it from a blocking thread.
pub fn verify_password(password: &[u8], phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(password, &hash).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cheap hash for tests: the verifier reads the cost from the hash itself.
    fn cheap_hash(password: &str) -> String {
        let params = Params::new(8, 1, 1, None).unwrap_or_default();
        let salt = new_salt().unwrap_or_else(|e| panic!("{e}"));
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_right_password_matches_and_others_do_not() {
        let phc = cheap_hash("correct horse");
        assert!(verify_password(b"correct horse", &phc));
        assert!(!verify_password(b"correct horse ", &phc));
        assert!(!verify_password(b"", &phc));
        assert!(!verify_password(b"correct horse", "not a hash"));
    }

    #[test]
    fn new_hashes_are_argon2id_with_a_fresh_salt() {
        let secret = SecretString::from("pw".to_owned());
        let (a, b) = match (hash_password(&secret), hash_password(&secret)) {
            (Ok(a), Ok(b)) => (a, b),
            other => panic!("{other:?}"),
        };
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password(b"pw", &a));
    }

    #[test]
    fn empty_and_huge_passwords_are_refused() {
        assert!(matches!(
            hash_password(&SecretString::from(String::new())),
            Err(HashPasswordError::Empty)
        ));
        let huge = SecretString::from("x".repeat(MAX_PASSWORD_BYTES + 1));
        assert!(matches!(
            hash_password(&huge),
            Err(HashPasswordError::TooLong)
        ));
    }

    #[test]
    fn dummy_hashes_copy_the_cost_of_the_real_one() {
        let real = cheap_hash("x");
        let dummy = hash_like(b"other", &real).unwrap_or_default();
        assert!(dummy.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{dummy}");
        assert!(verify_password(b"other", &dummy));
    }
}
