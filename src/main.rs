//! The `shipgate` command: parse arguments, call one function per subcommand.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use shipgate::clock::SystemClock;
use shipgate::settings::Settings;
use shipgate::store::Store;

#[derive(Parser)]
#[command(
    name = "shipgate",
    version,
    about = "Takes a feature from an issue to production through gates."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the GitHub App: webhooks, setup page, worker (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let running = shipgate::app::start(settings, Arc::new(SystemClock)).await?;
    shutdown_signal().await;
    tracing::info!("stop signal received; finishing queued deliveries");
    running.shutdown();
    running.wait().await
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
