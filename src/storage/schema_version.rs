//! `STRATUS_MIGRATE_ON_START=false`: instead of migrating, `serve` checks that the database has exactly the
//! binary's migrations, reading sqlx's record (`_sqlx_migrations`) and nothing else, so that a role without
//! DDL rights can do it (it needs `SELECT` on that one table).
//!
//! Ready means: every migration of the binary applied successfully with the same content (checksum), and
//! none that the binary does not know (a newer release migrated the database). Otherwise start-up stops
//! with a sentence that says what is missing and what to run.

use sqlx::{
    PgPool, SqlitePool,
    migrate::{Migration, Migrator},
};

use super::ready::InitError;

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct AppliedMigration {
    version: i64,
    success: bool,
    checksum: Vec<u8>,
}

/// How the database's migrations differ from the binary's; `Display` is the sentence start-up stops with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SchemaMismatch {
    /// No migration recorded (or no `_sqlx_migrations` table the role can see).
    #[error(
        "the database has no migrations applied (no `_sqlx_migrations` table visible to this role) but this binary needs migration {needs}: run `stratus migrate` first"
    )]
    NotMigrated {
        /// The binary's newest migration.
        needs: i64,
    },
    /// Some of the binary's migrations are not applied.
    #[error(
        "the database is at migration {at} but this binary needs {needs} (missing: {}): run `stratus migrate` first",
        list(missing)
    )]
    Behind {
        /// The newest migration applied.
        at: i64,
        /// The binary's newest migration.
        needs: i64,
        /// The binary's migrations not applied.
        missing: Vec<i64>,
    },
    /// A migration failed part-way (sqlx records it with `success = false`).
    #[error(
        "migration {0} failed part-way when it was last applied: repair the database, then run `stratus migrate`"
    )]
    Failed(i64),
    /// A migration was applied with other content than the binary's.
    #[error(
        "migration {} in the database differs from this binary's (checksum): the database was migrated by another build; run `stratus migrate` with the build that matches",
        list(.0)
    )]
    Changed(Vec<i64>),
    /// The database has migrations the binary does not know.
    #[error(
        "the database has migrations this binary does not know ({}): it was migrated by a newer release; deploy that release (or roll the database back)",
        list(.0)
    )]
    Unknown(Vec<i64>),
}

fn list(versions: &[i64]) -> String {
    versions
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the database's record with the binary's migrations (down migrations aside).
pub(crate) fn compare(
    migrations: &[Migration],
    applied: &[AppliedMigration],
) -> Result<(), SchemaMismatch> {
    let expected: Vec<_> = migrations
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let needs = expected.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(failed) = applied.iter().find(|a| !a.success) {
        return Err(SchemaMismatch::Failed(failed.version));
    }
    let unknown: Vec<i64> = applied
        .iter()
        .filter(|a| !expected.iter().any(|m| m.version == a.version))
        .map(|a| a.version)
        .collect();
    if !unknown.is_empty() {
        return Err(SchemaMismatch::Unknown(unknown));
    }
    let changed: Vec<i64> = expected
        .iter()
        .filter(|m| {
            applied
                .iter()
                .any(|a| a.version == m.version && a.checksum != *m.checksum)
        })
        .map(|m| m.version)
        .collect();
    if !changed.is_empty() {
        return Err(SchemaMismatch::Changed(changed));
    }
    let missing: Vec<i64> = expected
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .map(|m| m.version)
        .collect();
    match applied.iter().map(|a| a.version).max() {
        _ if missing.is_empty() => Ok(()),
        None => Err(SchemaMismatch::NotMigrated { needs }),
        Some(at) => Err(SchemaMismatch::Behind { at, needs, missing }),
    }
}

const APPLIED_SQL: &str =
    "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version";

/// Checks a PostgreSQL database (see the module doc).
pub(crate) async fn check_postgres(pool: &PgPool, migrator: &Migrator) -> Result<(), InitError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(read_error)?;
    let applied = if exists {
        sqlx::query_as(APPLIED_SQL)
            .fetch_all(pool)
            .await
            .map_err(read_error)?
    } else {
        Vec::new()
    };
    compare(migrator.iter().as_slice(), &applied).map_err(refusal)
}

/// Checks a SQLite database (see the module doc).
pub(crate) async fn check_sqlite(pool: &SqlitePool, migrator: &Migrator) -> anyhow::Result<()> {
    let exists: bool = sqlx::query_scalar(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    let applied = if exists {
        sqlx::query_as(APPLIED_SQL).fetch_all(pool).await?
    } else {
        Vec::new()
    };
    compare(migrator.iter().as_slice(), &applied).map_err(|mismatch| match refusal(mismatch) {
        InitError::Fatal(err) | InitError::Retry(err) => err,
    })
}

fn refusal(mismatch: SchemaMismatch) -> InitError {
    InitError::Fatal(anyhow::Error::new(mismatch).context(
        "STRATUS_MIGRATE_ON_START is false and the database's schema is not this binary's",
    ))
}

/// A refusal by the server (no `SELECT` on the table) is fatal; anything else may pass on a retry.
fn read_error(err: sqlx::Error) -> InitError {
    let fatal = matches!(err, sqlx::Error::Database(_));
    let err = anyhow::Error::new(err).context("could not read the database's migrations");
    if fatal {
        InitError::Fatal(err)
    } else {
        InitError::Retry(err)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::migrate::MigrationType;

    use super::*;

    fn migrator(versions: &[i64]) -> Vec<Migration> {
        versions
            .iter()
            .map(|&v| {
                Migration::new(
                    v,
                    Cow::Owned(format!("m{v}")),
                    MigrationType::Simple,
                    Cow::Owned(format!("SELECT {v}")),
                    false,
                )
            })
            .collect()
    }

    fn applied(migrator: &[Migration], versions: &[i64]) -> Vec<AppliedMigration> {
        versions
            .iter()
            .map(|&version| AppliedMigration {
                version,
                success: true,
                checksum: migrator
                    .iter()
                    .find(|m| m.version == version)
                    .map(|m| m.checksum.to_vec())
                    .unwrap_or_default(),
            })
            .collect()
    }

    #[test]
    fn a_database_with_every_migration_is_ready() {
        let m = migrator(&[1, 2, 3]);
        assert_eq!(compare(&m, &applied(&m, &[1, 2, 3])), Ok(()));
    }

    #[test]
    fn an_unmigrated_database_needs_migrate() {
        let m = migrator(&[1, 2, 3]);
        let err = compare(&m, &[]).expect_err("not ready");
        assert_eq!(err, SchemaMismatch::NotMigrated { needs: 3 });
        assert!(
            err.to_string().ends_with("run `stratus migrate` first"),
            "{err}"
        );
    }

    #[test]
    fn a_database_behind_names_the_missing_migrations() {
        let m = migrator(&[1, 2, 3, 4]);
        let err = compare(&m, &applied(&m, &[1, 2])).expect_err("behind");
        assert_eq!(
            err.to_string(),
            "the database is at migration 2 but this binary needs 4 (missing: 3, 4): run `stratus migrate` first"
        );
    }

    #[test]
    fn a_failed_migration_is_not_ready() {
        let m = migrator(&[1, 2]);
        let mut rows = applied(&m, &[1, 2]);
        rows[1].success = false;
        assert_eq!(compare(&m, &rows), Err(SchemaMismatch::Failed(2)));
    }

    #[test]
    fn a_migration_with_other_content_is_not_ready() {
        let m = migrator(&[1, 2]);
        let mut rows = applied(&m, &[1, 2]);
        rows[0].checksum = vec![0; 48];
        assert_eq!(compare(&m, &rows), Err(SchemaMismatch::Changed(vec![1])));
    }

    #[test]
    fn migrations_from_a_newer_release_are_not_ready() {
        let m = migrator(&[1, 2]);
        let mut rows = applied(&m, &[1, 2]);
        rows.push(AppliedMigration {
            version: 3,
            success: true,
            checksum: vec![1; 48],
        });
        assert_eq!(compare(&m, &rows), Err(SchemaMismatch::Unknown(vec![3])));
    }
}
