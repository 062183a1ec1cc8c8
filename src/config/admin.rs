//! The admin account: user name, password hash, API token and session lifetime.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::{ExposeSecret as _, SecretString};

use super::{ConfigError, parse_duration, parse_secret};

/// Admin settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Admin")]
pub struct AdminArgs {
    /// The admin account's user name.
    #[arg(long, env = "STRATUS_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,

    /// The admin password's argon2id hash (a PHC string from `stratus hash-password`). Unset (and no
    /// `_FILE`): no admin; nobody can sign in, and uploads and user creation are open.
    #[arg(long, env = "STRATUS_ADMIN_PASSWORD_HASH", hide_env_values = true, value_parser = parse_secret)]
    pub admin_password_hash: Option<SecretString>,

    /// A file holding the admin password's argon2id hash.
    #[arg(long, env = "STRATUS_ADMIN_PASSWORD_HASH_FILE")]
    pub admin_password_hash_file: Option<PathBuf>,

    /// The hex SHA-256 of the API's bearer token (`Authorization: Bearer TOKEN` on writes when an admin
    /// is configured); the token itself is never configured.
    #[arg(long, env = "STRATUS_API_TOKEN_SHA256", hide_env_values = true)]
    pub api_token_sha256: Option<String>,

    /// How long an admin session lasts after sign-in.
    #[arg(long, env = "STRATUS_SESSION_TTL", default_value = "12h", value_parser = parse_duration)]
    pub session_ttl: Duration,
}

impl AdminArgs {
    /// The admin account, checked.
    pub(super) fn settings(&self) -> Result<AdminSettings, ConfigError> {
        let username = self.admin_username.trim();
        if username.is_empty()
            || username.chars().count() > 64
            || username.chars().any(char::is_control)
        {
            return Err(ConfigError::Invalid {
                name: "STRATUS_ADMIN_USERNAME",
                message: "must be 1 to 64 characters, none of them control characters".into(),
            });
        }
        let hash = match (&self.admin_password_hash, &self.admin_password_hash_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Inconsistent(
                    "set STRATUS_ADMIN_PASSWORD_HASH or STRATUS_ADMIN_PASSWORD_HASH_FILE, not both."
                        .into(),
                ));
            }
            (Some(hash), None) => Some(("STRATUS_ADMIN_PASSWORD_HASH", hash.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Invalid {
                    name: "STRATUS_ADMIN_PASSWORD_HASH_FILE",
                    message: format!("could not read {}: {err}", path.display()),
                })?;
                Some((
                    "STRATUS_ADMIN_PASSWORD_HASH_FILE",
                    SecretString::from(text.trim().to_owned()),
                ))
            }
            (None, None) => None,
        };
        if let Some((name, hash)) = &hash {
            check_argon2id(hash.expose_secret())
                .map_err(|message| ConfigError::Invalid { name, message })?;
        }
        let api_token_sha256 = self
            .api_token_sha256
            .as_deref()
            .map(str::trim)
            .filter(|hex| !hex.is_empty())
            .map(|hex| {
                parse_sha256_hex(hex).ok_or_else(|| ConfigError::Invalid {
                    name: "STRATUS_API_TOKEN_SHA256",
                    message: "expected 64 hexadecimal digits: the SHA-256 of the token, e.g. `printf %s \"$TOKEN\" | sha256sum`".into(),
                })
            })
            .transpose()?;
        if api_token_sha256.is_some() && hash.is_none() {
            return Err(ConfigError::Inconsistent(
                "STRATUS_API_TOKEN_SHA256 is set but no admin is: writes are open to everyone without an admin, so the token would protect nothing. Set STRATUS_ADMIN_PASSWORD_HASH too.".into(),
            ));
        }
        if self.session_ttl < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                name: "STRATUS_SESSION_TTL",
                message: "must be at least 1s".into(),
            });
        }
        Ok(AdminSettings {
            username: username.to_owned(),
            password_hash: hash.map(|(_, hash)| hash),
            api_token_sha256,
            session_ttl: self.session_ttl,
        })
    }
}

/// The admin account. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `STRATUS_ADMIN_USERNAME`.
    pub username: String,
    /// The argon2id PHC string (checked to parse as one); `None`: no admin is configured.
    pub password_hash: Option<SecretString>,
    /// SHA-256 of the API bearer token.
    pub api_token_sha256: Option<[u8; 32]>,
    /// `STRATUS_SESSION_TTL`.
    pub session_ttl: Duration,
}

/// Checks that `hash` is an argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$SALT$HASH`).
fn check_argon2id(hash: &str) -> Result<(), String> {
    let parsed = argon2::PasswordHash::new(hash).map_err(|err| {
        format!("not a password hash in PHC format ({err}); make one with `stratus hash-password`")
    })?;
    if parsed.algorithm.as_str() != "argon2id" || parsed.hash.is_none() {
        return Err(format!(
            "an argon2id hash is expected, not {}; make one with `stratus hash-password`",
            parsed.algorithm
        ));
    }
    Ok(())
}

fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}
