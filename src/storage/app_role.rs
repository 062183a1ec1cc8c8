//! The application's own PostgreSQL role, set up by `stratus migrate` so that `serve` need not connect as
//! the master user.
//!
//! `stratus migrate` connects as the owner (RDS: the master user), applies the migrations, then, when an
//! application role is configured ([`AppRoleSource`]), in one transaction:
//! - creates the role (`LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`), or sets the
//!   password of the existing one, so a rotated secret takes effect on the next migrate;
//! - grants it `CONNECT` on the database, `USAGE` on the schema, `SELECT, INSERT, UPDATE, DELETE` on every
//!   table and `USAGE, SELECT` on every sequence of the schema, and the same by default on what later
//!   migrations create; `SELECT` only on `_sqlx_migrations` (which `serve` reads to check the schema);
//! - makes sure it cannot change the schema: no `CREATE` on the schema or the database, owns nothing,
//!   belongs to no other role.
//!
//! The password never travels to the server: the statement carries a SCRAM-SHA-256 verifier computed here
//! (as `psql`'s `\password` does), so neither the server's statement log nor `pg_stat_statements` can show
//! it. Every statement is idempotent, and an advisory lock serialises two migrates running at once.

use std::fmt;

use anyhow::anyhow;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use sqlx::{PgConnection, PgPool};

use super::{db_password as password, ready::InitError};
use crate::config::{AppRoleSource, AwsSettings};

/// A PostgreSQL role name this service creates: 1 to 63 of `a-z`, `0-9` and `_`, not starting with a digit,
/// not a name PostgreSQL reserves. Lower case only, so the name reads the same quoted or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

/// Why a role name is refused; `Display` is the sentence a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleNameError {
    /// Nothing given.
    #[error("the role name is empty")]
    Empty,
    /// Over PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes), which it would silently truncate.
    #[error("the role name is {found} bytes long; PostgreSQL keeps at most 63")]
    TooLong {
        /// The length given.
        found: usize,
    },
    /// A character outside `a-z`, `0-9`, `_`, or a digit first.
    #[error(
        "the role name has `{found}` at position {position}; use a-z, 0-9 and _ (not a digit first)"
    )]
    InvalidCharacter {
        /// The character.
        found: char,
        /// Its position, from 1.
        position: usize,
    },
    /// `pg_*` roles are PostgreSQL's own; `public`, `none` and the `current_*` words name other things.
    #[error("`{0}` is reserved by PostgreSQL")]
    Reserved(String),
}

impl RoleName {
    /// Parses a role name; see [`RoleName`] for the rules.
    pub fn parse(raw: &str) -> Result<Self, RoleNameError> {
        if raw.is_empty() {
            return Err(RoleNameError::Empty);
        }
        if raw.len() > 63 {
            return Err(RoleNameError::TooLong { found: raw.len() });
        }
        for (index, c) in raw.chars().enumerate() {
            let allowed = c.is_ascii_lowercase() || c == '_' || (index > 0 && c.is_ascii_digit());
            if !allowed {
                return Err(RoleNameError::InvalidCharacter {
                    found: c,
                    position: index + 1,
                });
            }
        }
        const RESERVED: [&str; 5] = [
            "public",
            "none",
            "current_user",
            "current_role",
            "session_user",
        ];
        if raw.starts_with("pg_") || RESERVED.contains(&raw) {
            return Err(RoleNameError::Reserved(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name as a quoted SQL identifier.
    fn quoted(&self) -> String {
        quote_ident(&self.0)
    }
}

impl AsRef<str> for RoleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Creates or updates the application role and its grants (see the module doc). Reading the secret may
/// be retried; a refusal by PostgreSQL (permissions, a role that is too powerful) is fatal.
pub(crate) async fn set_up(
    pool: &PgPool,
    source: &AppRoleSource,
    aws: &AwsSettings,
) -> Result<(), InitError> {
    let (role, password) = credentials(source, aws).await?;
    let verifier = scram_sha256_verifier(password.expose_secret(), &rand::rng().random());
    let mut tx = pool.begin().await.map_err(retry_or_fatal)?;
    let outcome = set_up_in(&mut tx, &role, &verifier).await?;
    tx.commit().await.map_err(retry_or_fatal)?;
    tracing::info!(role = %role, schema = %outcome.schema, created = outcome.created,
        revoked_public_create = outcome.revoked_public_create,
        "the application's database role is set up: row access to the schema's tables, no DDL");
    Ok(())
}

/// What [`set_up_in`] did, for the log.
struct Outcome {
    schema: String,
    created: bool,
    revoked_public_create: bool,
}

/// Arbitrary, fixed: the key of the advisory lock that serialises concurrent set-ups.
const LOCK_KEY: i64 = 0x5354_5241_5455_5301;

async fn set_up_in(
    conn: &mut PgConnection,
    role: &RoleName,
    verifier: &str,
) -> Result<Outcome, InitError> {
    let fatal = |context: String| move |err: sqlx::Error| fatal_sql(err, context);
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(retry_or_fatal)?;
    let (me, database, schema): (String, String, Option<String>) = sqlx::query_as(
        "SELECT current_user::text, current_database()::text, current_schema()::text",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(retry_or_fatal)?;
    let schema = schema.ok_or_else(|| {
        InitError::Fatal(anyhow!(
            "the application role: the migrating user {me} has no current schema (search_path)"
        ))
    })?;
    if role.as_ref() == me {
        return Err(InitError::Fatal(anyhow!(
            "the application role {role} is the user `stratus migrate` connects as: the application role must be a separate, less powerful role"
        )));
    }
    let existing: Option<(bool, bool, bool)> = sqlx::query_as(
        "SELECT rolsuper, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1",
    )
    .bind(role.as_ref())
    .fetch_optional(&mut *conn)
    .await
    .map_err(retry_or_fatal)?;
    let quoted = role.quoted();
    let password = quote_literal(verifier);
    let created = match existing {
        None => {
            let sql = format!(
                "CREATE ROLE {quoted} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
                 NOBYPASSRLS INHERIT PASSWORD {password}"
            );
            execute(
                conn,
                &sql,
                fatal(format!("could not create the role {role}")),
            )
            .await?;
            true
        }
        Some((superuser, replication, bypass_rls)) if superuser || replication || bypass_rls => {
            return Err(InitError::Fatal(anyhow!(
                "the role {role} exists and is a superuser, replication or BYPASSRLS role: refusing to make it the application role; drop it or pick another name"
            )));
        }
        Some(_) => {
            // SUPERUSER, REPLICATION and BYPASSRLS are not named: changing them needs a superuser, which
            // RDS's master user is not; they were checked above instead.
            let sql = format!(
                "ALTER ROLE {quoted} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD {password}"
            );
            execute(
                conn,
                &sql,
                fatal(format!("could not update the role {role}")),
            )
            .await?;
            false
        }
    };
    let member_of: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(granted.rolname, ', ' ORDER BY granted.rolname) FROM pg_auth_members m \
         JOIN pg_roles granted ON granted.oid = m.roleid JOIN pg_roles member ON member.oid = m.member \
         WHERE member.rolname = $1",
    )
    .bind(role.as_ref())
    .fetch_one(&mut *conn)
    .await
    .map_err(retry_or_fatal)?;
    if let Some(roles) = member_of {
        return Err(InitError::Fatal(anyhow!(
            "the role {role} is a member of {roles}, whose rights it would have too: revoke that membership (REVOKE ... FROM {role}), then run `stratus migrate` again"
        )));
    }
    let schema_q = quote_ident(&schema);
    let database_q = quote_ident(&database);
    let grants = [
        format!("GRANT CONNECT ON DATABASE {database_q} TO {quoted}"),
        format!("REVOKE CREATE ON DATABASE {database_q} FROM {quoted}"),
        format!("GRANT USAGE ON SCHEMA {schema_q} TO {quoted}"),
        format!("REVOKE CREATE ON SCHEMA {schema_q} FROM {quoted}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema_q} TO {quoted}"
        ),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema_q} TO {quoted}"),
        // Tables and sequences that later migrations create (as this same user) are covered at once;
        // the next migrate's grants above would cover them too.
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema_q} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}"
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema_q} GRANT USAGE, SELECT ON SEQUENCES TO {quoted}"
        ),
        // `serve` reads the migration record to check the schema; it never writes it.
        format!(
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema_q}._sqlx_migrations FROM {quoted}"
        ),
    ];
    for sql in &grants {
        execute(
            conn,
            sql,
            fatal(format!("could not grant the role {role} its rights")),
        )
        .await?;
    }
    let revoked_public_create = refuse_create(conn, role, &schema, &database).await?;
    Ok(Outcome {
        schema,
        created,
        revoked_public_create,
    })
}

/// Makes sure the role can create nothing in the schema or the database. Before PostgreSQL 15 every role
/// (`PUBLIC`) may create in `public`: when the migrating user owns the schema, that grant is revoked
/// (returns `true`); otherwise the set-up stops, saying what to run.
async fn refuse_create(
    conn: &mut PgConnection,
    role: &RoleName,
    schema: &str,
    database: &str,
) -> Result<bool, InitError> {
    let (in_schema, in_database, own_schema) = can_create(conn, role, schema, database).await?;
    if in_database {
        return Err(InitError::Fatal(anyhow!(
            "the role {role} may create schemas in the database {database} (a grant to PUBLIC or a role it belongs to): revoke it (REVOKE CREATE ON DATABASE {} FROM PUBLIC), then run `stratus migrate` again",
            quote_ident(database)
        )));
    }
    if !in_schema {
        return Ok(false);
    }
    let revoke = format!(
        "REVOKE CREATE ON SCHEMA {} FROM PUBLIC",
        quote_ident(schema)
    );
    if own_schema {
        execute(conn, &revoke, |err| {
            fatal_sql(err, format!("could not {revoke}"))
        })
        .await?;
        let (still, _, _) = can_create(conn, role, schema, database).await?;
        if !still {
            return Ok(true);
        }
    }
    Err(InitError::Fatal(anyhow!(
        "the role {role} may create objects in the schema {schema} (before PostgreSQL 15 every role may create in `public`): as the schema's owner, run `{revoke}`, then `stratus migrate` again"
    )))
}

/// Whether the role may create in the schema, and in the database; whether the migrating user owns the
/// schema (directly or through a role, as `pg_database_owner` owns `public` since PostgreSQL 15).
async fn can_create(
    conn: &mut PgConnection,
    role: &RoleName,
    schema: &str,
    database: &str,
) -> Result<(bool, bool, bool), InitError> {
    sqlx::query_as(
        "SELECT has_schema_privilege($1, $2, 'CREATE'), has_database_privilege($1, $3, 'CREATE'), \
         pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = $2), 'USAGE')",
    )
    .bind(role.as_ref())
    .bind(schema)
    .bind(database)
    .fetch_one(conn)
    .await
    .map_err(retry_or_fatal)
}

async fn execute(
    conn: &mut PgConnection,
    sql: &str,
    on_database_error: impl FnOnce(sqlx::Error) -> InitError,
) -> Result<(), InitError> {
    match sqlx::raw_sql(sql).execute(conn).await {
        Ok(_) => Ok(()),
        Err(err @ sqlx::Error::Database(_)) => Err(on_database_error(err)),
        Err(err) => Err(retry_or_fatal(err)),
    }
}

/// The server refused: someone must act. Statements carry only the verifier, but the server's error text
/// is kept out of it anyway by naming the step, not the statement.
fn fatal_sql(err: sqlx::Error, context: String) -> InitError {
    InitError::Fatal(anyhow::Error::new(err).context(format!("the application role: {context}")))
}

/// A refusal by the server is fatal; anything else (connection lost, timeout) may work on a retry.
fn retry_or_fatal(err: sqlx::Error) -> InitError {
    let fatal = matches!(err, sqlx::Error::Database(_));
    let err = anyhow::Error::new(err).context("the application role could not be set up");
    if fatal {
        InitError::Fatal(err)
    } else {
        InitError::Retry(err)
    }
}

/// The role's name and password, from the secret or the settings.
async fn credentials(
    source: &AppRoleSource,
    aws: &AwsSettings,
) -> Result<(RoleName, SecretString), InitError> {
    const SETTING: &str = "STRATUS_APP_DATABASE_SECRET_ARN";
    match source {
        AppRoleSource::Inline { username, password } => Ok((username.clone(), password.clone())),
        AppRoleSource::SecretsManager { arn, username } => {
            let secret = password::read_secret(arn, SETTING, aws).await?;
            let password = secret.password.ok_or_else(|| {
                InitError::Fatal(anyhow!("{SETTING}: the secret {arn} has no password"))
            })?;
            let name = match (secret.username, username) {
                (Some(in_secret), Some(given)) if in_secret != given.as_ref() => {
                    return Err(InitError::Fatal(anyhow!(
                        "{SETTING}: the secret {arn} names the role `{in_secret}`, STRATUS_APP_DATABASE_USER names `{given}`: make them agree, or unset STRATUS_APP_DATABASE_USER"
                    )));
                }
                (Some(in_secret), _) => RoleName::parse(&in_secret).map_err(|err| {
                    InitError::Fatal(anyhow!(
                        "{SETTING}: the username in the secret {arn} is not a usable role name: {err}"
                    ))
                })?,
                (None, Some(given)) => given.clone(),
                (None, None) => {
                    return Err(InitError::Fatal(anyhow!(
                        "{SETTING}: the secret {arn} has no `username`: add one, or set STRATUS_APP_DATABASE_USER"
                    )));
                }
            };
            Ok((name, password))
        }
    }
}

/// PostgreSQL's default (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677), in its text form
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. `CREATE ROLE ... PASSWORD` stores a string
/// of that form as it is, so the password itself is never sent.
///
/// The password is normalised with SASLprep first and used as it is when that fails, as PostgreSQL does
/// when it hashes a password itself: the verifier is the one the server would have made.
fn scram_sha256_verifier(password: &str, salt: &[u8; 16]) -> String {
    let prepared = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let salted = pbkdf2_sha256(prepared.as_bytes(), salt, SCRAM_ITERATIONS);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 with one output block (32 bytes): SCRAM's `Hi()`.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut block = Vec::with_capacity(salt.len() + 4);
    block.extend_from_slice(salt);
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &block);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// `text` as a quoted SQL identifier (`"` doubled).
fn quote_ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `text` as an SQL string literal, right whatever `standard_conforming_strings` says: `'` doubled, and
/// with a backslash the `E'...'` form with `\` doubled (PostgreSQL's own `quote_literal`).
fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_case_names_with_digits_and_underscores_are_role_names() {
        for name in ["stratus_app", "_x", "a", "app2", &"a".repeat(63)] {
            assert_eq!(
                RoleName::parse(name).map(|r| r.to_string()),
                Ok(name.to_owned())
            );
        }
    }

    #[test]
    fn names_outside_the_strict_alphabet_are_refused() {
        for (name, want) in [
            ("", RoleNameError::Empty),
            (&"a".repeat(64), RoleNameError::TooLong { found: 64 }),
            (
                "App",
                RoleNameError::InvalidCharacter {
                    found: 'A',
                    position: 1,
                },
            ),
            (
                "1app",
                RoleNameError::InvalidCharacter {
                    found: '1',
                    position: 1,
                },
            ),
            (
                "app\"; DROP TABLE x; --",
                RoleNameError::InvalidCharacter {
                    found: '"',
                    position: 4,
                },
            ),
            (
                "app name",
                RoleNameError::InvalidCharacter {
                    found: ' ',
                    position: 4,
                },
            ),
            (
                "appé",
                RoleNameError::InvalidCharacter {
                    found: 'é',
                    position: 4,
                },
            ),
            (
                "app-x",
                RoleNameError::InvalidCharacter {
                    found: '-',
                    position: 4,
                },
            ),
        ] {
            assert_eq!(RoleName::parse(name), Err(want), "{name:?}");
        }
    }

    #[test]
    fn names_postgresql_reserves_are_refused() {
        for name in [
            "public",
            "none",
            "current_user",
            "session_user",
            "pg_monitor",
        ] {
            assert!(
                matches!(RoleName::parse(name), Err(RoleNameError::Reserved(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("public"), "\"public\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("abc"), "'abc'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }

    /// Computed independently (Python's `hashlib.pbkdf2_hmac`, `hmac` and `base64`) for the password
    /// `pencil` and the salt bytes 0..16.
    #[test]
    fn the_verifier_is_postgresqls_scram_sha256_text_form() {
        let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(scram_sha256_verifier("pencil", &salt), PENCIL_VERIFIER);
    }

    const PENCIL_VERIFIER: &str = "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=:dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE=";

    #[test]
    fn verifiers_use_only_characters_that_need_no_quoting() {
        let verifier = scram_sha256_verifier("pa'ss\\word", &[7; 16]);
        assert!(
            verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=$:-".contains(c)),
            "{verifier}"
        );
        assert!(!verifier.contains("pa'ss"));
    }
}
