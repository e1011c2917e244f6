//! Shared test harness: a fresh database per test (SQLite file or a new PostgreSQL database),
//! shipgate started in-process on a free port, the GitHub simulator, and signed webhooks.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shipgate::app::Running;
use shipgate::clock::{Clock, SystemClock};
use shipgate::github::signature;
use shipgate::settings::{DatabaseUrl, Settings};
use shipgate::sim::Simulator;
use shipgate::store::Store;

/// The PostgreSQL server tests use; `.ci/run` sets it, and the default is the machine's.
pub fn postgres_admin_url() -> String {
    std::env::var("SHIPGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a temporary SQLite file, or a PostgreSQL database
/// created for the test and dropped after it.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop needs async I/O; do it on a thread of its own (tests run inside a runtime).
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
                Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = postgres_admin_url();
                let name = format!("shipgate_t_{}", hex::encode(rand_bytes()));
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for this test (SHIPGATE_TEST_POSTGRES_URL, default 127.0.0.1:5432): {e}")
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create a test database");
                let mut url = url::Url::parse(&admin).expect("postgres URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    backend,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("test database URL")
    }

    /// Runs `sql` on its own connection, as someone with database access would.
    #[allow(dead_code)]
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        }
    }

    /// Runs `sql` (one text column) on its own connection: what a reader of the database
    /// would see.
    #[allow(dead_code)]
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        use sqlx::{Connection, Row};
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
        }
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.database_url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

fn rand_bytes() -> [u8; 6] {
    use rand::RngCore;
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    b
}

/// Builds settings from `pairs` plus a database and a free port.
pub fn settings(db: &TestDb, pairs: &[(&str, String)]) -> Settings {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    map.insert("DATABASE_URL".into(), db.url.clone());
    map.entry("SHIPGATE_BIND".into())
        .or_insert_with(|| "127.0.0.1:0".into());
    Settings::from_lookup(|k| map.get(k).cloned()).expect("test settings are valid")
}

/// Settings that make shipgate the simulator's App. Health probes may reach local test
/// endpoints (`SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS=true`).
pub fn app_settings(db: &TestDb, sim: &Simulator) -> Settings {
    app_settings_with(db, sim, true)
}

/// Like [`app_settings`], choosing whether health probes may reach internal addresses.
pub fn app_settings_with(db: &TestDb, sim: &Simulator, allow_private_health: bool) -> Settings {
    let mut pairs: Vec<(&str, String)> = sim.app_env();
    pairs.push((
        "SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS",
        allow_private_health.to_string(),
    ));
    settings(db, &pairs)
}

/// shipgate running in-process, or as a child process of the `shipgate` binary.
pub struct Shipgate {
    pub running: Option<Running>,
    pub process: Option<Process>,
    pub url: url::Url,
    pub store: Store,
    pub secret: String,
    pub http: reqwest::Client,
}

impl Shipgate {
    /// Starts shipgate as the simulator's App and points the simulator's webhooks at it.
    pub async fn start(db: &TestDb, sim: &Simulator) -> Self {
        Self::start_with_clock(db, sim, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(db: &TestDb, sim: &Simulator, clock: Arc<dyn Clock>) -> Self {
        let settings = app_settings(db, sim);
        let secret = sim.with(|s| s.app.webhook_secret.clone());
        let me = Self::start_settings(settings, clock, secret).await;
        sim.set_webhook_url(me.url.join("api/github/webhooks").expect("joins"));
        me
    }

    pub async fn start_settings(settings: Settings, clock: Arc<dyn Clock>, secret: String) -> Self {
        let running = shipgate::app::start(settings, clock)
            .await
            .expect("shipgate starts");
        let url = url::Url::parse(&format!("http://{}/", running.addr)).expect("URL");
        let store = running.store.clone();
        Self {
            running: Some(running),
            process: None,
            url,
            store,
            secret,
            http: reqwest::Client::new(),
        }
    }

    /// Starts shipgate with no App configured (first-run setup), talking to the simulator,
    /// with its public URL known up front and `.env` written to `env_file`.
    pub async fn start_unconfigured(
        db: &TestDb,
        sim: &Simulator,
        env_file: &std::path::Path,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let settings = settings(
            db,
            &[
                ("GITHUB_API_URL", sim.api_url().to_string()),
                ("GITHUB_URL", sim.web_url().to_string()),
                ("SHIPGATE_PUBLIC_URL", format!("http://{addr}/")),
                ("SHIPGATE_ENV_FILE", env_file.display().to_string()),
            ],
        );
        assert!(settings.app.is_none());
        let store = db.store().await;
        let running =
            shipgate::app::start_on(listener, settings, store.clone(), Arc::new(SystemClock))
                .await
                .expect("shipgate starts without an App");
        Self {
            running: Some(running),
            process: None,
            url: url::Url::parse(&format!("http://{addr}/")).expect("URL"),
            store,
            secret: String::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub fn webhook_url(&self) -> String {
        self.url
            .join("api/github/webhooks")
            .expect("joins")
            .to_string()
    }

    /// Posts a webhook signed with shipgate's secret.
    pub async fn post_webhook(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.http
            .post(self.webhook_url())
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                signature::sign(self.secret.as_bytes(), body),
            )
            .body(body.to_vec())
            .send()
            .await
            .expect("request reaches shipgate")
    }

    /// `GET /metrics` (asserting a 200 in the OpenMetrics text format): the text.
    pub async fn metrics(&self) -> String {
        let answer = self
            .http
            .get(self.url.join("metrics").expect("joins"))
            .send()
            .await
            .expect("request reaches shipgate");
        assert_eq!(answer.status(), 200);
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        answer.text().await.expect("a body")
    }

    /// Waits until shipgate has taken every delivery and run every due effect, and the
    /// simulator has sent every webhook those effects caused (at most 45 s: long enough for
    /// a dead replica's lease to run out and another to take its work over).
    pub async fn settle(&self, sim: &Simulator) {
        let deadline = std::time::Instant::now() + Duration::from_secs(45);
        while std::time::Instant::now() < deadline {
            sim.settle().await;
            self.drain().await;
            if self.store.pending_effects().await.unwrap() == 0 {
                sim.settle().await;
                self.drain().await;
                if self.store.pending_effects().await.unwrap() == 0 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "shipgate did not settle: {} effects pending",
            self.store.pending_effects().await.unwrap()
        );
    }

    /// Waits (up to 20 s: the whole suite shares two cores) until the worker has processed
    /// every pending delivery.
    pub async fn drain(&self) {
        for _ in 0..2000 {
            let counts = self.store.delivery_counts().await.expect("counts");
            if !counts
                .iter()
                .any(|(s, n)| s.as_str() == "pending" && *n > 0)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("deliveries stayed pending");
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown();
            running.wait().await.expect("clean shutdown");
        }
        if let Some(mut process) = self.process.take() {
            process.terminate();
        }
    }

    /// Starts the `shipgate serve` binary as the simulator's App on `addr` (a free loopback
    /// port if `None`), with `extra` settings, and waits until it answers `/healthz`. Its log
    /// goes to `log` (a file the test keeps).
    pub async fn spawn(
        db: &TestDb,
        sim: &Simulator,
        addr: Option<std::net::SocketAddr>,
        extra: &[(&str, &str)],
        log: &std::path::Path,
    ) -> Self {
        Self::spawn_with_descriptors(db, sim, addr, extra, log, None).await
    }

    /// Like [`Shipgate::spawn`], the process started with this descriptor limit
    /// (`RLIMIT_NOFILE` soft, hard) if one is given.
    pub async fn spawn_with_descriptors(
        db: &TestDb,
        sim: &Simulator,
        addr: Option<std::net::SocketAddr>,
        extra: &[(&str, &str)],
        log: &std::path::Path,
        descriptors: Option<(u64, u64)>,
    ) -> Self {
        let addr = addr.unwrap_or_else(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("address")
        });
        let mut env: Vec<(String, String)> = sim
            .app_env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.extend(
            [
                ("DATABASE_URL", db.url.as_str()),
                ("SHIPGATE_BIND", &addr.to_string()),
                ("SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS", "true"),
                ("RUST_LOG", "info"),
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let log = log.to_owned();
        let start = Arc::new(move || {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log file");
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"));
            command
                .env_clear()
                .current_dir(log.parent().expect("log directory"))
                .envs(env.iter().map(|(k, v)| (k, v)))
                .arg("serve")
                .stdin(std::process::Stdio::null())
                .stdout(out.try_clone().expect("log file"))
                .stderr(out);
            if let Some((soft, hard)) = descriptors {
                use std::os::unix::process::CommandExt;
                let limit = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                // SAFETY: setrlimit is async-signal-safe and touches only the child.
                unsafe {
                    command.pre_exec(move || {
                        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                            Ok(())
                        } else {
                            Err(std::io::Error::last_os_error())
                        }
                    });
                }
            }
            command.spawn().expect("the shipgate binary starts")
        });
        let process = Process {
            child: Arc::new(std::sync::Mutex::new(start())),
            addr,
            start,
        };
        let url = url::Url::parse(&format!("http://{addr}/")).expect("URL");
        process.wait_until_up().await;
        sim.set_webhook_url(url.join("api/github/webhooks").expect("joins"));
        Self {
            running: None,
            process: Some(process),
            url,
            store: db.store().await,
            secret: sim.with(|s| s.app.webhook_secret.clone()),
            http: reqwest::Client::new(),
        }
    }
}

/// A `shipgate serve` child process that a test can kill and start again on the same
/// address; SIGTERMed when dropped.
#[derive(Clone)]
pub struct Process {
    pub child: Arc<std::sync::Mutex<std::process::Child>>,
    pub addr: std::net::SocketAddr,
    start: Arc<dyn Fn() -> std::process::Child + Send + Sync>,
}

impl Process {
    /// Waits (up to 15 s) until the process answers `/healthz`.
    pub async fn wait_until_up(&self) {
        let url = format!("http://{}/healthz", self.addr);
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("shipgate did not start on {}", self.addr);
    }

    /// SIGKILLs the process: no shutdown, no cleanup; whatever it was doing is cut off.
    pub fn kill(&self) {
        let mut child = self.child.lock().expect("child");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    /// SIGKILLs the process and starts it again on the same address and database.
    pub async fn kill_and_restart(&self) {
        {
            let mut child = self.child.lock().expect("child");
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            *child = (self.start)();
        }
        self.wait_until_up().await;
    }

    /// SIGTERM, then waits for it to exit.
    pub fn terminate(&mut self) {
        let mut child = self.child.lock().expect("child");
        if let Ok(None) = child.try_wait() {
            // SAFETY: kill(2) with a pid this test started and has not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

impl Drop for Shipgate {
    fn drop(&mut self) {
        if let Some(process) = self.process.as_mut() {
            process.terminate();
        }
    }
}

/// Runs `scenario` while the next request to `operation` is carried out by the simulator
/// and never answered; as soon as GitHub has done the work, runs `crash` with that request
/// (its `peer` names the process that sent it). Returns the scenario's output.
pub async fn crash_at<T, C: std::future::Future<Output = ()>>(
    sim: &Simulator,
    operation: &str,
    crash: impl FnOnce(shipgate::sim::state::RecordedRequest) -> C,
    scenario: impl std::future::Future<Output = T>,
) -> T {
    crash_at_nth(sim, operation, 0, crash, scenario).await
}

/// As [`crash_at`], at the request to `operation` after the next `skip`.
pub async fn crash_at_nth<T, C: std::future::Future<Output = ()>>(
    sim: &Simulator,
    operation: &str,
    skip: usize,
    crash: impl FnOnce(shipgate::sim::state::RecordedRequest) -> C,
    scenario: impl std::future::Future<Output = T>,
) -> T {
    let sent = |sim: &Simulator| {
        sim.requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some(operation))
            .collect::<Vec<_>>()
    };
    let before = sent(sim).len() + skip;
    sim.hang_after_nth(operation, skip);
    let watch = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(hung) = sent(sim).into_iter().nth(before) {
                crash(hung).await;
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the scenario never reached {operation}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let ((), out) = tokio::join!(watch, scenario);
    out
}

/// The process among `pids` that owns the loopback TCP connection from `peer` to port
/// `server` (Linux: the socket's inode in /proc/net/tcp, then among each process's fds).
pub fn pid_of_peer(peer: std::net::SocketAddr, server: u16, pids: &[u32]) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let (local, remote) = (format!(":{:04X}", peer.port()), format!(":{server:04X}"));
    // One ephemeral port can serve connections to different servers at once, and an earlier
    // connection may linger in TIME_WAIT (owned by no process: inode 0).
    let inode = table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.len() > 9
            && cols[1].ends_with(&local)
            && cols[2].ends_with(&remote)
            && cols[9] != "0")
            .then(|| cols[9].to_owned())
    })?;
    let wanted = format!("socket:[{inode}]");
    pids.iter().copied().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy() == wanted)
            })
    })
}

/// A round-robin HTTP load balancer on loopback in front of `targets`: each request goes to
/// the next target, or the one after if that one refuses the connection (a dead replica).
pub async fn balancer(targets: Vec<std::net::SocketAddr>) -> std::net::SocketAddr {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (next, client, targets) = (next.clone(), client.clone(), targets.clone());
        async move {
            use axum::response::IntoResponse;
            let (parts, body) = request.into_parts();
            let Ok(body) = axum::body::to_bytes(body, 30 << 20).await else {
                return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
            };
            let start = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            for i in 0..targets.len() {
                let target = targets[(start + i) % targets.len()];
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut forward = client
                    .request(parts.method.clone(), format!("http://{target}{path}"))
                    .body(body.clone());
                for (k, v) in &parts.headers {
                    if k != axum::http::header::HOST {
                        forward = forward.header(k, v);
                    }
                }
                let Ok(answer) = forward.send().await else {
                    continue;
                };
                let status = answer.status();
                let bytes = answer.bytes().await.unwrap_or_default();
                return (status, bytes).into_response();
            }
            axum::http::StatusCode::BAD_GATEWAY.into_response()
        }
    });
    serve_local(app).await
}

/// Defines `sqlite` and `postgres` tests running the same async test body.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

/// The value of the sample `series` (name and labels exactly as exposed) in a `/metrics`
/// text, if present.
#[allow(dead_code)]
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    })
}

/// A webhook example payload from `tests/fixtures/github/webhooks/<event>/<file>`.
pub fn fixture(event: &str, file: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/github/webhooks/{event}/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture exists")
}

/// Every fixture as (event, file name, body).
pub fn all_fixtures() -> Vec<(String, String, Vec<u8>)> {
    let root = format!(
        "{}/tests/fixtures/github/webhooks",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut out = Vec::new();
    for event in std::fs::read_dir(&root).expect("fixtures dir") {
        let event = event.expect("entry");
        let name = event.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(event.path()).expect("event dir") {
            let file = file.expect("entry");
            let body = std::fs::read(file.path()).expect("read fixture");
            out.push((
                name.clone(),
                file.file_name().to_string_lossy().into_owned(),
                body,
            ));
        }
    }
    out.sort();
    out
}

pub fn guid() -> String {
    format!("{}-test", hex::encode(rand_bytes()))
}

/// A local health endpoint at `/health`: 200 while `healthy` is set, else 503; counts the
/// requests it answers in `hits`. Returns its URL.
pub async fn health_endpoint(
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use std::sync::atomic::Ordering;
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let (healthy, hits) = (healthy.clone(), hits.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                if healthy.load(Ordering::SeqCst) {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    format!("http://{}/health", serve_local(app).await)
}

/// Serves `app` on a free local port (for the test's lifetime); returns its address.
pub async fn serve_local(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// shipgate's status comment on issue `n` of `repo`, as a user sees it now.
pub fn status_comment(sim: &shipgate::sim::Simulator, repo: &str, n: u64) -> String {
    sim.with(|s| {
        s.repos[repo]
            .comments
            .values()
            .find(|c| c.issue_number == n && c.body.starts_with("<!-- shipgate:status"))
            .map(|c| c.body.clone())
            .unwrap_or_default()
    })
}

/// shipgate's other comments on issue or PR `n` of `repo`, oldest first.
pub fn bot_replies(sim: &shipgate::sim::Simulator, repo: &str, n: u64) -> Vec<String> {
    sim.with(|s| {
        let bot = s.app.bot_login();
        s.repos[repo]
            .comments
            .values()
            .filter(|c| c.issue_number == n && c.user == bot)
            .filter(|c| !c.body.starts_with("<!-- shipgate:status"))
            .map(|c| c.body.clone())
            .collect()
    })
}
pub mod attack;
pub mod openapi;
pub mod world;
