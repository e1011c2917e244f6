//! The `shipgate` command: parse arguments, call one function per subcommand.
//! Must not: hold behaviour beyond wiring arguments, signals and exit codes.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use shipgate::clock::SystemClock;
use shipgate::settings::Settings;
use shipgate::store::Store;

#[derive(Parser)]
#[command(
    name = "shipgate",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SHIPGATE_COMMIT"), ")"),
    about = "Takes a feature from an issue to production through gates."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// What `serve --help` adds: the settings and the exit codes.
const SERVE_HELP: &str = "\
Settings (environment variables, or a .env file named by SHIPGATE_ENV_FILE; the README has them all):
  DATABASE_URL                        sqlite://shipgate.db (default) or postgres://…
  GITHUB_APP_ID, GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, GITHUB_WEBHOOK_SECRET
                                      the App (none: first-run setup at /setup)
  GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_APP_SLUG
                                      sign-in for the dashboard and API; the bot's name
  GITHUB_API_URL, GITHUB_URL          https://api.github.com, https://github.com
  SHIPGATE_BIND                       127.0.0.1:3000
  SHIPGATE_PUBLIC_URL                 http://<SHIPGATE_BIND>
  SHIPGATE_ENV_FILE                   .env
  SHIPGATE_LOG_FORMAT                 text | json
  SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS  false
  SHIPGATE_NOTIFY_URL, SHIPGATE_NOTIFY_FORMAT, SHIPGATE_NOTIFY_SECRET
  SHIPGATE_METRICS_TOKEN              guards /metrics (Bearer)
  SHIPGATE_OIDC_ISSUER                https://token.actions.githubusercontent.com
  SHIPGATE_OIDC_AUDIENCE              SHIPGATE_PUBLIC_URL without a trailing slash
  SHIPGATE_RESYNC_AFTER               10m
  SHIPGATE_CONTENT_PACING             on | off
  SHIPGATE_HEADER_TIMEOUT, SHIPGATE_BODY_TIMEOUT          5s, 30s
  SHIPGATE_MAX_CONNECTIONS, SHIPGATE_MAX_CONNECTIONS_PER_CLIENT   4096, 512
  RUST_LOG                            info

Exit codes:
  0  stopped on SIGTERM or SIGINT after finishing queued deliveries
  1  could not start (database, migrations, address in use) or stopped by a second signal
  2  a setting is missing or wrong (the message names it, never its value)";

#[derive(Subcommand)]
enum Command {
    /// Run the GitHub App: webhooks, setup page, worker, dashboard and API (the default).
    #[command(after_help = SERVE_HELP)]
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Run one feature through every gate to production against the built-in GitHub
    /// simulator (no App, no network), printed as a timeline; exit 1 unless it reaches done.
    Demo,
    /// List pipelines as the dashboard does, from the database (for operators with a shell).
    Pipelines {
        /// Only this repository (`owner/name`).
        #[arg(long)]
        repo: Option<String>,
        /// Only this phase (`intake`, …, `done`, `rolled_back`).
        #[arg(long)]
        phase: Option<String>,
    },
    /// Show one pipeline as its dashboard page does: `shipgate status owner/repo#N`.
    Status {
        /// The feature issue, `owner/repo#N`.
        #[arg(value_name = "OWNER/REPO#N")]
        issue: String,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// The repository configuration file (`.github/shipgate.yml`): check one, or print its
    /// JSON Schema.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of every entry; exit 1 naming the first broken entry.
    Verify {
        /// A head published earlier (`SEQ:HASH`, from a notification or a closing summary)
        /// that the log must still hold: its SEQ-th entry has that hash. Finds a log that
        /// was truncated, or rewritten and re-hashed, since. May be given more than once.
        #[arg(long = "head", value_name = "SEQ:HASH", value_parser = parse_head)]
        heads: Vec<shipgate::store::audit::Head>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Report every unknown key and bad value with its line; exit 1 if there is any.
    Check {
        /// The file to check.
        file: std::path::PathBuf,
    },
    /// Print the file's JSON Schema (2020-12), which editors can validate with: a first line
    /// `# yaml-language-server: $schema=<where you keep it>` in the file.
    Schema,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // Needs no settings, no database and no App.
    if let Some(Command::Config {
        action: ConfigCommand::Check { file },
    }) = &cli.command
    {
        return config_check(file);
    }
    if let Some(Command::Config {
        action: ConfigCommand::Schema,
    }) = &cli.command
    {
        print!("{}", shipgate::pipeline::config::SCHEMA);
        return ExitCode::SUCCESS;
    }
    // Needs nothing either: the demo brings its own GitHub, database and health endpoint.
    if let Some(Command::Demo) = &cli.command {
        return demo();
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shipgate: {e}");
            return ExitCode::from(2);
        }
    };
    shipgate::logging::init(settings.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Audit {
                action: AuditCommand::Verify { heads },
            } => audit_verify(settings, &heads).await,
            Command::Pipelines { repo, phase } => {
                shipgate::app::operator::pipelines(&settings, repo, phase).await
            }
            Command::Status { issue } => shipgate::app::operator::status(&settings, &issue).await,
            Command::Config { .. } | Command::Demo => {
                unreachable!("handled before settings are read")
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shipgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match runtime.block_on(shipgate::app::demo::run()) {
        Ok(true) => {
            println!("\nDone: the feature is in production and its issue is closed.");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("\nshipgate demo: the pipeline did not reach done");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("\nshipgate demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_check(file: &std::path::Path) -> ExitCode {
    use shipgate::pipeline::config::{ConfigFile, LoadedConfig};
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shipgate: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let own = ConfigFile::Found {
        bytes: &bytes,
        size: bytes.len(),
    };
    let loaded = LoadedConfig::read(ConfigFile::Missing, own);
    if loaded.is_valid() {
        println!("{}: valid", file.display());
        return ExitCode::SUCCESS;
    }
    for e in &loaded.errors {
        let place = match (e.line, e.key.is_empty()) {
            (0, _) => String::new(),
            (line, true) => format!("{line}: "),
            (line, false) => format!("{line}: `{}`: ", e.key),
        };
        println!("{}:{place}{}", file.display(), e.message);
    }
    println!("{} problem(s)", loaded.errors.len());
    ExitCode::FAILURE
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Signals are watched from the start: a stop during migrations exits cleanly too.
    let mut stop = StopSignals::install();
    let running = tokio::select! {
        started = shipgate::app::start(settings, Arc::new(SystemClock)) => started?,
        _ = stop.next() => {
            tracing::info!("stop signal received during start-up");
            return Ok(());
        }
    };
    stop.next().await;
    tracing::info!(
        "stop signal received; finishing queued deliveries (a second signal stops at once)"
    );
    running.shutdown();
    tokio::select! {
        done = running.wait() => done,
        _ = stop.next() => {
            tracing::warn!("second stop signal: exiting without waiting");
            std::process::exit(1);
        }
    }
}

fn parse_head(text: &str) -> Result<shipgate::store::audit::Head, String> {
    text.parse()
}

async fn audit_verify(
    settings: Settings,
    heads: &[shipgate::store::audit::Head],
) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    let verdict = store.verify_audit_against(heads).await?;
    let head = store.audit_head().await?;
    store.close().await;
    match verdict {
        Ok(count) => {
            println!(
                "audit log intact: {count} entries, each chained to the one before; head {head}"
            );
            for published in heads {
                println!("holds the published head {published}");
            }
            Ok(())
        }
        Err(broken) => anyhow::bail!("audit log broken: {broken}"),
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    let applied = store.applied_migrations().await?;
    println!(
        "database is up to date ({} migrations applied, latest {})",
        applied.len(),
        applied
            .last()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into())
    );
    store.close().await;
    Ok(())
}

/// SIGTERM and SIGINT, whichever comes.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler installs"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler installs"),
        }
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// glibc gives each thread that allocates a malloc arena of its own (up to eight per core),
/// and each keeps what was freed in it; shipgate's threads (the runtime's, SQLite's
/// connections', the background thread) share two, unless the operator set
/// `MALLOC_ARENA_MAX`. Measured under `bench/ingest.sh` (one core): peak RSS 36.2 → 33.6
/// MiB, the same throughput.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: sets a tunable of the allocator (glibc takes its own locks); called first
    // thing in `main`, before any thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
