//! Small HTML pages: the front page, and the frame the setup pages share.
//!
//! Must not: show a secret (the front page names the App, never its credentials).

use axum::extract::State;
use axum::response::Html;

use super::AppState;

/// Escapes text for HTML element content and quoted attribute values (`&`, `<`, `>`, `"`,
/// `'`), with the `html-escape` crate.
pub fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// Wraps already-escaped HTML in the page frame.
pub fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · shipgate</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         code{{background:#f3f3f3;padding:0 .2rem}} button{{font-size:1rem;padding:.5rem 1rem}}</style>\
         </head><body><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title),
    ))
}

pub async fn index(State(state): State<AppState>) -> Html<String> {
    match state.github.load_full() {
        None => page(
            "shipgate is not connected to GitHub yet",
            "<p>shipgate needs a GitHub App to act for. \
             <a href=\"/setup\">Open the setup page</a> to register one in a few clicks \
             (GitHub's App-manifest flow), or set <code>GITHUB_APP_ID</code>, \
             <code>GITHUB_PRIVATE_KEY_PATH</code> and <code>GITHUB_WEBHOOK_SECRET</code> \
             and restart.</p>",
        ),
        Some(app) => {
            // Cheap figures only: this page needs no login, so it must not scan tables.
            let queued = state.store.queue_length().await.ok();
            let stored = state
                .writer
                .stats
                .rows
                .load(std::sync::atomic::Ordering::Relaxed);
            let name = app
                .credentials
                .slug
                .clone()
                .unwrap_or_else(|| format!("App {}", app.credentials.app_id));
            let hook = state
                .settings
                .public_url
                .join("api/github/webhooks")
                .map(|u| u.to_string())
                .unwrap_or_default();
            page(
                "shipgate",
                &format!(
                    "<p><a href=\"/login\">Sign in with GitHub</a> to see the pipelines of the \
                     repositories you can read.</p>\
                     <p>Running as GitHub App <strong>{}</strong>. Webhooks are received at \
                     <code>{}</code>.</p><ul><li>deliveries stored since start: {stored}</li>\
                     <li>waiting to be processed: {}</li></ul>",
                    escape(&name),
                    escape(&hook),
                    queued.map_or_else(
                        || "unknown (database unreachable)".to_owned(),
                        |n| n.to_string()
                    ),
                ),
            )
        }
    }
}
