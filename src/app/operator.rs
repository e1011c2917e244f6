//! `shipgate pipelines` and `shipgate status`: what the dashboard shows, read straight from
//! the database and printed as text, for operators who only have a shell. The database
//! holds everything, so nothing is asked of GitHub (and no sign-in is needed: whoever can
//! read the database can read it all).
//! Must not: write anything.

use anyhow::{Context as _, bail};

use crate::engine::advance::decode;
use crate::http::api::pipelines::{ListQuery, Source, detail_of, page_of};
use crate::settings::Settings;
use crate::store::Store;

/// Prints every pipeline (newest first), filtered like the dashboard's list.
pub async fn pipelines(
    settings: &Settings,
    repo: Option<String>,
    phase: Option<String>,
) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    let source = Source {
        store: &store,
        github_url: &settings.github_url,
    };
    let repositories = match &repo {
        Some(r) => vec![r.to_lowercase()],
        None => store
            .repos_with_pipelines()
            .await?
            .into_iter()
            .map(|r| r.to_lowercase())
            .collect(),
    };
    let mut query = ListQuery {
        phase,
        limit: Some(100),
        ..ListQuery::default()
    };
    println!(
        "{:<24} {:<8} {:<12} {:<20} {:<28} TITLE — WAITING FOR",
        "REPOSITORY", "FEATURE", "PHASE", "STARTED", "LAST DEPLOY"
    );
    loop {
        let page = page_of(source, repositories.clone(), &query)
            .await
            .map_err(|p| anyhow::anyhow!("{}", p.detail))?;
        for p in &page.pipelines {
            let deploy = p.last_deploy.as_ref().map_or("-".to_owned(), |d| {
                format!("{} {}: {}", d.environment, d.kind, d.state)
            });
            let held = match (p.paused, p.blocked_by.is_empty()) {
                (true, _) => " [paused]",
                (false, false) => " [blocked]",
                _ => "",
            };
            println!(
                "{:<24} {:<8} {:<12} {:<20} {:<28} {}{held} — {}",
                p.repository, p.name, p.phase, p.created_at, deploy, p.title, p.waiting_for
            );
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// Prints one pipeline: phase, gates with evidence, timeline, deploys, health, rollback.
pub async fn status(settings: &Settings, issue: &str) -> anyhow::Result<()> {
    let (repo, number) = issue
        .split_once('#')
        .and_then(|(r, n)| Some((r, n.parse::<i64>().ok()?)))
        .filter(|(r, _)| r.contains('/'))
        .context("name the feature as owner/repo#N")?;
    let store = Store::connect(&settings.database).await?;
    let Some(record) = store.pipeline_by_issue_any_case(repo, number).await? else {
        bail!("no pipeline for {repo}#{number}");
    };
    let pipeline = decode(&record)?;
    let source = Source {
        store: &store,
        github_url: &settings.github_url,
    };
    let d = detail_of(source, &pipeline)
        .await
        .map_err(|p| anyhow::anyhow!("{}", p.detail))?;
    let s = &d.summary;
    println!("{} {}: {}", s.repository, s.name, s.title);
    println!(
        "phase {}{}",
        s.phase,
        if s.paused { " (paused)" } else { "" }
    );
    println!("waiting for: {}", s.waiting_for);
    println!("readiness: {}/100", d.readiness);
    println!("{}", s.html_url);
    println!("\ngates:");
    for g in &d.gates {
        let state = match (g.passed, g.failed) {
            (true, _) => "passed",
            (false, true) => "failed",
            _ => "waiting",
        };
        println!("  {:<20} {:<8} {}", g.label, state, g.evidence);
    }
    println!("\ntimeline:");
    for t in &d.timeline {
        println!("  {:<20} {}", t.at, t.phase);
    }
    if !d.deploys.is_empty() {
        println!("\ndeploys:");
        for x in &d.deploys {
            println!(
                "  {:<20} {:<10} {:<8} {:<12} {}",
                x.started_at, x.environment, x.kind, x.state, x.sha
            );
        }
    }
    for h in &d.health {
        println!(
            "\nhealth of {} at {}: {} ({} probes, {} failed)",
            h.environment, h.sha, h.outcome, h.probes_total, h.probes_failed
        );
    }
    if let Some(r) = &d.rollback {
        println!(
            "\nrollback of {} from {}: {} (by {})",
            r.environment, r.from_sha, r.reason, r.by
        );
    }
    Ok(())
}
