//! `stratus hash-password`: reads a password and prints its argon2id hash for
//! `STRATUS_ADMIN_PASSWORD_HASH`.
//!
//! ```sh
//! stratus hash-password                      # asks twice on a terminal, without echo
//! printf '%s' "$PASSWORD" | stratus hash-password   # or from a pipe: one line, the newline dropped
//! ```
//!
//! The hash goes to stdout, alone on its line, so `$(stratus hash-password)` captures exactly it; prompts
//! and errors go to stderr.

use std::{
    io::{IsTerminal as _, Read as _},
    process::ExitCode,
};

use secrecy::{ExposeSecret as _, SecretString};

use super::password::{MAX_PASSWORD_BYTES, hash_password};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why no hash was printed.
#[derive(Debug, thiserror::Error)]
pub enum HashCommandError {
    /// Reading failed.
    #[error("could not read the password: {0}")]
    Read(#[from] std::io::Error),
    /// Input that is not text.
    #[error("the password is not valid UTF-8 text")]
    NotUtf8,
    /// Too short.
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// Too long.
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// Contains a line break (two lines were piped in) or another control character.
    #[error("the password contains a line break or control character; pipe in exactly one line")]
    ControlCharacter,
    /// The two entries on a terminal differ.
    #[error("the two passwords do not match")]
    Mismatch,
    /// The hasher failed.
    #[error("{0}")]
    Hash(#[from] super::password::HashPasswordError),
}

/// Reads one password from piped input: the whole input, less one trailing line ending.
pub fn password_from_reader(
    mut input: impl std::io::Read,
) -> Result<SecretString, HashCommandError> {
    let mut bytes = Vec::new();
    input
        .by_ref()
        .take(MAX_PASSWORD_BYTES as u64 + 3)
        .read_to_end(&mut bytes)?;
    let mut text = String::from_utf8(bytes).map_err(|_| HashCommandError::NotUtf8)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    check(SecretString::from(text))
}

fn check(password: SecretString) -> Result<SecretString, HashCommandError> {
    let text = password.expose_secret();
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(HashCommandError::TooLong);
    }
    if text.chars().any(char::is_control) {
        return Err(HashCommandError::ControlCharacter);
    }
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(HashCommandError::TooShort);
    }
    Ok(password)
}

fn password_from_terminal() -> Result<SecretString, HashCommandError> {
    let first = SecretString::from(rpassword::prompt_password("New admin password: ")?);
    let first = check(first)?;
    let again = SecretString::from(rpassword::prompt_password("Same password again: ")?);
    if first.expose_secret() != again.expose_secret() {
        return Err(HashCommandError::Mismatch);
    }
    Ok(first)
}

/// Runs the command: 0 with the hash on stdout, 1 with a sentence on stderr.
pub fn run() -> ExitCode {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        password_from_terminal()
    } else {
        password_from_reader(stdin.lock())
    };
    match password.and_then(|p| hash_password(&p).map_err(HashCommandError::from)) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("stratus hash-password: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> Result<String, String> {
        password_from_reader(input)
            .map(|p| p.expose_secret().to_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_line_is_read_without_its_line_ending() {
        assert_eq!(read(b"correct horse\n"), Ok("correct horse".into()));
        assert_eq!(read(b"correct horse\r\n"), Ok("correct horse".into()));
        assert_eq!(read(b"correct horse"), Ok("correct horse".into()));
        assert_eq!(read(b" spaces kept "), Ok(" spaces kept ".into()));
    }

    #[test]
    fn short_multi_line_and_binary_input_is_refused() {
        assert!(read(b"short\n").is_err());
        assert!(read(b"").is_err());
        assert!(read(b"first line\nsecond line\n").is_err());
        assert!(read(b"\xff\xfe password").is_err());
        assert!(read(&vec![b'x'; MAX_PASSWORD_BYTES + 1]).is_err());
    }
}
