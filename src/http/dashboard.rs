//! The dashboard: server-rendered pages for a signed-in GitHub user — the pipelines they can
//! read (`/`), one pipeline (`/pipelines/{id}`: what its check runs link to), and a
//! repository's DORA metrics (`/repositories/{owner}/{repo}/dora`). Built from the same reads
//! as the JSON API, so the two never disagree; rendered by askama templates
//! (`src/http/templates/`), which escape every value. No JavaScript.
//! A browser that is not signed in is sent to `/login` and back.
//! Must not: show what the API would not show the same user.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::api::Problem;
use super::api::auth::{NotSignedIn, SignedIn};
use super::api::dora::{self, DoraMetrics};
use super::api::pipelines::{self, HealthView, ListQuery, PipelineDetail, PipelineList};
use crate::pipeline::model::Phase;
use crate::pipeline::text::span;

/// Gate evidence (Markdown, as the check run shows it) as HTML: the inline Markdown
/// rendered by pulldown-cmark, with any HTML in it shown as text, images as their alt text
/// (a page must not fetch what a PR title points at) and only http(s) links kept as links —
/// titles and names in it come from people.
pub fn evidence_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut open_links = Vec::new();
    let events = Parser::new(markdown).filter_map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
        Event::Start(Tag::Link { dest_url, .. })
            if !(dest_url.starts_with("https://") || dest_url.starts_with("http://")) =>
        {
            open_links.push(false);
            None
        }
        Event::Start(tag @ Tag::Link { .. }) => {
            open_links.push(true);
            Some(Event::Start(tag))
        }
        Event::End(TagEnd::Link) => open_links.pop().unwrap_or(false).then_some(event),
        Event::Start(Tag::Paragraph | Tag::Image { .. })
        | Event::End(TagEnd::Paragraph | TagEnd::Image) => None,
        other => Some(other),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// One bar of a small chart (SVG units).
pub struct Bar {
    pub x: usize,
    pub y: usize,
    pub height: usize,
    pub color: &'static str,
    pub label: String,
}

const CHART_HEIGHT: usize = 70;
const BAR_STEP: usize = 12;

/// Bars scaled to the tallest, bottom-aligned.
fn bars(values: &[(f64, bool, String)]) -> Vec<Bar> {
    let top = values.iter().map(|(v, _, _)| *v).fold(1.0, f64::max);
    values
        .iter()
        .enumerate()
        .map(|(i, (v, ok, label))| {
            let height = ((v / top) * CHART_HEIGHT as f64).round().max(1.0) as usize;
            Bar {
                x: i * BAR_STEP,
                y: 75 - height,
                height,
                color: if *ok { "#116329" } else { "#a40e26" },
                label: label.clone(),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "pipelines.html")]
struct PipelinesPage {
    login: String,
    list: PipelineList,
    repositories: Vec<String>,
    phases: Vec<&'static str>,
    selected_repository: String,
    selected_phase: String,
}

#[derive(Template)]
#[template(path = "pipeline.html")]
struct PipelinePage {
    login: String,
    p: PipelineDetail,
}

impl PipelinePage {
    fn chart_width(&self, probes: usize) -> usize {
        (probes * BAR_STEP).max(BAR_STEP)
    }

    fn bars(&self, h: &HealthView) -> Vec<Bar> {
        let values: Vec<(f64, bool, String)> = h
            .probes
            .iter()
            .map(|r| {
                let label = match (&r.status, &r.error) {
                    (_, Some(e)) => format!("{}: {} ms, {e}", r.at, r.latency_ms),
                    (Some(s), None) => format!("{}: {} ms, {s}", r.at, r.latency_ms),
                    (None, None) => format!("{}: {} ms", r.at, r.latency_ms),
                };
                (r.latency_ms as f64, r.ok, label)
            })
            .collect();
        bars(&values)
    }
}

#[derive(Template)]
#[template(path = "dora.html")]
struct DoraPage {
    login: String,
    m: DoraMetrics,
}

impl DoraPage {
    fn duration(&self, seconds: &Option<f64>) -> String {
        seconds.map_or_else(|| "none yet".into(), |s| span((s * 1000.0) as i64))
    }

    fn day_bars(&self) -> Vec<Bar> {
        let values: Vec<(f64, bool, String)> = self
            .m
            .deployments_by_day
            .iter()
            .enumerate()
            .map(|(i, n)| (f64::from(*n), true, format!("day {}: {n}", i + 1)))
            .collect();
        bars(&values)
    }
}

fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A problem as a page: text, nothing from the request.
fn problem_page(problem: Problem) -> Response {
    (
        StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}: {}\n", problem.title, problem.detail),
    )
        .into_response()
}

/// Not signed in: to `/login`, and back here after.
fn sign_in_first(uri: &Uri, refused: NotSignedIn) -> Response {
    let response = refused.into_response();
    if response.status() != StatusCode::UNAUTHORIZED {
        return response;
    }
    let back = uri.path_and_query().map_or("/", |p| p.as_str());
    let target = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", back)
        .finish();
    Redirect::to(&format!("/login?{target}")).into_response()
}

/// `GET /`: the pipelines the signed-in user can read; the front page otherwise.
pub async fn index(
    State(state): State<AppState>,
    signed_in: Result<SignedIn, NotSignedIn>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(SignedIn(viewer)) = signed_in else {
        return super::pages::index(State(state)).await.into_response();
    };
    // An unreadable filter shows everything rather than an error page.
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let q = ListQuery {
        repository: q.repository.filter(|r| !r.is_empty()),
        phase: q.phase.filter(|p| !p.is_empty()),
        ..q
    };
    match pipelines::page(&state, &viewer, &q).await {
        Ok(list) => render(&PipelinesPage {
            login: viewer.login.clone(),
            list,
            repositories: viewer.repositories.iter().cloned().collect(),
            phases: Phase::ALL.iter().map(|p| p.name()).collect(),
            selected_repository: q.repository.unwrap_or_default(),
            selected_phase: q.phase.unwrap_or_default(),
        }),
        Err(problem) => problem_page(problem),
    }
}

/// `GET /pipelines/{id}`.
pub async fn pipeline(
    State(state): State<AppState>,
    uri: Uri,
    signed_in: Result<SignedIn, NotSignedIn>,
    Path(id): Path<String>,
) -> Response {
    let viewer = match signed_in {
        Ok(SignedIn(viewer)) => viewer,
        Err(refused) => return sign_in_first(&uri, refused),
    };
    match pipelines::detail(&state, &viewer, &id).await {
        Ok(p) => render(&PipelinePage {
            login: viewer.login.clone(),
            p,
        }),
        Err(problem) => problem_page(problem),
    }
}

/// `GET /repositories/{owner}/{repo}/dora`.
pub async fn dora_page(
    State(state): State<AppState>,
    uri: Uri,
    signed_in: Result<SignedIn, NotSignedIn>,
    Path((owner, repo)): Path<(String, String)>,
) -> Response {
    let viewer = match signed_in {
        Ok(SignedIn(viewer)) => viewer,
        Err(refused) => return sign_in_first(&uri, refused),
    };
    match dora::of(&state, &viewer, &format!("{owner}/{repo}"), None).await {
        Ok(m) => render(&DoraPage {
            login: viewer.login.clone(),
            m,
        }),
        Err(problem) => problem_page(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::evidence_html;

    #[test]
    fn evidence_keeps_code_and_web_links_and_shows_html_as_text() {
        assert_eq!(
            evidence_html("`tests.yml` passed ([run](https://github.com/a/b/actions/runs/1))"),
            "<code>tests.yml</code> passed (<a href=\"https://github.com/a/b/actions/runs/1\">run</a>)"
        );
        let hostile = evidence_html(
            "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(
            !hostile.contains("<script") && !hostile.contains("<img"),
            "{hostile}"
        );
        assert!(!hostile.contains("href=\"javascript"), "{hostile}");
        assert!(hostile.contains("&lt;script&gt;"), "{hostile}");
        let tracker = evidence_html("merged ![pixel](https://tracker.example/p.png)");
        assert_eq!(tracker, "merged pixel");
    }
}
