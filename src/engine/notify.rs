//! Notifications to the operator's webhook (`SHIPGATE_NOTIFY_URL`): phase changes (which
//! include approval requests, deploys reaching readiness or done, rejections, failures),
//! and rollbacks. A Slack incoming webhook (`hooks.slack.com`, or any URL with
//! `SHIPGATE_NOTIFY_FORMAT=slack`) gets Slack's `{"text": …}` in mrkdwn, every piece of it
//! escaped as Slack asks (`&`, `<`, `>`), so an issue titled `<!channel>` pings nobody; with
//! `SHIPGATE_NOTIFY_FORMAT=json` (the default for other URLs) the receiver gets the whole
//! notification, signed like GitHub's webhooks: `X-Shipgate-Signature-256:
//! sha256=<HMAC-SHA256 of the body with SHIPGATE_NOTIFY_SECRET>`. Both carry the audit log's
//! head as it was when sent.
//!
//! Sent from the repository-level outbox lane, so a slow or failing receiver is retried with
//! backoff without holding up any pipeline's effects.
//! Must not: log the secret or the signature.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::settings::{NotifyFormat, NotifyTarget};

/// Text for Slack's mrkdwn: `&`, `<` and `>` as entities, the only three Slack asks to escape
/// ("Formatting text for app surfaces", api.slack.com), so user text cannot become a link, a
/// mention (`<!channel>`, `<@U…>`) or a date.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One notification, as queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// `phase` or `rollback`.
    pub event: String,
    pub repo: String,
    pub issue: u64,
    pub pipeline: String,
    pub text: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The audit log's head when this was sent, `SEQ:HASH` (see `shipgate audit verify
    /// --head`): a copy of it outside shipgate's database. Set as it is sent, not queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
}

pub struct Notifier {
    url: Url,
    secret: Option<SecretString>,
    format: NotifyFormat,
    client: reqwest::Client,
}

/// Why a notification was not delivered.
#[derive(Debug)]
pub struct NotifyError {
    pub message: String,
    pub transient: bool,
}

impl Notifier {
    pub fn new(target: NotifyTarget) -> Self {
        Self {
            url: target.url,
            secret: target.secret,
            format: target.format,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The body for a receiver that takes `format`.
    pub fn body(format: NotifyFormat, n: &Notification) -> Vec<u8> {
        let value = match format {
            NotifyFormat::Slack => {
                let mut text = format!(
                    "*{}* ({}#{}): {}",
                    slack_escape(&n.pipeline),
                    slack_escape(&n.repo),
                    n.issue,
                    slack_escape(&n.text)
                );
                if let Some(head) = &n.audit_head {
                    text.push_str(&format!("\n_audit head {}_", slack_escape(head)));
                }
                serde_json::json!({ "text": text })
            }
            NotifyFormat::Json => serde_json::to_value(n).expect("notifications serialise"),
        };
        serde_json::to_vec(&value).expect("JSON")
    }

    /// Posts `n`. `delivery` names this notification the same way on every attempt
    /// (`X-Shipgate-Delivery`): a receiver that got it before, from an attempt whose answer
    /// was lost, drops the repeat by it.
    pub async fn send(&self, n: &Notification, delivery: &str) -> Result<(), NotifyError> {
        let body = Self::body(self.format, n);
        let mut request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-shipgate-event", &n.event)
            .header("x-shipgate-delivery", delivery);
        if let Some(secret) = &self.secret {
            request = request.header(
                "x-shipgate-signature-256",
                crate::github::signature::sign(secret.expose_secret().as_bytes(), &body),
            );
        }
        match request.body(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(NotifyError {
                message: format!("the notification receiver answered {}", r.status()),
                transient: r.status().is_server_error() || r.status().as_u16() == 429,
            }),
            Err(e) => Err(NotifyError {
                message: format!(
                    "the notification receiver could not be reached ({})",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    }
                ),
                transient: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notification {
        Notification {
            event: "rollback".into(),
            repo: "acme/widgets".into(),
            issue: 12,
            pipeline: "REQ-12".into(),
            text: "production rolled back".into(),
            at: 1,
            audit_head: None,
        }
    }

    #[test]
    fn slack_gets_its_text_shape_and_others_the_whole_notification() {
        let body: serde_json::Value =
            serde_json::from_slice(&Notifier::body(NotifyFormat::Slack, &notice())).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"text": "*REQ-12* (acme/widgets#12): production rolled back"})
        );
        let body: Notification =
            serde_json::from_slice(&Notifier::body(NotifyFormat::Json, &notice())).unwrap();
        assert_eq!(body, notice());
    }

    #[test]
    fn user_text_cannot_become_a_slack_mention_or_link() {
        let hostile = Notification {
            text: "REQ-12 “<!channel> <https://evil.example|click here> & <@U123>” is now done"
                .into(),
            ..notice()
        };
        let body: serde_json::Value =
            serde_json::from_slice(&Notifier::body(NotifyFormat::Slack, &hostile)).unwrap();
        let text = body["text"].as_str().unwrap();
        assert_eq!(
            text,
            "*REQ-12* (acme/widgets#12): REQ-12 “&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; &lt;@U123&gt;” is now done"
        );
    }

    #[test]
    fn a_signed_receiver_needs_a_secret() {
        let settings = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            crate::settings::Settings::from_lookup(|k| {
                pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
        };
        let Err(err) = settings(&[("SHIPGATE_NOTIFY_URL", "https://ops.example/hook")]) else {
            panic!("an unsigned receiver is refused");
        };
        assert!(err.to_string().contains("SHIPGATE_NOTIFY_SECRET"), "{err}");
        assert!(
            settings(&[(
                "SHIPGATE_NOTIFY_URL",
                "https://hooks.slack.com/services/T/B/X"
            )])
            .is_ok()
        );
        let chat = settings(&[
            ("SHIPGATE_NOTIFY_URL", "https://chat.example/hooks/abc"),
            ("SHIPGATE_NOTIFY_FORMAT", "slack"),
        ])
        .expect("a Slack-shaped receiver needs no secret");
        assert_eq!(chat.notify.unwrap().format, NotifyFormat::Slack);
    }
}
