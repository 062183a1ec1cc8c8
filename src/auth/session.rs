//! Admin sessions, kept server-side in the relational database (`admin_session`).
//!
//! The browser holds a random 256-bit token in the `stratus_session` cookie; the table holds only the
//! token's SHA-256. A copy of the table (a backup, a log of queries) therefore lets nobody sign in, and
//! a lookup by digest needs no constant-time comparison: the attacker does not control what is compared.
//! Signing out deletes the row, so a copied cookie stops working at once, on every instance.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::{
    storage::{SqlConn, SqlDb, SqlPool, StoreError},
    time::{format_timestamp, parse_timestamp},
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "stratus_session";

/// A session token as the browser holds it: 32 random bytes, URL-safe base64 (43 characters).
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

impl SessionToken {
    const LEN: usize = 43;

    /// A new token from the thread's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token from a cookie, if it has a token's shape (anything else is not looked up).
    pub fn parse(raw: &str) -> Option<Self> {
        let plausible = raw.len() == Self::LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self(raw.to_owned()))
    }

    /// The text for the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database keys the session by.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Who signed in.
    pub username: String,
    /// Ties the session to the password hash it was made under (see [`crate::auth::Auth`]).
    pub credential_tag: Vec<u8>,
    /// When it stops being valid.
    pub expires_at: OffsetDateTime,
}

fn corrupt(column: &'static str, err: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("stored value is not valid: {err}").into(),
    }
}

/// Stores a new session, and deletes sessions that have expired (so the table stays small without a
/// background job).
#[tracing::instrument(name = "Storing a session", skip_all)]
pub async fn create_session(
    db: &SqlDb,
    token: &SessionToken,
    session: StoredSession,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let digest = token.digest().to_vec();
    db.write("storing a session", move |conn| async move {
        match conn {
            SqlConn::Sqlite(mut conn) => {
                sqlx::query("DELETE FROM admin_session WHERE expires_at <= ?1")
                    .bind(format_timestamp(now))
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO admin_session (session_token_sha256, username, credential_tag, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(digest)
                .bind(session.username)
                .bind(session.credential_tag)
                .bind(format_timestamp(now))
                .bind(format_timestamp(session.expires_at))
                .execute(&mut *conn)
                .await?;
            }
            SqlConn::Postgres(mut conn) => {
                sqlx::query("DELETE FROM admin_session WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO admin_session (session_token_sha256, username, credential_tag, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(digest)
                .bind(session.username)
                .bind(session.credential_tag)
                .bind(now)
                .bind(session.expires_at)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    })
    .await
}

/// The session for this token, if it exists and has not expired at `now`.
#[tracing::instrument(name = "Looking up a session", skip_all)]
pub async fn find_session(
    db: &SqlDb,
    token: &SessionToken,
    now: OffsetDateTime,
) -> Result<Option<StoredSession>, StoreError> {
    let digest = token.digest().to_vec();
    db.read("looking up a session", move |pool| async move {
        match pool {
            SqlPool::Sqlite(pool) => {
                let row = sqlx::query(
                    "SELECT username, credential_tag, expires_at FROM admin_session \
                     WHERE session_token_sha256 = ?1 AND expires_at > ?2",
                )
                .bind(digest)
                .bind(format_timestamp(now))
                .fetch_optional(&pool)
                .await?;
                row.map(|row| {
                    let expires: String = row.try_get("expires_at")?;
                    Ok(StoredSession {
                        username: row.try_get("username")?,
                        credential_tag: row.try_get("credential_tag")?,
                        expires_at: parse_timestamp(&expires)
                            .map_err(|e| corrupt("expires_at", e))?,
                    })
                })
                .transpose()
            }
            SqlPool::Postgres(pool) => {
                let row = sqlx::query(
                    "SELECT username, credential_tag, expires_at FROM admin_session \
                     WHERE session_token_sha256 = $1 AND expires_at > $2",
                )
                .bind(digest)
                .bind(now)
                .fetch_optional(&pool)
                .await?;
                row.map(|row| {
                    Ok(StoredSession {
                        username: row.try_get("username")?,
                        credential_tag: row.try_get("credential_tag")?,
                        expires_at: row.try_get("expires_at")?,
                    })
                })
                .transpose()
            }
        }
    })
    .await
}

/// Deletes the session for this token (signing out). Deleting one that is not there is not an error.
#[tracing::instrument(name = "Deleting a session", skip_all)]
pub async fn delete_session(db: &SqlDb, token: &SessionToken) -> Result<(), StoreError> {
    let digest = token.digest().to_vec();
    db.write("deleting a session", move |conn| async move {
        match conn {
            SqlConn::Sqlite(mut conn) => {
                sqlx::query("DELETE FROM admin_session WHERE session_token_sha256 = ?1")
                    .bind(digest)
                    .execute(&mut *conn)
                    .await?;
            }
            SqlConn::Postgres(mut conn) => {
                sqlx::query("DELETE FROM admin_session WHERE session_token_sha256 = $1")
                    .bind(digest)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_43_character_url_safe_strings() {
        let (a, b) = (SessionToken::generate(), SessionToken::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(SessionToken::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a.digest(), b.digest());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn junk_cookies_are_not_tokens() {
        for junk in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
        ] {
            assert_eq!(SessionToken::parse(junk), None, "{junk:?}");
        }
    }
}
