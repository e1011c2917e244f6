//! Wiring: settings → store → GitHub App → HTTP router and delivery writer (ingest), the
//! worker, and the low-priority background thread (decoding, database upkeep); and an
//! orderly shutdown.
//!
//! Shutdown order matters. The effect executor stops first (after the effect under way) while
//! the server still holds the listening address, which names the executor's claims. Then,
//! for "every 202 stays stored": stop accepting connections, let in-flight requests finish
//! (each waits for its commit), let the writer drain its queue, then stop the worker and the
//! background thread and close the database.
//! Must not: hold behaviour of its own — it only connects parts.

pub mod demo;
pub mod operator;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::engine::advance::Outlets;
use crate::engine::background;
use crate::engine::evidence::EvidenceDesk;
use crate::engine::executor::Executor;
use crate::engine::notify::Notifier;
use crate::engine::resolver::Resolver;
use crate::engine::timers::Timers;
use crate::engine::worker::Worker;
use crate::github::LiveApp;
use crate::github::app::GitHubApp;
use crate::github::client::GitHub;
use crate::github::octocrab_client::OctocrabGitHub;
use crate::github::oidc::OidcVerifier;
use crate::http::setup::SetupGuard;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::settings::{IntakeLimits, Settings};
use crate::store::Store;
use crate::store::group_commit::{DeliveryWriter, OnCommit, WriterStats};

/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// A started shipgate. Dropping it does not stop it; call [`Running::shutdown`] and
/// [`Running::wait`].
pub struct Running {
    pub addr: SocketAddr,
    pub store: Store,
    pub github: Arc<LiveApp>,
    pub writer_stats: Arc<WriterStats>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks shipgate to stop: no new connections; queued deliveries are still committed.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Waits until shipgate has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("shipgate's main task panicked")?
    }
}

/// Connects to the database (running migrations), binds `settings.bind` and starts serving.
pub async fn start(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let store = Store::connect(&settings.database).await?;
    store
        .migrate()
        .await
        .context("database migrations failed")?;
    crate::engine::advance::index_planned_sub_issues(&store)
        .await
        .context("indexing the sub-issues of planned pipelines")?;
    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("setting SHIPGATE_BIND: cannot listen on {}", settings.bind))?;
    start_on(listener, settings, store, clock).await
}

/// Like [`start`], on an already bound listener and an open store.
pub async fn start_on(
    listener: TcpListener,
    settings: Settings,
    store: Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let mut settings = settings;
    // Without SHIPGATE_PUBLIC_URL the public URL is the bind address; port 0 means the
    // port the system chose, which only the listener knows.
    if settings.public_url.port() == Some(0) {
        let _ = settings.public_url.set_port(Some(addr.port()));
    }
    let metrics = Arc::new(Metrics::new());
    let app = match settings.app.clone() {
        Some(credentials) => Some(Arc::new(GitHubApp::new(
            credentials,
            &settings.github_api_url,
            clock.clone(),
            settings.content_pacing,
            metrics.clone(),
        )?)),
        None => None,
    };
    let setup = match app {
        Some(_) => None,
        None => {
            let guard = SetupGuard::create(&settings.env_file)
                .context("cannot write the setup token beside SHIPGATE_ENV_FILE")?;
            tracing::warn!(
                token_file = %guard.token_file.display(),
                "no GitHub App configured: open {}setup?token=<the token in token_file> to register one",
                settings.public_url
            );
            Some(Arc::new(guard))
        }
    };
    let github = Arc::new(LiveApp::new(app));
    let wake = Arc::new(Notify::new());
    let writer_stop = CancellationToken::new();
    let (writer, writer_task) = {
        let metrics = metrics.clone();
        let on_commit: OnCommit =
            Arc::new(move |rows, took| metrics.ingest_commit(rows, took.as_secs_f64()));
        DeliveryWriter::spawn(store.clone(), wake.clone(), writer_stop.clone(), on_commit)
    };
    let writer_stats = writer.stats.clone();
    let stop = CancellationToken::new();

    let engine_stop = CancellationToken::new();
    let (decoder, background) = background::spawn(
        settings.database.clone(),
        writer_stats.clone(),
        engine_stop.clone(),
    )?;
    let client: Arc<dyn GitHub> = Arc::new(OctocrabGitHub::new(github.clone()));
    let slug = settings.app.as_ref().and_then(|a| a.slug.clone());
    let resolver = Arc::new(Resolver::new(store.clone(), client, clock.clone(), slug));
    let effects_wake = Arc::new(Notify::new());
    let outlets = Outlets {
        notifier: settings.notify.clone().map(|n| Arc::new(Notifier::new(n))),
        metrics: metrics.clone(),
        public_url: settings.public_url.clone(),
    };
    let evidence = {
        let audience = settings.oidc_audience.clone().unwrap_or_else(|| {
            settings
                .public_url
                .as_str()
                .trim_end_matches('/')
                .to_owned()
        });
        Arc::new(http::EvidenceIntake {
            verifier: OidcVerifier::new(settings.oidc_issuer.as_str(), &audience),
            desk: EvidenceDesk::new(
                store.clone(),
                resolver.clone(),
                clock.clone(),
                outlets.clone(),
                effects_wake.clone(),
            ),
        })
    };
    let worker = Worker {
        store: store.clone(),
        clock: clock.clone(),
        decoder,
        wake,
        ingest: writer_stats.clone(),
        resolver: resolver.clone(),
        effects_wake: effects_wake.clone(),
        deferred: Default::default(),
        outlets: outlets.clone(),
    };
    let worker_task = tokio::spawn(worker.run(engine_stop.clone()));
    let timers = Timers {
        store: store.clone(),
        clock: clock.clone(),
        resolver: resolver.clone(),
        effects_wake: effects_wake.clone(),
        outlets: outlets.clone(),
    };
    let timers_task = tokio::spawn(timers.run(engine_stop.clone()));
    let holder = holder_name(addr);
    let reconciler = crate::engine::reconciler::Reconciler::new(
        store.clone(),
        resolver.github().clone(),
        clock.clone(),
        holder.clone(),
    );
    let reconciler_task = tokio::spawn(reconciler.run(engine_stop.clone()));
    let resync = crate::engine::resync::Resync {
        store: store.clone(),
        resolver: resolver.clone(),
        clock: clock.clone(),
        holder: holder.clone(),
        quiet: settings.resync_after,
        effects_wake: effects_wake.clone(),
        outlets: outlets.clone(),
    };
    let resync_task = tokio::spawn(resync.run(engine_stop.clone()));
    let executor = Executor::new(
        store.clone(),
        holder,
        resolver,
        clock.clone(),
        effects_wake,
        settings.allow_private_health_urls,
        outlets,
    );
    // The address names this process's effect claims, and a process that starts on it
    // releases the claims left under it: so the executor stops first (after the effect under
    // way, giving back the claims it will not run), while the server still holds the address
    // and answers webhooks.
    let executor_stop = CancellationToken::new();
    let executor_stopped = CancellationToken::new();
    let executor_task = {
        let (stop, stopped) = (executor_stop.clone(), executor_stopped.clone());
        tokio::spawn(async move {
            executor.run(stop).await;
            stopped.cancel();
        })
    };

    let settings_intake = settings.intake;
    let state = AppState {
        store: store.clone(),
        writer,
        github: github.clone(),
        settings: Arc::new(settings),
        clock,
        setup,
        metrics,
        viewers: Default::default(),
        evidence,
        body_budget: http::shares::Shares::new(
            http::webhook::BODY_BUDGET_BYTES / http::webhook::BUDGET_UNIT,
            http::webhook::BODY_BUDGET_PER_CLIENT_BYTES / http::webhook::BUDGET_UNIT,
        ),
    };
    let router = http::router(state);
    let descriptors = http::serve::raise_descriptor_limit();
    let limits = IntakeLimits {
        max_connections: http::serve::fit_connections(settings_intake.max_connections, descriptors),
        ..settings_intake
    };
    if limits.max_connections < settings_intake.max_connections {
        tracing::warn!(
            descriptors,
            max_connections = limits.max_connections,
            "the descriptor limit holds fewer connections than SHIPGATE_MAX_CONNECTIONS; serving at most max_connections"
        );
    }
    let serve_stop = stop.clone();
    let task_store = store.clone();
    let task = tokio::spawn(async move {
        tracing::info!(%addr, "shipgate listening");
        let graceful = http::serve::serve(listener, router, limits, {
            let (serve_stop, executor_stop) = (serve_stop.clone(), executor_stop.clone());
            async move {
                serve_stop.cancelled().await;
                executor_stop.cancel();
                executor_stopped.cancelled().await;
            }
        });
        // A client that keeps a request open cannot hold shutdown forever.
        let deadline = async {
            serve_stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            () = graceful => {}
            () = deadline => {
                tracing::warn!("connections still open {} s after the stop signal; closing them", SHUTDOWN_GRACE.as_secs());
            }
        };
        // No more requests: the writer commits what is queued and ends.
        writer_stop.cancel();
        writer_task.await.context("the delivery writer panicked")?;
        engine_stop.cancel();
        worker_task.await.context("the delivery worker panicked")?;
        timers_task.await.context("the timers panicked")?;
        reconciler_task.await.context("the reconciler panicked")?;
        resync_task.await.context("the resync watchdog panicked")?;
        executor_stop.cancel();
        executor_task
            .await
            .context("the effect executor panicked")?;
        tokio::task::spawn_blocking(move || background.join())
            .await
            .context("waiting for the background thread")?
            .map_err(|_| anyhow::anyhow!("the background thread panicked"))?;
        task_store.close().await;
        tracing::info!("shipgate stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        store,
        github,
        writer_stats,
        stop,
        task,
    })
}

/// This process's name as a holder of claims: `<host>:<address>`. Only one live process can
/// listen on an address of a host, so a process that finds claims under its own name knows
/// their holder died.
fn holder_name(addr: SocketAddr) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let host = match std::str::from_utf8(&buf[..end]) {
        Ok(h) if ok && !h.is_empty() => h,
        _ => "localhost",
    };
    format!("{host}:{addr}")
}
