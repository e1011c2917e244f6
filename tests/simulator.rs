//! The GitHub simulator's behaviour, driven over HTTP through octocrab as an installation or
//! as the App — GitHub's rules (merges, closing keywords, check-run limits, deployment
//! conflicts, auth) that later features rely on. Every answer is also validated against
//! GitHub's REST description by the simulator itself.

mod common;

use std::sync::Arc;

use chrono::Duration;
use http::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use shipgate::clock::{Clock, ManualClock};
use shipgate::github::app::GitHubApp;
use shipgate::github::rest::{Answer, GitHubError};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";

struct Scene {
    sim: Simulator,
    clock: Arc<ManualClock>,
    app: GitHubApp,
    installation: u64,
}

async fn scene() -> Scene {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let sim = Simulator::start_with_clock(clock.clone()).await;
    sim.add_repo(REPO);
    sim.add_repo("acme/other");
    let installation = sim.add_installation("acme", &[REPO]);
    let app = GitHubApp::new(
        sim.app_credentials(),
        &sim.api_url(),
        clock.clone(),
        true,
        Default::default(),
    )
    .unwrap();
    Scene {
        sim,
        clock,
        app,
        installation,
    }
}

impl Scene {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, GitHubError> {
        let answer = self
            .app
            .as_installation(self.installation, "test call", method, path, body.as_ref())
            .await?;
        Ok(if answer.body.is_empty() {
            Value::Null
        } else {
            answer.json("test call")?
        })
    }

    async fn as_app(&self, method: Method, path: &str) -> Result<Answer, GitHubError> {
        self.app.as_app::<()>("test call", method, path, None).await
    }
}

fn json_of(answer: &Answer) -> Value {
    answer.json("test call").unwrap()
}

#[tokio::test]
async fn issues_pull_requests_and_a_squash_merge_that_closes_the_issue() {
    let s = scene().await;
    let issue = s
        .call(
            Method::POST,
            "/repos/acme/widgets/issues",
            Some(json!({"title": "Export to CSV", "body": "## Acceptance criteria\n- a file", "labels": ["feature"]})),
        )
        .await
        .unwrap();
    let n = issue["number"].as_u64().unwrap();
    assert_eq!(issue["labels"][0]["name"], "feature");
    assert_eq!(issue["user"]["login"], "shipgate-sim[bot]");

    // A feature branch with one commit, and a PR from it that closes the issue.
    let main = s
        .sim
        .with(|st| st.repo(REPO).unwrap().branches["main"].clone());
    s.call(
        Method::POST,
        "/repos/acme/widgets/git/refs",
        Some(json!({"ref": "refs/heads/feature/REQ-1-export", "sha": main})),
    )
    .await
    .unwrap();
    let head = s.sim.with(|st| {
        st.commit(
            REPO,
            "feature/REQ-1-export",
            "Add CSV export",
            "dev",
            &[("export.rs", Some("fn export() {}"))],
        )
    });
    let pr = s
        .call(
            Method::POST,
            "/repos/acme/widgets/pulls",
            Some(json!({"title": "Export", "head": "feature/REQ-1-export", "base": "main", "body": format!("Closes #{n}")})),
        )
        .await
        .unwrap();
    let pr_number = pr["number"].as_u64().unwrap();
    assert_eq!(pr["head"]["sha"], head.as_str());
    let listed = s
        .call(
            Method::GET,
            "/repos/acme/widgets/pulls?head=acme:feature/REQ-1-export&state=open",
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    s.sim
        .with(|st| st.add_review(REPO, pr_number, "reviewer", "APPROVED"));
    let reviews = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/pulls/{pr_number}/reviews"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_eq!(reviews[0]["commit_id"], head.as_str());

    // The head moved: GitHub refuses a merge pinned to the old SHA.
    let err = s
        .call(
            Method::PUT,
            &format!("/repos/acme/widgets/pulls/{pr_number}/merge"),
            Some(json!({"sha": main, "merge_method": "squash"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));

    let merged = s
        .call(
            Method::PUT,
            &format!("/repos/acme/widgets/pulls/{pr_number}/merge"),
            Some(json!({"sha": head, "merge_method": "squash", "commit_title": "feat(export): Export to CSV (#2)", "commit_message": "Refs: REQ-1"})),
        )
        .await
        .unwrap();
    assert_eq!(merged["merged"], true);
    let sha = merged["sha"].as_str().unwrap().to_owned();
    s.sim.with(|st| {
        let r = st.repo(REPO).unwrap();
        assert_eq!(r.branches["main"], sha);
        let c = &r.commits[&sha];
        assert_eq!(c.message, "feat(export): Export to CSV (#2)\n\nRefs: REQ-1");
        assert_eq!(c.parents, vec![main.clone()], "a squash has one parent");
        assert_eq!(c.files["export.rs"], b"fn export() {}");
        let closed = &r.issues[&n];
        assert_eq!(closed.state, "closed", "`Closes #{n}` closed the issue");
        assert_eq!(closed.closed_by.as_deref(), Some("shipgate-sim[bot]"));
    });
    let again = s
        .call(
            Method::PUT,
            &format!("/repos/acme/widgets/pulls/{pr_number}/merge"),
            Some(json!({})),
        )
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(405));

    let compare = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/compare/{main}...main"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(compare["status"], "ahead");
    assert_eq!(compare["ahead_by"], 1);
    let commit = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/commits/{sha}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(commit["sha"], sha.as_str());

    let closed = s
        .call(
            Method::PATCH,
            &format!("/repos/acme/widgets/issues/{n}"),
            Some(json!({"state": "open"})),
        )
        .await
        .unwrap();
    assert_eq!(closed["state"], "open");
}

#[tokio::test]
async fn check_runs_follow_githubs_limits() {
    let s = scene().await;
    let sha = s
        .sim
        .with(|st| st.repo(REPO).unwrap().branches["main"].clone());
    let four_buttons: Vec<Value> = (0..4)
        .map(|i| json!({"label": format!("b{i}"), "description": "d", "identifier": format!("i{i}")}))
        .collect();
    let err = s
        .call(
            Method::POST,
            "/repos/acme/widgets/check-runs",
            Some(json!({"name": "shipgate", "head_sha": sha, "actions": four_buttons})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(
        s.sim
            .take_violations()
            .iter()
            .any(|v| v.contains("actions")),
        "GitHub's description caps buttons at 3"
    );

    let err = s
        .call(
            Method::POST,
            "/repos/acme/widgets/check-runs",
            Some(json!({"name": "shipgate", "head_sha": "0".repeat(40)})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "unknown commit");

    let first = s
        .call(
            Method::POST,
            "/repos/acme/widgets/check-runs",
            Some(json!({"name": "shipgate", "head_sha": sha, "status": "in_progress"})),
        )
        .await
        .unwrap();
    let second = s
        .call(
            Method::POST,
            "/repos/acme/widgets/check-runs",
            Some(json!({"name": "shipgate", "head_sha": sha, "status": "queued"})),
        )
        .await
        .unwrap();
    let latest = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/commits/{sha}/check-runs?check_name=shipgate"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        latest["total_count"], 1,
        "filter=latest keeps the newest of a name"
    );
    assert_eq!(latest["check_runs"][0]["id"], second["id"]);
    let all = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/commits/{sha}/check-runs?filter=all"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(all["total_count"], 2);
    let done = s
        .call(
            Method::PATCH,
            &format!("/repos/acme/widgets/check-runs/{}", first["id"]),
            Some(json!({"conclusion": "success", "output": {"title": "All gates green", "summary": "ok"}})),
        )
        .await
        .unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["title"], "All gates green");
    assert!(done["completed_at"].is_string());
}

#[tokio::test]
async fn runs_deployments_and_protection_rules() {
    let s = scene().await;
    s.sim.add_workflow(
        REPO,
        "deploy.yml",
        &["environment", "sha", "pipeline", "rollback", "reason"],
    );
    let sha = s
        .sim
        .with(|st| st.repo(REPO).unwrap().branches["main"].clone());
    let run = s
        .call(
            Method::POST,
            "/repos/acme/widgets/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"environment": "staging", "sha": sha, "rollback": false}, "return_run_details": true})),
        )
        .await
        .unwrap();
    let run_id = run["workflow_run_id"].as_u64().unwrap();
    // Without return_run_details GitHub answers 204 with no body.
    let quiet = s
        .call(
            Method::POST,
            "/repos/acme/widgets/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"environment": "staging"}})),
        )
        .await
        .unwrap();
    assert_eq!(quiet, Value::Null);
    let runs = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/actions/runs?head_sha={sha}&event=workflow_dispatch"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(runs["total_count"], 2);

    s.call(
        Method::POST,
        &format!("/repos/acme/widgets/actions/runs/{run_id}/cancel"),
        None,
    )
    .await
    .unwrap();
    let cancelled = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/actions/runs/{run_id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(cancelled["conclusion"], "cancelled");
    let twice = s
        .call(
            Method::POST,
            &format!("/repos/acme/widgets/actions/runs/{run_id}/cancel"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(twice.status(), Some(409));
    s.call(
        Method::POST,
        &format!("/repos/acme/widgets/actions/runs/{run_id}/rerun-failed-jobs"),
        None,
    )
    .await
    .unwrap();
    s.sim.with(|st| {
        assert_eq!(
            st.repo(REPO).unwrap().runs[&run_id].status,
            "queued",
            "re-run"
        );
    });
    s.sim
        .request_deployment_protection(REPO, run_id, "production")
        .await;
    let answer = json!({"environment_name": "production", "state": "rejected", "comment": "production is not approved"});
    let path = format!("/repos/acme/widgets/actions/runs/{run_id}/deployment_protection_rule");
    s.call(Method::POST, &path, Some(answer.clone()))
        .await
        .unwrap();
    s.sim.with(|st| {
        let r = st.repo(REPO).unwrap();
        // A rejected protection rule fails the job waiting on it, and with it the run.
        assert_eq!(r.runs[&run_id].status, "completed");
        assert_eq!(r.runs[&run_id].conclusion.as_deref(), Some("failure"));
        assert_eq!(r.protection_reviews[0].2, "rejected");
    });
    // A rule is answered once: it no longer waits.
    let again = s.call(Method::POST, &path, Some(answer)).await.unwrap_err();
    assert_eq!(again.status(), Some(422));

    // Two successful deployments to one environment: the older becomes inactive.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let d = s
            .call(
                Method::POST,
                "/repos/acme/widgets/deployments",
                Some(json!({"ref": "main", "environment": "staging", "required_contexts": [], "auto_merge": false})),
            )
            .await
            .unwrap();
        let id = d["id"].as_u64().unwrap();
        s.call(
            Method::POST,
            &format!("/repos/acme/widgets/deployments/{id}/statuses"),
            Some(json!({"state": "success", "environment_url": "https://staging.example"})),
        )
        .await
        .unwrap();
        ids.push(id);
    }
    let older = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/deployments/{}/statuses", ids[0]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(older[0]["state"], "inactive");
    let listed = s
        .call(
            Method::GET,
            "/repos/acme/widgets/deployments?environment=staging",
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let env = s
        .call(
            Method::GET,
            "/repos/acme/widgets/environments/staging",
            None,
        )
        .await
        .unwrap();
    assert_eq!(env["name"], "staging");
}

#[tokio::test]
async fn sub_issues_and_dependencies() {
    let s = scene().await;
    let (parent, child, blocker) = s.sim.with(|st| {
        let parent = st.add_issue(REPO, "dev", "Parent", "", &[]);
        let child = st.add_issue(REPO, "dev", "Child task", "", &[]);
        let blocker = st.add_issue(REPO, "dev", "Blocker", "", &[]);
        let r = st.repo_mut(REPO).unwrap();
        r.issues.get_mut(&parent).unwrap().sub_issues.push(child);
        r.issues.get_mut(&child).unwrap().blocked_by.push(blocker);
        (parent, child, blocker)
    });
    let subs = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/issues/{parent}/sub_issues"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(subs[0]["number"], child);
    let blocked = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/issues/{child}/dependencies/blocked_by"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(blocked[0]["number"], blocker);
}

#[tokio::test]
async fn the_app_its_installations_and_hook_deliveries() {
    let s = scene().await;
    let me = json_of(&s.as_app(Method::GET, "/app").await.unwrap());
    assert_eq!(me["slug"], "shipgate-sim");
    let installations = json_of(&s.as_app(Method::GET, "/app/installations").await.unwrap());
    assert_eq!(installations[0]["id"], s.installation);
    let found = json_of(
        &s.as_app(Method::GET, "/repos/acme/widgets/installation")
            .await
            .unwrap(),
    );
    assert_eq!(found["id"], s.installation);
    let missing = s
        .as_app(Method::GET, "/repos/acme/other/installation")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));

    for _ in 0..3 {
        s.sim
            .send_webhook(
                "ping",
                json!({"zen": "Keep it logically awesome.", "hook_id": 1}),
            )
            .await;
    }
    let page = s
        .as_app(Method::GET, "/app/hook/deliveries?per_page=2")
        .await
        .unwrap();
    assert_eq!(json_of(&page).as_array().unwrap().len(), 2);
    let link = page.headers["link"].to_str().unwrap();
    assert!(
        link.contains("cursor=2") && link.contains("rel=\"next\""),
        "{link}"
    );
}

#[tokio::test]
async fn credentials_are_checked_like_github_does() {
    let s = scene().await;
    // An installation token on an App endpoint, and an App JWT on a repository endpoint.
    let token = s.app.installation_token(s.installation).await.unwrap();
    let raw = octocrab::Octocrab::builder()
        .base_uri(s.sim.api_url().as_str())
        .unwrap()
        .user_access_token(secrecy::ExposeSecret::expose_secret(&token).to_owned())
        .build()
        .unwrap();
    assert!(
        raw.get::<Value, _, ()>("/app/installations", None)
            .await
            .is_err()
    );
    let err = s
        .app
        .as_app::<()>("repo as app", Method::GET, "/repos/acme/widgets", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    // A repository the installation does not cover.
    let err = s
        .call(Method::GET, "/repos/acme/other", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let violations = s.sim.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("App JWT"));
    assert!(violations[1].contains("installation access token"));
    assert!(violations[2].contains("does not cover acme/other"));

    // An hour later the token has expired; a raw client holding it is refused, while
    // shipgate's cache had replaced it long before.
    s.clock.advance(Duration::minutes(61));
    assert!(
        raw.get::<Value, _, ()>("/repos/acme/widgets", None)
            .await
            .is_err()
    );
    assert!(s.sim.take_violations()[0].contains("expired"));
    s.call(Method::GET, "/repos/acme/widgets", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_app_without_a_permission_is_refused() {
    let s = scene().await;
    s.sim.with(|st| {
        st.app.permissions.remove("checks");
        st.app.permissions.insert("issues".into(), "read".into());
    });
    let sha = s
        .sim
        .with(|st| st.repo(REPO).unwrap().branches["main"].clone());
    let err = s
        .call(
            Method::POST,
            "/repos/acme/widgets/check-runs",
            Some(json!({"name": "shipgate", "head_sha": sha})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    let n = s.sim.with(|st| st.add_issue(REPO, "dev", "t", "b", &[]));
    s.call(
        Method::GET,
        &format!("/repos/acme/widgets/issues/{n}"),
        None,
    )
    .await
    .unwrap();
    let err = s
        .call(
            Method::POST,
            &format!("/repos/acme/widgets/issues/{n}/comments"),
            Some(json!({"body": "hi"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "read does not allow writing");
    let violations = s.sim.take_violations();
    assert!(violations[0].contains("`checks: write`"), "{violations:?}");
    assert!(violations[1].contains("`issues: write`"), "{violations:?}");
}

#[tokio::test]
async fn deployments_of_a_branch_behind_the_default_branch_auto_merge() {
    let s = scene().await;
    let base = s
        .sim
        .with(|st| st.repo(REPO).unwrap().branches["main"].clone());
    s.sim.with(|st| {
        st.repo_mut(REPO)
            .unwrap()
            .branches
            .insert("topic".into(), base.clone());
        st.commit(
            REPO,
            "topic",
            "topic work",
            "dev",
            &[("topic.txt", Some("t"))],
        );
        st.commit(
            REPO,
            "main",
            "main moves on",
            "dev",
            &[("main.txt", Some("m"))],
        );
    });
    // GitHub's default: merge main into the branch instead of deploying.
    let merged = s
        .call(
            Method::POST,
            "/repos/acme/widgets/deployments",
            Some(json!({"ref": "topic", "required_contexts": []})),
        )
        .await
        .unwrap();
    assert!(
        merged["message"]
            .as_str()
            .unwrap()
            .starts_with("Auto-merged main into topic"),
        "{merged}"
    );
    s.sim.with(|st| {
        let r = st.repo(REPO).unwrap();
        assert!(r.deployments.is_empty(), "no deployment was created");
        let head = &r.commits[&r.branches["topic"]];
        assert_eq!(head.parents.len(), 2);
        assert_eq!(head.files["main.txt"], b"m");
    });
    // A required context that does not exist yet is not green.
    let err = s
        .call(
            Method::POST,
            "/repos/acme/widgets/deployments",
            Some(json!({"ref": "main", "required_contexts": ["ci"], "auto_merge": false})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
}

#[tokio::test]
async fn a_jwt_must_be_a_bearer_token_expiring_within_ten_minutes() {
    let s = scene().await;
    let creds = s.sim.app_credentials();
    let now = s.clock.now();
    let jwt = secrecy::ExposeSecret::expose_secret(&creds.jwt(now)).to_owned();
    let client = reqwest::Client::new();
    let url = format!("{}app", s.sim.api_url());
    let ok = client
        .get(&url)
        .header("authorization", format!("Bearer {jwt}"))
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let token_scheme = client
        .get(&url)
        .header("authorization", format!("token {jwt}"))
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(token_scheme.status(), 401);
    // Signed for eleven minutes: refused.
    let claims = shipgate::github::credentials::AppJwtClaims {
        iat: now.timestamp() - 60,
        exp: now.timestamp() + 660,
        iss: creds.app_id.to_string(),
    };
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        s.sim.with(|st| st.app.private_key_pem.clone()).as_bytes(),
    )
    .unwrap();
    let long = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap();
    let too_long = client
        .get(&url)
        .header("authorization", format!("Bearer {long}"))
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 401);
    let violations = s.sim.take_violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(
        violations[1].contains("too far in the future"),
        "{violations:?}"
    );
}

/// A user access token sees who it is, the App's installations the user can reach, and of
/// those only the repositories the user can read — as GitHub lists them.
#[tokio::test]
async fn a_user_token_sees_only_what_its_user_can_read() {
    let s = scene().await;
    s.sim.add_repo("acme/secret");
    s.sim.set_permission(REPO, "alice", Permission::Read);
    s.sim
        .set_permission("acme/secret", "bob", Permission::Write);
    let both = s.sim.add_installation("acme", &[REPO, "acme/secret"]);
    let _elsewhere = s.sim.add_installation("globex", &["acme/other"]);
    let alice = SecretString::from(s.sim.user_token("alice"));
    let get = |token: &SecretString, path: &str| {
        let (app, token, path) = (&s.app, token.clone(), path.to_owned());
        async move {
            app.as_user(&token, "test call", &path)
                .await
                .map(|a| a.json::<Value>("test call").unwrap())
        }
    };
    let me = get(&alice, "/user").await.unwrap();
    assert_eq!(me["login"], "alice");
    let installations = get(&alice, "/user/installations").await.unwrap();
    let ids: Vec<u64> = installations["installations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![s.installation, both],
        "not the one she cannot read"
    );
    let repos = get(&alice, &format!("/user/installations/{both}/repositories"))
        .await
        .unwrap();
    let names: Vec<&str> = repos["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![REPO], "acme/secret is bob's");
    let bob = SecretString::from(s.sim.user_token("bob"));
    let repos = get(&bob, &format!("/user/installations/{both}/repositories"))
        .await
        .unwrap();
    assert_eq!(repos["repositories"][0]["full_name"], "acme/secret");

    // Not a user token, or an expired one: 401; an installation token cannot ask.
    let forged = SecretString::from("ghu_0000".to_owned());
    assert_eq!(get(&forged, "/user").await.unwrap_err().status(), Some(401));
    s.clock.advance(Duration::hours(9));
    assert_eq!(get(&alice, "/user").await.unwrap_err().status(), Some(401));
    let installation_token = s.app.installation_token(s.installation).await.unwrap();
    assert_eq!(
        get(&installation_token, "/user/installations")
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
    let refused = s.sim.take_violations();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused[1].contains("expired") && refused[2].contains("user access token"));
}

/// GraphQL serves `markPullRequestReadyForReview` (REST cannot take a PR out of draft): a
/// draft PR found by its node id becomes ready (`pull_request.ready_for_review`); a query
/// GitHub would refuse is answered with `errors` and recorded as a violation.
#[tokio::test]
async fn graphql_marks_a_draft_ready_for_review_and_refuses_other_queries() {
    let s = scene().await;
    s.sim.with(|st| {
        let main = st.repos[REPO].branches["main"].clone();
        st.repo_mut(REPO)
            .unwrap()
            .branches
            .insert("feature/x".into(), main);
        st.commit(
            REPO,
            "feature/x",
            "work",
            "dev",
            &[("src/x.txt", Some("x"))],
        );
    });
    let pr = s
        .call(
            Method::POST,
            "/repos/acme/widgets/pulls",
            Some(serde_json::json!({"title": "X", "head": "feature/x", "base": "main", "draft": true})),
        )
        .await
        .unwrap();
    assert_eq!(pr["draft"], true);
    let again = s
        .call(
            Method::POST,
            "/repos/acme/widgets/pulls",
            Some(serde_json::json!({"title": "X", "head": "feature/x", "base": "main"})),
        )
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("A pull request already exists"),
        "{again}"
    );
    let ask =
        |query: &str, variables: Value| serde_json::json!({"query": query, "variables": variables});
    let id = pr["node_id"].as_str().unwrap();
    let mutation = "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft number } } }";
    let data = s
        .app
        .graphql_as_installation(
            s.installation,
            "test",
            &ask(mutation, serde_json::json!({"id": id})),
        )
        .await
        .unwrap();
    assert_eq!(
        data["markPullRequestReadyForReview"]["pullRequest"]["isDraft"],
        false
    );
    assert_eq!(
        data["markPullRequestReadyForReview"]["pullRequest"]["number"],
        pr["number"]
    );
    let number = pr["number"].as_u64().unwrap();
    assert!(!s.sim.with(|st| st.repos[REPO].pulls[&number].draft));
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
    let wrong = "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { title } } }";
    let refused = s
        .app
        .graphql_as_installation(
            s.installation,
            "test",
            &ask(wrong, serde_json::json!({"id": id})),
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("Field 'title' doesn't exist"),
        "{refused}"
    );
    assert_eq!(s.sim.take_violations().len(), 1);
    let unknown = s
        .app
        .graphql_as_installation(
            s.installation,
            "test",
            &ask(mutation, serde_json::json!({"id": "PR_nope"})),
        )
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("Could not resolve"),
        "{unknown}"
    );
}

/// GraphQL changes labels by node id, several mutations in one document, run in order:
/// a label added that was not there and one removed that was send `issues.labeled` and
/// `issues.unlabeled` at once; adding one already there or removing one that is not changes
/// nothing; a label id that resolves to nothing answers `NOT_FOUND` for its field while the
/// other field still runs; a variable of the wrong type is refused as GitHub would.
#[tokio::test]
async fn graphql_changes_labels_by_node_id() {
    let s = scene().await;
    let n = s.sim.with(|st| st.add_issue(REPO, "pm", "Export", "", &[]));
    let mut ids = Vec::new();
    for name in ["shipgate:intake", "shipgate:planning"] {
        let made = s
            .call(
                Method::POST,
                "/repos/acme/widgets/labels",
                Some(serde_json::json!({"name": name, "color": "5319e7"})),
            )
            .await
            .unwrap();
        ids.push(made["node_id"].as_str().unwrap().to_owned());
    }
    let issue = s
        .call(
            Method::GET,
            &format!("/repos/acme/widgets/issues/{n}"),
            None,
        )
        .await
        .unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let swap = "mutation($on: ID!, $add: [ID!]!, $remove: [ID!]!) { \
        add: addLabelsToLabelable(input: {labelableId: $on, labelIds: $add}) { clientMutationId } \
        remove: removeLabelsFromLabelable(input: {labelableId: $on, labelIds: $remove}) { clientMutationId } }";
    let scene = &s;
    let graphql = |query: &str, variables: Value| {
        let body = serde_json::json!({"query": query, "variables": variables});
        async move {
            scene
                .call(Method::POST, "/graphql", Some(body))
                .await
                .unwrap()
        }
    };
    let labels = || s.sim.with(|st| st.repos[REPO].issues[&n].labels.clone());
    let events = || {
        s.sim.with(|st| {
            st.hook_deliveries
                .iter()
                .filter(|d| d.event == "issues")
                .filter_map(|d| d.action.clone())
                .collect::<Vec<_>>()
        })
    };

    let answer = graphql(
        swap,
        serde_json::json!({"on": issue, "add": [ids[0]], "remove": [ids[1]]}),
    )
    .await;
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    assert_eq!(labels(), ["shipgate:intake"]);
    assert_eq!(events(), ["labeled"], "sent with the answer, not later");

    let answer = graphql(
        swap,
        serde_json::json!({"on": issue, "add": [ids[1]], "remove": [ids[0]]}),
    )
    .await;
    assert_eq!(answer["errors"], Value::Null, "{answer}");
    assert_eq!(labels(), ["shipgate:planning"]);
    assert_eq!(events(), ["labeled", "labeled", "unlabeled"]);

    // A label id that resolves to nothing: its field fails, the other still runs.
    let answer = graphql(
        swap,
        serde_json::json!({"on": issue, "add": [ids[0]], "remove": ["LA_gone"]}),
    )
    .await;
    assert_eq!(answer["data"]["remove"], Value::Null, "{answer}");
    assert_eq!(answer["errors"][0]["type"], "NOT_FOUND", "{answer}");
    assert_eq!(answer["errors"][0]["path"][0], "remove", "{answer}");
    assert_eq!(labels(), ["shipgate:planning", "shipgate:intake"]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());

    // `labelIds` declared as one ID, not a list: refused, and a violation.
    let wrong = "mutation($on: ID!, $add: ID!) { \
        addLabelsToLabelable(input: {labelableId: $on, labelIds: $add}) { clientMutationId } }";
    let answer = graphql(wrong, serde_json::json!({"on": issue, "add": ids[0]})).await;
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Type mismatch on variable $add"),
        "{answer}"
    );
    assert_eq!(s.sim.take_violations().len(), 1);
}
