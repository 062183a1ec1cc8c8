//! The commands behind `main`: serve, migrate, healthcheck, config.

use std::{process::ExitCode, time::Duration};

use crate::{
    app::{lifecycle::shutdown_signal, startup::Application},
    board::store::{DynamoDbStore, PostgresStore, SqliteStore},
    config::{Cli, Command, DatabaseUrl, FilesCommand, Settings, environment_variables},
    storage::{self, dynamodb_tables},
    telemetry,
};

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Config {
            list_env,
            dynamodb_schemas,
        }) => print_config(list_env, dynamodb_schemas),
        // Needs no settings: it must work before any are written.
        Some(Command::HashPassword) => crate::auth::cli::run(),
        Some(Command::Healthcheck { url, timeout }) => {
            let url = url.unwrap_or_else(|| cli.settings.default_healthcheck_url());
            with_runtime(false, healthcheck(url, timeout))
        }
        command => {
            let settings = match cli.settings.parse_settings() {
                Ok(settings) => settings,
                Err(err) => {
                    eprintln!("stratus: configuration error: {err}");
                    return ExitCode::from(2);
                }
            };
            let every = settings.log.flush_every;
            match (!every.is_zero())
                .then(|| telemetry::BufferedStdout::start(every))
                .flatten()
            {
                Some(buffered) => telemetry::init_logs(&settings.log, buffered),
                None => telemetry::init_logs(&settings.log, std::io::stdout),
            }
            let migrate_only = matches!(command, Some(Command::Migrate));
            let sweep = match command {
                Some(Command::Files {
                    command:
                        FilesCommand::Sweep {
                            older_than,
                            dry_run,
                        },
                }) => Some((older_than, dry_run)),
                _ => None,
            };
            let code = with_runtime(true, async move {
                let result = if let Some((older_than, dry_run)) = sweep {
                    sweep_files(&settings, older_than, dry_run).await
                } else if migrate_only {
                    migrate(&settings).await
                } else {
                    serve(settings).await
                };
                match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(err) => {
                        tracing::error!(error.message = %err, error.cause_chain = ?err, "stratus stopped with an error");
                        eprintln!("stratus: {err:#}");
                        ExitCode::FAILURE
                    }
                }
            });
            telemetry::flush_logs();
            code
        }
    }
}

fn with_runtime(multi_thread: bool, work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(work),
        Err(err) => {
            eprintln!("stratus: could not start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// How long `stratus migrate` waits for a database that is not reachable yet (a deploy step that starts
/// beside the database).
const MIGRATE_WAIT: Duration = Duration::from_secs(60);

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    match &settings.database {
        DatabaseUrl::Sqlite(sqlite) => SqliteStore::migrate_only(sqlite).await?,
        DatabaseUrl::Postgres(postgres) => {
            PostgresStore::migrate_only(postgres, MIGRATE_WAIT).await?;
        }
    }
    if let Some(board) = &settings.board {
        DynamoDbStore::migrate_only(board, MIGRATE_WAIT).await?;
    }
    tracing::info!("migrations applied");
    Ok(())
}

/// `stratus files sweep`: prints one line per finding and a summary on stdout.
async fn sweep_files(
    settings: &Settings,
    older_than: Duration,
    dry_run: bool,
) -> anyhow::Result<()> {
    let storage = storage::open(&settings.database, None, storage::Role::Maintain).await?;
    let files = crate::files::Files::open(&settings.files, &storage.sql).await?;
    let swept = crate::files::sweep::sweep(&files, older_than, dry_run).await;
    storage.close().await;
    for line in swept?.lines(dry_run) {
        println!("{line}");
    }
    Ok(())
}

async fn healthcheck(url: String, timeout: Duration) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("healthcheck: {err}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(&url).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("healthcheck: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("healthcheck: {url}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn print_config(list_env: bool, dynamodb_schemas: bool) -> ExitCode {
    if list_env == dynamodb_schemas {
        eprintln!("stratus config: pass exactly one of --list-env or --dynamodb-schemas");
        return ExitCode::from(2);
    }
    if list_env {
        for name in environment_variables() {
            println!("{name}");
        }
    } else {
        match serde_json::to_string_pretty(dynamodb_tables::TABLES) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("stratus config: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
