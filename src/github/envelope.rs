//! What the ingest path needs to know about a delivery before storing it: its action,
//! installation and repository, and whether shipgate handles it at all.
//!
//! Owns: the list of events and actions shipgate processes; everything else is stored as
//! ignored (headers only).
//! Must not: decode payloads into domain types (the worker does that, off the request path).

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The few top-level fields read on the request path. Parsing this still checks that the
/// whole body is well-formed JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    action: Option<String>,
    installation: Option<IdOnly>,
    repository: Option<RepoName>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: i64,
}

#[derive(Deserialize)]
struct RepoName {
    full_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body must be a JSON object")]
    NotAnObject,
}

impl Envelope {
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            // Still say "not JSON" for garbage; only valid non-object JSON gets NotAnObject.
            return match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => Err(EnvelopeError::NotAnObject),
                Err(e) => Err(EnvelopeError::NotJson(e.to_string())),
            };
        }
        let raw: RawEnvelope =
            serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        Ok(Self {
            action: raw.action,
            installation_id: raw.installation.map(|i| i.id),
            repository: raw.repository.and_then(|r| r.full_name),
        })
    }
}

/// Whether the worker has anything to do with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Stored with its body and queued for the worker.
    Process,
    /// Stored with headers only, for the record.
    Ignore,
}

/// The events (and, for some, the actions) shipgate acts on.
pub fn handling(event: &str, action: Option<&str>) -> Handling {
    let action = action.unwrap_or("");
    let handled = match event {
        "issues" => matches!(
            action,
            "opened"
                | "edited"
                | "labeled"
                | "unlabeled"
                | "closed"
                | "reopened"
                | "deleted"
                | "transferred"
        ),
        // The plan's sub-issues and their "blocked by" (the mirror actions say the same).
        "sub_issues" => matches!(action, "sub_issue_added" | "sub_issue_removed"),
        "issue_dependencies" => matches!(action, "blocked_by_added" | "blocked_by_removed"),
        // Edited or deleted comments never re-run a command.
        "issue_comment" => action == "created",
        "pull_request" => matches!(
            action,
            "opened"
                | "edited"
                | "closed"
                | "reopened"
                | "synchronize"
                | "ready_for_review"
                | "converted_to_draft"
        ),
        "pull_request_review" => matches!(action, "submitted" | "dismissed"),
        // Button clicks and "re-run" on shipgate's own check runs.
        "check_run" => matches!(action, "requested_action" | "rerequested"),
        "check_suite"
        | "workflow_run"
        | "workflow_job"
        | "deployment"
        | "deployment_status"
        | "deployment_protection_rule"
        | "installation"
        | "installation_repositories"
        | "push" => true,
        _ => false,
    };
    if handled {
        Handling::Process
    } else {
        Handling::Ignore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_action_installation_and_repository() {
        let body = br#"{"action":"opened","installation":{"id":42,"node_id":"x"},"repository":{"full_name":"o/r","id":1},"issue":{"a":[1,2]}}"#;
        assert_eq!(
            Envelope::parse(body).unwrap(),
            Envelope {
                action: Some("opened".into()),
                installation_id: Some(42),
                repository: Some("o/r".into())
            }
        );
    }

    #[test]
    fn truncated_or_non_object_bodies_are_refused() {
        assert!(matches!(
            Envelope::parse(br#"{"action":"opened""#),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"[1,2]"),
            Err(EnvelopeError::NotAnObject)
        ));
        assert!(matches!(
            Envelope::parse(b"hello"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b""),
            Err(EnvelopeError::NotJson(_))
        ));
    }

    #[test]
    fn handled_and_ignored_events() {
        assert_eq!(handling("issues", Some("labeled")), Handling::Process);
        assert_eq!(handling("issues", Some("pinned")), Handling::Ignore);
        assert_eq!(handling("issue_comment", Some("edited")), Handling::Ignore);
        assert_eq!(handling("push", None), Handling::Process);
        assert_eq!(handling("star", Some("created")), Handling::Ignore);
        assert_eq!(handling("ping", None), Handling::Ignore);
    }
}
