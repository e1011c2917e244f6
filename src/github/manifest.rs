//! The App manifest (`app-manifest.json`) and the answer GitHub gives when a manifest code is
//! converted into an App.
//!
//! Owns: filling the manifest's URLs from `SHIPGATE_PUBLIC_URL`.
//! Must not: widen the permissions or events the file asks for.

use serde::Deserialize;
use url::Url;

/// The manifest as committed at the repository root.
pub const MANIFEST: &str = include_str!("../../app-manifest.json");

/// The manifest with shipgate's own URLs filled in.
pub fn manifest_for(public_url: &Url) -> serde_json::Value {
    let mut manifest: serde_json::Value =
        serde_json::from_str(MANIFEST).expect("app-manifest.json is valid JSON (tested)");
    let at = |path: &str| {
        public_url
            .join(path)
            .expect("a relative path joins")
            .to_string()
    };
    manifest["url"] = at("").into();
    manifest["hook_attributes"]["url"] = at("api/github/webhooks").into();
    manifest["redirect_url"] = at("setup/callback").into();
    // Where GitHub sends people back after signing in with the App (dashboard, API).
    manifest["callback_urls"] = serde_json::json!([at("login/callback")]);
    manifest
}

/// What `POST /app-manifests/{code}/conversions` returns: the new App and its credentials.
#[derive(Deserialize)]
pub struct Conversion {
    pub id: u64,
    pub slug: Option<String>,
    pub name: String,
    pub html_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: Option<String>,
    pub pem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_the_public_url_and_permissions_stay_minimal() {
        let m = manifest_for(&Url::parse("https://ship.example.com/").unwrap());
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://ship.example.com/api/github/webhooks"
        );
        assert_eq!(m["redirect_url"], "https://ship.example.com/setup/callback");
        assert_eq!(
            m["callback_urls"],
            serde_json::json!(["https://ship.example.com/login/callback"])
        );
        assert_eq!(m["public"], false);
        let perms = m["default_permissions"].as_object().unwrap();
        assert!(perms.values().all(|v| v == "read" || v == "write"));
        assert!(
            !perms.contains_key("administration"),
            "shipgate never needs admin"
        );
        assert!(!perms.contains_key("secrets"));
        let events: Vec<&str> = m["default_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        for needed in [
            "issues",
            "issue_comment",
            "pull_request",
            "pull_request_review",
            "workflow_run",
            "deployment_protection_rule",
            "sub_issues",
            "issue_dependencies",
        ] {
            assert!(events.contains(&needed), "{needed} missing");
        }
    }
}
