//! Which App permission each operation needs (GitHub answers 403 "Resource not accessible by
//! integration" without it), so tests show that `app-manifest.json` asks for enough.
//! Must not: grant anything the App's permissions do not.

use std::collections::BTreeMap;

use http::Method;

/// The permission and level (`read` or `write`) an operation needs as an installation.
pub fn required(operation: &str, method: &Method) -> Option<(&'static str, &'static str)> {
    let level = if *method == Method::GET {
        "read"
    } else {
        "write"
    };
    let (group, _) = operation.split_once('/')?;
    let permission = match operation {
        "actions/review-custom-gates-for-run" => return Some(("deployments", "write")),
        "pulls/merge" => return Some(("contents", "write")),
        "repos/get-environment" => return Some(("actions", "read")),
        "repos/get" | "repos/get-collaborator-permission-level" => {
            return Some(("metadata", "read"));
        }
        "repos/get-content"
        | "repos/get-branch"
        | "repos/get-commit"
        | "repos/compare-commits-with-basehead" => "contents",
        op if op.contains("deployment") => "deployments",
        _ => match group {
            "issues" | "reactions" => "issues",
            "pulls" => "pull_requests",
            "checks" => "checks",
            "actions" => "actions",
            "git" => "contents",
            "teams" => return Some(("members", "read")),
            _ => return None,
        },
    };
    Some((permission, level))
}

/// Whether the App's permissions include `permission` at `level` (write implies read).
pub fn granted(permissions: &BTreeMap<String, String>, permission: &str, level: &str) -> bool {
    match permissions.get(permission).map(String::as_str) {
        Some("write") | Some("admin") => true,
        Some("read") => level == "read",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_permissions() {
        assert_eq!(
            required("issues/create-comment", &Method::POST),
            Some(("issues", "write"))
        );
        assert_eq!(
            required("repos/create-deployment", &Method::POST),
            Some(("deployments", "write"))
        );
        assert_eq!(
            required("repos/list-deployments", &Method::GET),
            Some(("deployments", "read"))
        );
        assert_eq!(
            required("git/create-ref", &Method::POST),
            Some(("contents", "write"))
        );
        assert_eq!(required("apps/get-authenticated", &Method::GET), None);
        let perms: BTreeMap<String, String> = [("issues".to_owned(), "read".to_owned())].into();
        assert!(granted(&perms, "issues", "read"));
        assert!(!granted(&perms, "issues", "write"));
        assert!(!granted(&perms, "checks", "read"));
    }
}
