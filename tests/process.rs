//! The `shipgate` binary as an operator runs it: start-up errors, `migrate`, health, logs, and
//! a SIGTERM in the middle of a burst of deliveries.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::fixture;
use shipgate::github::signature;
use shipgate::settings::DatabaseUrl;
use shipgate::store::Store;
use shipgate::store::deliveries::DeliveryStatus;

const SECRET: &str = "process test secret";

fn shipgate(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    cmd.env_clear().current_dir(dir).env("RUST_LOG", "info");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unreadable_private_key_stops_start_up_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(shipgate(dir.path())
        .env("GITHUB_APP_ID", "12")
        .env(
            "GITHUB_PRIVATE_KEY",
            "-----BEGIN RSA PRIVATE KEY-----\nhunter2hunter2\n-----END RSA PRIVATE KEY-----",
        )
        .env("GITHUB_WEBHOOK_SECRET", "s3cret"));
    assert_eq!(code, 2);
    assert!(stderr.contains("GITHUB_PRIVATE_KEY"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("s3cret"),
        "{stderr}"
    );
}

#[test]
fn partial_app_settings_name_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(shipgate(dir.path()).env("GITHUB_APP_ID", "12"));
    assert_eq!(code, 2);
    assert!(stderr.contains("GITHUB_PRIVATE_KEY"), "{stderr}");
    let (code, _, stderr) = run(shipgate(dir.path())
        .env("GITHUB_APP_ID", "twelve")
        .env("GITHUB_PRIVATE_KEY_PATH", "/nonexistent/key.pem")
        .env("GITHUB_WEBHOOK_SECRET", "x"));
    assert_eq!(code, 2);
    assert!(stderr.contains("GITHUB_APP_ID"), "{stderr}");
}

#[test]
fn a_bad_database_url_is_named_and_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run(shipgate(dir.path()).env("DATABASE_URL", "mysql://root:hunter2@db/x"));
    assert_eq!(code, 2);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // A well-formed URL to a server that is not there: named, password not printed.
    let (code, _, stderr) = run(shipgate(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:9/x"));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("DATABASE_URL: could not connect"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn migrate_creates_the_sqlite_database_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (code, stdout, stderr) = run(shipgate(dir.path()).arg("migrate"));
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("database is up to date"), "{stdout}");
    }
    assert!(
        dir.path().join("shipgate.db").exists(),
        "the default sqlite://shipgate.db was created"
    );
}

#[tokio::test]
async fn migrate_works_on_postgresql() {
    let db = common::TestDb::new(common::Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (code, stdout, stderr) = run(shipgate(dir.path())
            .arg("migrate")
            .env("DATABASE_URL", &db.url));
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("database is up to date"), "{stdout}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Served {
    child: tokio::process::Child,
    base: String,
    /// Everything the process writes to stdout and stderr, read as it comes (a pipe nobody
    /// reads fills up, and then the process blocks on its next log line).
    output: tokio::task::JoinHandle<String>,
}

/// Reads a child's stdout and stderr to their ends, concurrently.
fn drain(child: &mut tokio::process::Child) -> tokio::task::JoinHandle<String> {
    use tokio::io::AsyncReadExt;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    tokio::spawn(async move {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let _ = tokio::join!(out.read_to_end(&mut a), err.read_to_end(&mut b));
        String::from_utf8_lossy(&a).into_owned() + &String::from_utf8_lossy(&b)
    })
}

/// Starts `shipgate serve` in `dir` (SQLite there, JSON logs) and waits for `/healthz`.
async fn serve(dir: &Path) -> Served {
    let key_path = dir.join("app.pem");
    std::fs::write(&key_path, shipgate::sim::keys::app_key_pair(0).private_pem).unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .env_clear()
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("SHIPGATE_LOG_FORMAT", "json")
        .env("SHIPGATE_BIND", format!("127.0.0.1:{port}"))
        .env("GITHUB_APP_ID", "4242")
        .env("GITHUB_PRIVATE_KEY_PATH", &key_path)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = drain(&mut child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Served {
                child,
                base,
                output,
            };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("shipgate did not answer /healthz");
}

impl Served {
    /// Sends SIGTERM, expects exit code 0, returns everything it logged.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits")
            .unwrap();
        assert_eq!(status.code(), Some(0), "a clean exit after SIGTERM");
        self.output.await.unwrap()
    }
}

/// SIGTERM while deliveries are arriving: shipgate stops accepting, commits what it queued,
/// exits 0, and every delivery it answered 202 to is in the database — and is processed
/// after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_every_acknowledged_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path()).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/readyz", served.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let body = fixture("pull_request", "opened-12.json");
    let sig = signature::sign(SECRET.as_bytes(), &body);
    let mut tasks = Vec::new();
    for i in 0..400 {
        let (http, base, body, sig) =
            (http.clone(), served.base.clone(), body.clone(), sig.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i / 4)).await;
            let r = http
                .post(format!("{base}/api/github/webhooks"))
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", format!("burst-{i}"))
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await;
            (i, r.map(|r| r.status().as_u16()).ok())
        }));
    }
    tokio::time::sleep(Duration::from_millis(40)).await;
    let stopping = tokio::spawn(served.stop());
    let mut acknowledged = Vec::new();
    for t in tasks {
        let (i, status) = t.await.unwrap();
        if status == Some(202) {
            acknowledged.push(format!("burst-{i}"));
        }
    }
    let logs = stopping.await.unwrap();
    assert!(
        !acknowledged.is_empty(),
        "some deliveries were accepted before the signal"
    );
    eprintln!(
        "{} of 400 deliveries were acknowledged around the SIGTERM",
        acknowledged.len()
    );

    let url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap())
        .await
        .unwrap();
    for id in &acknowledged {
        assert!(
            store.delivery(id).await.unwrap().is_some(),
            "{id} was answered 202 but not stored"
        );
    }
    assert!(!logs.contains(SECRET) && !logs.contains("PRIVATE KEY"));

    // After a restart the worker takes every stored delivery, and its JSON logs name them.
    let mut left_over = Vec::new();
    for id in &acknowledged {
        if store.delivery(id).await.unwrap().unwrap().status == DeliveryStatus::Pending {
            left_over.push(id.clone());
        }
    }
    eprintln!("{} were still pending at the restart", left_over.len());
    let served = serve(dir.path()).await;
    for _ in 0..400 {
        let counts = store.delivery_counts().await.unwrap();
        if !counts.iter().any(|(s, _)| *s == DeliveryStatus::Pending) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for id in &acknowledged {
        assert_eq!(
            store.delivery(id).await.unwrap().unwrap().status,
            DeliveryStatus::Processed,
            "{id}"
        );
    }
    let logs = served.stop().await;
    // A delivery the first process had not taken is named by the second one's logs.
    if let Some(id) = left_over.first() {
        // Quoted: `burst-1` must not match `burst-14`.
        let quoted = format!("\"{id}\"");
        let line = logs
            .lines()
            .find(|l| l.contains(&quoted))
            .unwrap_or_else(|| panic!("no log line names {id}:\n{logs}"));
        let parsed: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        assert_eq!(parsed["span"]["delivery"], id.as_str(), "{line}");
    }
    assert!(!logs.contains(SECRET) && !logs.contains("PRIVATE KEY"));
}

/// `shipgate config check FILE` names every problem with its line and key, and exits 1.
#[test]
fn config_check_reports_lines_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("shipgate.yml");
    std::fs::write(&bad, "review:\n  required_approvals: two\nteste: {}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["config", "check"])
        .arg(&bad)
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("shipgate.yml:2: `review.required_approvals`: expected a whole number"),
        "{stdout}"
    );
    assert!(
        stdout.contains("shipgate.yml:3: `teste`: unknown key"),
        "{stdout}"
    );
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "tests:\n  workflows: [ci.yml]\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["config", "check"])
        .arg(&good)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `shipgate config schema` prints the JSON Schema the checks use, for editors: a 2020-12
/// schema that accepts the documented defaults and refuses what `config check` refuses.
/// `--version` names the commit too, the same one `/metrics` shows as `shipgate_build_info`.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(shipgate(dir.path()).arg("--version"));
    assert_eq!(code, 0);
    let commit = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        out.trim(),
        format!(
            "shipgate {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            commit.trim()
        )
    );
}

#[test]
fn config_schema_prints_the_schema_config_check_uses() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["config", "schema"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    // The documented defaults, as JSON an editor would see for the vendored example file.
    let defaults = serde_json::json!({
        "trigger_label": "feature",
        "review": {"required_approvals": 1, "dismiss_stale": true},
        "tests": {"workflows": ["tests.yml"], "timeout": "60m", "min_coverage": null},
        "deploy": {"environments": {"production": {"approval_timeout": "72h",
            "health": {"url": "https://example.com/health", "max_latency_factor": 5}}}}
    });
    assert!(
        validator.is_valid(&defaults),
        "{:?}",
        validator
            .iter_errors(&defaults)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    for bad in [
        serde_json::json!({"review": {"required_approvals": "two"}}),
        serde_json::json!({"teste": {}}),
        serde_json::json!({"deploy": {"environments": {"staging": {"health": {"max_latency_factor": 5}}}}}),
        serde_json::json!({"approvers": {"production": ["not a login"]}}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad} is accepted");
    }
}

/// `shipgate demo` runs a whole lifecycle against the built-in simulator with no settings at
/// all, prints every phase as it is reached, and exits 0 once the feature is done.
#[test]
fn demo_runs_a_feature_to_production() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("demo")
        .env_clear()
        .output()
        .expect("shipgate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut from = 0;
    for phase in [
        "intake",
        "planning",
        "development",
        "review",
        "staging",
        "readiness",
        "production",
        "done",
    ] {
        let at = stdout[from..]
            .find(&format!("phase → {phase}"))
            .unwrap_or_else(|| {
                panic!("{phase} is not printed after the phases before it:\n{stdout}")
            });
        from += at;
    }
    assert!(
        stdout.contains("develop run") && stdout.contains("for task 3 “Monthly export job”"),
        "the development stage's task runs: {stdout}"
    );
    assert!(stdout.contains("**Lead time:**"), "{stdout}");
    assert!(stdout.contains("| production |"), "{stdout}");
}
