//! The operator's commands on SQLite and PostgreSQL: `shipgate pipelines` and `shipgate
//! status` print what the dashboard shows, from the database a running shipgate wrote;
//! `serve --help` lists the settings and exit codes.

#[macro_use]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::Backend;
use common::world::*;

/// Runs the binary with only `DATABASE_URL` set: (exit code, stdout, stderr).
fn shipgate(database: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database)
        .env("SHIPGATE_ENV_FILE", dir.path().join(".env"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn pipelines_and_status_print_what_the_dashboard_shows(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (n, _) = w.to_done().await;
    let second = w
        .sim
        .open_issue(REPO, "pm", "Import payments", BODY, &["feature"])
        .await;
    w.sg.settle(&w.sim).await;
    let db = w._db.url.clone();

    let (code, out, err) = shipgate(&db, &["pipelines"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("REPOSITORY"));
    assert!(
        lines[1].contains(&format!("REQ-{second}")) && lines[1].contains("intake"),
        "newest first: {out}"
    );
    assert!(
        lines[2].contains(&format!("REQ-{n}"))
            && lines[2].contains("done")
            && lines[2].contains("production deploy: succeeded")
            && lines[2].contains("Export invoices"),
        "{out}"
    );
    let (_, done, _) = shipgate(&db, &["pipelines", "--phase", "done"]);
    assert_eq!(done.lines().count(), 2, "{done}");
    let (_, other, _) = shipgate(&db, &["pipelines", "--repo", "globex/none"]);
    assert_eq!(other.lines().count(), 1, "only the header: {other}");

    let (code, out, err) = shipgate(&db, &["status", &format!("{REPO}#{n}")]);
    assert_eq!(code, 0, "{err}");
    for part in [
        &format!("{REPO} REQ-{n}: Export invoices") as &str,
        "phase done",
        "readiness: 100/100",
        "Production approval  passed",
        "approved by @releaser",
        "health of production",
    ] {
        assert!(out.contains(part), "{part:?} in\n{out}");
    }
    let (code, _, err) = shipgate(&db, &["status", &format!("{REPO}#999")]);
    assert_eq!(code, 1);
    assert!(err.contains("no pipeline for acme/widgets#999"), "{err}");
    let (code, _, err) = shipgate(&db, &["status", "widgets-7"]);
    assert_eq!(code, 1);
    assert!(err.contains("owner/repo#N"), "{err}");
    w.sg.stop().await;
}

#[test]
fn serve_help_lists_the_settings_and_exit_codes() {
    let (code, out, _) = shipgate("sqlite://unused.db", &["serve", "--help"]);
    assert_eq!(code, 0);
    for part in ["Exit codes:", "2  a setting is missing or wrong"] {
        assert!(out.contains(part), "{part:?} in\n{out}");
    }
    // Every setting of the README's table.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme.split("## Settings").nth(1).unwrap();
    let table = table
        .split("\n\n")
        .find(|p| p.starts_with("| setting"))
        .unwrap();
    let names: Vec<&str> = table
        .lines()
        .skip(2)
        .flat_map(|l| l.split('|').nth(1).unwrap_or_default().split(','))
        .map(|n| n.trim().trim_matches('`'))
        .collect();
    assert!(names.len() >= 25, "{names:?}");
    for name in names {
        assert!(out.contains(name), "{name} is not in serve --help:\n{out}");
    }
}

on_both_backends!(pipelines_and_status_print_what_the_dashboard_shows);
