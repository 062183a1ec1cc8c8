//! The settings' parsing, through the command line as users give it.

use std::{path::PathBuf, time::Duration};

use clap::{CommandFactory as _, Parser as _};
use secrecy::ExposeSecret as _;

use super::{
    database::{ParsedUrl, parse_database_url},
    *,
};

#[test]
fn durations_accept_plain_seconds_and_units() {
    assert_eq!(parse_duration("25"), Ok(Duration::from_secs(25)));
    assert_eq!(parse_duration("25s"), Ok(Duration::from_secs(25)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
    assert!(parse_duration("soon").is_err());
    assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
    assert!(parse_duration("5d").is_err());
}

#[test]
fn sqlite_urls_name_a_file() {
    assert!(matches!(
        parse_database_url("sqlite://data/stratus.db", 4, Duration::from_secs(5)),
        Ok(ParsedUrl::Sqlite(SqliteSettings { path, read_connections: 4, .. })) if path == std::path::Path::new("data/stratus.db")
    ));
    assert!(parse_database_url("sqlite::memory:", 4, Duration::from_secs(5)).is_err());
    assert!(parse_database_url("mysql://x", 4, Duration::from_secs(5)).is_err());
    assert!(parse_database_url("nonsense", 4, Duration::from_secs(5)).is_err());
}

fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
    let mut argv = vec!["stratus"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli.settings.parse_settings(),
        Err(err) => Err(ConfigError::Inconsistent(err.to_string())),
    }
}

#[test]
fn postgres_urls_lose_their_password_to_a_secret() {
    let Ok(DatabaseUrl::Postgres(pg)) = settings(&[
        "--database-url",
        "postgres://app:s3cr%40t@db.example:5433/board?sslmode=require",
    ])
    .map(|s| s.database) else {
        panic!("a postgres URL must parse");
    };
    assert_eq!(
        pg.url,
        "postgres://app@db.example:5433/board?sslmode=require"
    );
    let PasswordSource::Inline(password) = &pg.password else {
        panic!("the URL's password must become the password source");
    };
    assert_eq!(secrecy::ExposeSecret::expose_secret(password), "s3cr@t");
}

#[test]
fn the_password_never_shows_in_debug_output_or_errors() {
    for args in [
        &["--database-url", "postgres://app:hunter2hunter2@db/board"][..],
        &[
            "--database-url",
            "postgres://app@db/board",
            "--database-password",
            "hunter2hunter2",
        ][..],
    ] {
        let Ok(settings) = settings(args) else {
            panic!("{args:?} must parse");
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
    // An error about the URL must not quote it either.
    let err = settings(&[
        "--database-url",
        "postgres://app:hunter2hunter2@db/board?sslmode=bogus",
    ])
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("sslmode"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = settings(&[
        "--database-url",
        "postgres://app:hunter2hunter2@db/board",
        "--database-password-file",
        "/run/pw",
    ])
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("one password source"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn only_one_password_source_may_be_set() {
    let err = settings(&[
        "--database-url",
        "postgres://app@db/board",
        "--database-password-ssm-parameter",
        "/stratus/db",
        "--database-secret-arn",
        "arn:aws:secretsmanager:eu-west-1:1:secret:x",
    ])
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("DATABASE_PASSWORD_SSM_PARAMETER, DATABASE_SECRET_ARN"),
        "{err}"
    );
}

#[test]
fn a_password_for_a_store_without_one_is_refused() {
    let err = settings(&[
        "--database-url",
        "sqlite://data/x.db",
        "--database-password",
        "x",
    ])
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("DATABASE_PASSWORD is set"), "{err}");
}

#[test]
fn migrate_on_start_is_on_unless_turned_off() {
    let on = settings(&["--database-url", "postgres://app@db/board"]);
    assert!(matches!(on.map(|s| s.database), Ok(DatabaseUrl::Postgres(pg)) if pg.migrate_on_start));
    let off = settings(&[
        "--database-url",
        "postgres://app@db/board",
        "--migrate-on-start",
        "false",
    ]);
    assert!(
        matches!(off.map(|s| s.database), Ok(DatabaseUrl::Postgres(pg)) if !pg.migrate_on_start)
    );
    let sqlite = settings(&["--migrate-on-start", "false"]);
    assert!(
        matches!(sqlite.map(|s| s.database), Ok(DatabaseUrl::Sqlite(s)) if !s.migrate_on_start)
    );
    assert!(settings(&["--migrate-on-start", "no"]).is_err());
}

#[test]
fn the_app_role_comes_from_a_secret_or_a_name_and_password() {
    let pg = ["--database-url", "postgres://master@db/board"];
    let role = |extra: &[&str]| {
        let mut args = pg.to_vec();
        args.extend_from_slice(extra);
        settings(&args).map(|s| match s.database {
            DatabaseUrl::Postgres(pg) => pg.app_role,
            DatabaseUrl::Sqlite(_) => None,
        })
    };
    assert!(matches!(role(&[]), Ok(None)));
    assert!(matches!(
        role(&[
            "--app-database-secret-arn",
            "arn:aws:secretsmanager:eu-west-1:1:secret:app"
        ]),
        Ok(Some(AppRoleSource::SecretsManager { username: None, .. }))
    ));
    let Ok(Some(AppRoleSource::Inline { username, password })) = role(&[
        "--app-database-user",
        "stratus_app",
        "--app-database-password",
        "hunter2hunter2",
    ]) else {
        panic!("a name and a password must parse");
    };
    assert_eq!(username.as_ref(), "stratus_app");
    assert_eq!(password.expose_secret(), "hunter2hunter2");
    for (extra, says) in [
        (
            &["--app-database-password", "hunter2hunter2"][..],
            "without STRATUS_APP_DATABASE_USER",
        ),
        (
            &["--app-database-user", "stratus_app"][..],
            "without a password",
        ),
        (
            &[
                "--app-database-secret-arn",
                "arn:x",
                "--app-database-password",
                "hunter2hunter2",
            ][..],
            "not both",
        ),
        (
            &[
                "--app-database-user",
                "app\"; DROP ROLE master; --",
                "--app-database-password",
                "hunter2hunter2",
            ][..],
            "STRATUS_APP_DATABASE_USER: the role name has `\"` at position 4",
        ),
    ] {
        let err = role(extra).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn an_app_role_on_sqlite_is_refused() {
    for database in ["sqlite://data/x.db", "dynamodb://board"] {
        let err = settings(&[
            "--database-url",
            database,
            "--app-database-secret-arn",
            "arn:aws:secretsmanager:eu-west-1:1:secret:app",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("SQLite, which has no roles"),
            "{database}: {err}"
        );
    }
}

#[test]
fn the_board_may_live_in_dynamodb() {
    let Ok(Some(board)) = settings(&[
        "--board-url",
        "dynamodb://stratus-prod.submissions",
        "--create-tables",
        "true",
        "--aws-region",
        "eu-west-1",
    ])
    .map(|s| s.board) else {
        panic!("a dynamodb board URL must parse");
    };
    assert_eq!(board.table, "stratus-prod.submissions");
    assert!(board.create_tables);
    assert_eq!(board.aws.region.as_deref(), Some("eu-west-1"));
    assert!(settings(&["--board-url", "dynamodb://x"]).is_err());
    assert!(settings(&["--board-url", "dynamodb://a/b"]).is_err());
    assert!(settings(&["--board-url", "postgres://x@y/z"]).is_err());
    // DATABASE_URL=dynamodb://TABLE: the board there, users/blog/sessions in the embedded default.
    let Ok(both) = settings(&["--database-url", "dynamodb://board"]) else {
        panic!("DATABASE_URL=dynamodb://TABLE must parse");
    };
    assert_eq!(both.board.map(|b| b.table).as_deref(), Some("board"));
    let DatabaseUrl::Sqlite(sqlite) = both.database else {
        panic!("the relational data must stay in the embedded SQLite");
    };
    assert_eq!(sqlite.path, PathBuf::from("data/stratus.db"));
    let err = settings(&["--database-url", "dynamodb://a/b"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("DATABASE_URL:"), "{err}");
    let err = settings(&[
        "--database-url",
        "dynamodb://board",
        "--board-url",
        "dynamodb://other",
    ])
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("set one"), "{err}");
}

#[test]
fn files_go_to_a_directory_or_a_bucket() {
    let Ok(files) = settings(&[]).map(|s| s.files) else {
        panic!("the defaults must parse");
    };
    assert_eq!(
        files.objects,
        ObjectStoreUrl::File(PathBuf::from("./data/files"))
    );
    assert_eq!(files.sse, S3Sse::S3);
    assert_eq!(files.metadata, None);
    assert_eq!(files.max_upload_bytes, 100 * 1024 * 1024);
    let Ok(files) = settings(&[
        "--files-url",
        "s3://stratus-files/uploads/",
        "--s3-sse",
        "aws:kms",
        "--s3-sse-kms-key-id",
        "alias/stratus",
        "--file-metadata-url",
        "dynamodb://stratus-files",
    ])
    .map(|s| s.files) else {
        panic!("an s3 URL must parse");
    };
    assert_eq!(
        files.objects,
        ObjectStoreUrl::S3 {
            bucket: "stratus-files".into(),
            prefix: "uploads".into()
        }
    );
    assert_eq!(
        files.sse,
        S3Sse::Kms {
            key_id: Some("alias/stratus".into())
        }
    );
    assert_eq!(
        files.metadata.map(|m| m.table).as_deref(),
        Some("stratus-files")
    );
    for bad in [
        ["--files-url", "s3://Bad_Bucket/x"],
        ["--files-url", "s3://ok-bucket/../x"],
        ["--files-url", "ftp://x"],
        ["--files-url", "file://"],
        ["--s3-sse", "rot13"],
        ["--s3-sse-kms-key-id", "k"],
        ["--max-upload-bytes", "0"],
        ["--file-metadata-url", "sqlite://x"],
    ] {
        assert!(settings(&bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn the_admin_hash_must_be_argon2id_and_the_token_a_sha256() {
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3o8pnoqFGWZPVBa/p3VnVwvvMkJNDl7pvBpKnCC6ZV4";
    let token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let Ok(admin) = settings(&[
        "--admin-password-hash",
        hash,
        "--api-token-sha256",
        token,
        "--session-ttl",
        "30m",
    ])
    .map(|s| s.admin) else {
        panic!("a valid hash and token must parse");
    };
    assert_eq!(admin.username, "admin");
    assert!(admin.password_hash.is_some());
    assert_eq!(admin.api_token_sha256.map(|t| t[0]), Some(0x9f));
    assert_eq!(admin.session_ttl, Duration::from_secs(1800));
    assert!(settings(&["--admin-password-hash", "hunter2"]).is_err());
    assert!(
        settings(&[
            "--admin-password-hash",
            "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$6sPd4rJyT5K5tRlJ+1v0ZQ"
        ])
        .is_err(),
        "argon2i is not argon2id"
    );
    assert!(settings(&["--admin-password-hash", hash, "--api-token-sha256", "abc"]).is_err());
    assert!(
        settings(&["--api-token-sha256", token]).is_err(),
        "a token without an admin"
    );
    assert!(settings(&["--admin-username", " "]).is_err());
    let none = settings(&[]).map(|s| s.admin.password_hash.is_none());
    assert!(matches!(none, Ok(true)));
}

#[test]
fn a_statement_timeout_must_be_shorter_than_the_request_timeout() {
    assert!(settings(&["--database-statement-timeout", "10s"]).is_err());
    assert!(settings(&["--database-statement-timeout", "9s"]).is_ok());
}

#[test]
fn uploads_get_their_own_pool_and_a_minimum_rate_that_zero_turns_off() {
    let http = settings(&[]).expect("defaults").http;
    assert_eq!(http.max_concurrent_uploads, 64);
    let rate = http.upload_min_rate.expect("on by default");
    assert_eq!(rate.bytes_per_second.get(), 1024);
    assert_eq!(rate.bytes_per_window(), 30 * 1024);
    let off = settings(&["--upload-min-bytes-per-second", "0"]).expect("valid");
    assert_eq!(off.http.upload_min_rate, None);
    assert!(settings(&["--upload-rate-window", "0"]).is_err());
    assert!(settings(&["--max-concurrent-uploads", "0"]).is_err());
}

#[test]
fn the_command_line_definition_is_consistent() {
    Cli::command().debug_assert();
}

/// The README's settings table names every variable the binary reads, and nothing it does not.
#[test]
fn the_readme_lists_every_variable() {
    let readme = include_str!("../../README.md");
    let names = environment_variables();
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| !readme.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's settings table lacks {missing:?}"
    );
    let stale: Vec<&str> = readme
        .lines()
        .filter_map(|line| {
            line.strip_prefix("| `")?
                .split_once("` |")
                .map(|(name, _)| name)
        })
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .filter(|name| !names.iter().any(|known| known == name))
        .collect();
    assert!(
        stale.is_empty(),
        "README.md documents variables the binary does not read: {stale:?}"
    );
}

#[test]
fn public_urls_are_origins_only() {
    assert_eq!(
        parse_public_url("https://Blog.Example/").as_deref(),
        Ok("https://blog.example")
    );
    assert_eq!(
        parse_public_url("http://127.0.0.1:8000").as_deref(),
        Ok("http://127.0.0.1:8000")
    );
    for bad in [
        "blog.example",
        "ftp://blog.example",
        "https://blog.example/blog",
        "https://u:p@blog.example",
        "https://blog.example/?a=1",
    ] {
        assert!(parse_public_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_documented_variable_is_listed() {
    let names = environment_variables();
    for name in [
        "STRATUS_LISTEN",
        "DATABASE_URL",
        "RUST_LOG",
        "STRATUS_DRAIN_SECONDS",
        "STRATUS_TRUSTED_PROXIES",
        "DATABASE_PASSWORD",
        "DATABASE_PASSWORD_FILE",
        "DATABASE_PASSWORD_SSM_PARAMETER",
        "DATABASE_SECRET_ARN",
        "DATABASE_POOL_SIZE",
        "STRATUS_BOARD_URL",
        "STRATUS_FILES_URL",
        "STRATUS_FILE_METADATA_URL",
        "STRATUS_S3_SSE",
        "STRATUS_S3_SSE_KMS_KEY_ID",
        "STRATUS_MAX_UPLOAD_BYTES",
        "STRATUS_ADMIN_USERNAME",
        "STRATUS_ADMIN_PASSWORD_HASH",
        "STRATUS_ADMIN_PASSWORD_HASH_FILE",
        "STRATUS_API_TOKEN_SHA256",
        "STRATUS_SESSION_TTL",
        "STRATUS_UPLOAD_TIMEOUT",
        "DATABASE_CONNECT_TIMEOUT",
        "DATABASE_STATEMENT_TIMEOUT",
        "PGSSLROOTCERT",
        "STRATUS_CREATE_TABLES",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "STRATUS_MIGRATE_ON_START",
        "STRATUS_APP_DATABASE_SECRET_ARN",
        "STRATUS_APP_DATABASE_USER",
        "STRATUS_APP_DATABASE_PASSWORD",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
}
