//! The commands behind `main`: serve, migrate, healthcheck, config.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::ExitCode,
    time::Duration,
};

use crate::{
    app::{lifecycle::shutdown_signal, startup::Application},
    board::store::{DynamoDbStore, PostgresStore, SqliteStore},
    config::{
        Cli, Command, ConfigError, DatabaseUrl, DynamoDbSettings, FilesCommand, FilesSettings,
        LogSettings, Settings, SettingsArgs, environment_variables,
    },
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
        Some(Command::Healthcheck {
            url,
            timeout,
            listen,
        }) => {
            let url = url.unwrap_or_else(|| default_healthcheck_url(listen));
            with_runtime(false, healthcheck(url, timeout))
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "stratus",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Some(Command::Serve(args)) => serve_with(&args),
        None => serve_with(&cli.settings),
        Some(Command::Migrate(args)) => match args.parse() {
            Ok((database, board)) => with_logs(&args.log.settings(), async move {
                migrate(&database, board.as_ref()).await
            }),
            Err(err) => configuration_error(&err),
        },
        Some(Command::Files {
            command:
                FilesCommand::Sweep {
                    older_than,
                    dry_run,
                    store,
                },
        }) => match store.parse() {
            Ok((database, files)) => with_logs(&store.log.settings(), async move {
                sweep_files(&database, &files, older_than, dry_run).await
            }),
            Err(err) => configuration_error(&err),
        },
    }
}

/// `stratus serve`, and `stratus` with no command.
fn serve_with(args: &SettingsArgs) -> ExitCode {
    match args.parse_settings() {
        Ok(settings) => with_logs(&settings.log.clone(), serve(settings)),
        Err(err) => configuration_error(&err),
    }
}

/// A setting is wrong: say which, exit 2 (what a usage error exits with).
fn configuration_error(err: &ConfigError) -> ExitCode {
    eprintln!("stratus: configuration error: {err}");
    ExitCode::from(2)
}

/// Starts logging, runs `work` on a multi-threaded runtime, and reports its error, if any.
fn with_logs(
    log: &LogSettings,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let every = log.flush_every;
    match (!every.is_zero())
        .then(|| telemetry::BufferedStdout::start(every))
        .flatten()
    {
        Some(buffered) => telemetry::init_logs(log, buffered),
        None => telemetry::init_logs(log, std::io::stdout),
    }
    let code = with_runtime(true, async move {
        match work.await {
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

/// The URL `stratus healthcheck` checks when none is given: `/health/live` on the listen port, on
/// loopback when listening on every address.
fn default_healthcheck_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/health/live", SocketAddr::new(ip, listen.port()))
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

/// Raises the open-file limit to what the system allows (each connection takes a descriptor; the usual
/// soft limit of 1,024 would refuse the 1,025th), and says what it is.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
        tracing::warn!(
            open_files_limit = soft,
            "could not raise the open-file limit"
        );
    }
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(soft, |(now, _)| now);
    tracing::info!(
        open_files_limit = limit,
        "up to {limit} open files: connections, database connections and uploads share them"
    );
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    raise_open_files_limit();
    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// How long `stratus migrate` waits for a database that is not reachable yet (a deploy step that starts
/// beside the database).
const MIGRATE_WAIT: Duration = Duration::from_secs(60);

async fn migrate(database: &DatabaseUrl, board: Option<&DynamoDbSettings>) -> anyhow::Result<()> {
    match database {
        DatabaseUrl::Sqlite(sqlite) => SqliteStore::migrate_only(sqlite).await?,
        DatabaseUrl::Postgres(postgres) => {
            PostgresStore::migrate_only(postgres, MIGRATE_WAIT).await?;
        }
    }
    if let Some(board) = board {
        DynamoDbStore::migrate_only(board, MIGRATE_WAIT).await?;
    }
    tracing::info!("migrations applied");
    Ok(())
}

/// `stratus files sweep`: prints one line per finding and a summary on stdout.
async fn sweep_files(
    database: &DatabaseUrl,
    settings: &FilesSettings,
    older_than: Duration,
    dry_run: bool,
) -> anyhow::Result<()> {
    let storage = storage::open(database, None, storage::Role::Maintain).await?;
    let files = crate::files::Files::open(settings, &storage.sql).await?;
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
            eprintln!("healthcheck: {url}: {}", request_failure(&err, timeout));
            ExitCode::FAILURE
        }
    }
}

/// Why a check's request failed, in words: no answer in time, or the error with every cause (connection
/// refused, no route to host, a bad certificate, ...), which reqwest's own text leaves out.
fn request_failure(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("no answer within {}", humantime_like(timeout));
    }
    let mut text = if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `2s`, `500ms`: a timeout as it was probably written.
fn humantime_like(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
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
