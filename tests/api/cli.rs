//! The command line as a new user meets it: help that fits the command, errors that name what to fix,
//! completions.

use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_stratus");

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("STRATUS_LISTEN")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::time::timeout(std::time::Duration::from_secs(20), command.output())
        .await
        .expect("the command ends")
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn each_command_shows_only_the_settings_it_reads() {
    let hash = text(&run(&["hash-password", "--help"], &[]).await.stdout);
    assert!(hash.lines().count() < 20, "{hash}");
    assert!(!hash.contains("DATABASE_URL"), "{hash}");
    let migrate = text(&run(&["migrate", "--help"], &[]).await.stdout);
    assert!(migrate.contains("DATABASE_URL"), "{migrate}");
    assert!(
        !migrate.contains("STRATUS_ADMIN_PASSWORD_HASH"),
        "{migrate}"
    );
    assert!(!migrate.contains("STRATUS_LISTEN"), "{migrate}");
    let serve = text(&run(&["serve", "--help"], &[]).await.stdout);
    for heading in ["HTTP:", "Database:", "Files:", "Admin:", "Logging:", "AWS:"] {
        assert!(serve.contains(heading), "serve --help lacks {heading}");
    }
}

#[tokio::test]
async fn a_bad_value_from_the_environment_names_the_variable() {
    let out = run(&["serve"], &[("STRATUS_REQUEST_TIMEOUT", "10x")]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--request-timeout"), "{stderr}");
    assert!(stderr.contains("STRATUS_REQUEST_TIMEOUT"), "{stderr}");
}

#[tokio::test]
async fn listen_takes_host_names() {
    // `config --list-env` reads no settings; `healthcheck` parses --listen without serving.
    let out = run(
        &["healthcheck", "--timeout", "500ms"],
        &[("STRATUS_LISTEN", "localhost:9")],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("http://127.0.0.1:9/health/live"),
        "{stderr}"
    );
    let bad = run(&["healthcheck"], &[("STRATUS_LISTEN", "no port here")]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("HOST:PORT"));
}

#[tokio::test]
async fn a_failed_healthcheck_says_why() {
    // Nothing listens on port 9 of loopback: the connection is refused.
    let out = run(&["healthcheck", "http://127.0.0.1:9/health/live"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("could not connect"), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[]).await;
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains("stratus"), "{shell}");
        assert!(script.contains("healthcheck"), "{shell}");
    }
}
