//! shipgate's GitHub client (octocrab, App JWT, installation tokens) against the simulator,
//! which checks every request against GitHub's REST description.

#[macro_use]
mod common;

use std::sync::Arc;

use chrono::Duration;
use serde_json::{Map, Value, json};
use shipgate::clock::{Clock, ManualClock};
use shipgate::github::LiveApp;
use shipgate::github::app::GitHubApp;
use shipgate::github::client::{
    Access, CheckAction, CheckOutput, CheckRunRequest, DeploymentRequest, DeploymentStatusRequest,
    GitHub, RepoRef,
};
use shipgate::github::credentials::AppKey;
use shipgate::github::octocrab_client::OctocrabGitHub;
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;
use shipgate::store::deliveries::DeliveryStatus;

use common::{Backend, Shipgate, TestDb};

const REPO: &str = "acme/widgets";

struct Scene {
    sim: Simulator,
    clock: Arc<ManualClock>,
    client: OctocrabGitHub,
    repo: RepoRef,
}

async fn scene() -> Scene {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let sim = Simulator::start_with_clock(clock.clone()).await;
    sim.add_repo(REPO);
    let installation = sim.add_installation("acme", &[REPO]);
    let app = GitHubApp::new(
        sim.app_credentials(),
        &sim.api_url(),
        clock.clone(),
        true,
        Default::default(),
    )
    .unwrap();
    let client = OctocrabGitHub::new(Arc::new(LiveApp::new(Some(Arc::new(app)))));
    Scene {
        sim,
        clock,
        client,
        repo: RepoRef::new(installation, REPO).unwrap(),
    }
}

fn token_requests(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("apps/create-installation-access-token"))
        .count()
}

#[tokio::test]
async fn installation_tokens_are_cached_and_refreshed_before_they_expire() {
    let s = scene().await;
    s.sim.set_permission(REPO, "dev", Permission::Write);
    assert_eq!(
        s.client
            .collaborator_permission(&s.repo, "dev")
            .await
            .unwrap(),
        Access::Write
    );
    assert_eq!(
        token_requests(&s.sim),
        1,
        "the JWT was accepted and a token fetched"
    );
    s.client
        .collaborator_permission(&s.repo, "dev")
        .await
        .unwrap();
    assert_eq!(token_requests(&s.sim), 1, "the cached token is reused");

    // 45 minutes in, 15 are left: still used. At 51, less than 10 are left: replaced.
    s.clock.advance(Duration::minutes(45));
    s.client
        .collaborator_permission(&s.repo, "dev")
        .await
        .unwrap();
    assert_eq!(token_requests(&s.sim), 1);
    s.clock.advance(Duration::minutes(6));
    s.client
        .collaborator_permission(&s.repo, "dev")
        .await
        .unwrap();
    assert_eq!(
        token_requests(&s.sim),
        2,
        "refreshed well before expires_at"
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let s = scene().await;
    let mut calls = Vec::new();
    for _ in 0..16 {
        let client = s.client.clone();
        let repo = s.repo.clone();
        calls.push(tokio::spawn(async move {
            client.collaborator_permission(&repo, "nobody").await
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), Access::None);
    }
    assert_eq!(token_requests(&s.sim), 1);
}

#[tokio::test]
async fn app_jwt_claims_follow_githubs_rules() {
    let s = scene().await;
    let creds = s.sim.app_credentials();
    let now = s.clock.now();
    let jwt = secrecy::ExposeSecret::expose_secret(&creds.jwt(now)).to_owned();
    let public = s.sim.with(|st| st.app.public_key_pem.clone());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        &validation,
    )
    .expect("RS256, signed with the App key");
    let claims = data.claims;
    assert_eq!(claims["iat"].as_i64().unwrap(), now.timestamp() - 60);
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now.timestamp() && exp <= now.timestamp() + 600);
    assert_eq!(claims["iss"], creds.app_id.to_string());
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_refused() {
    let s = scene().await;
    let mut creds = s.sim.app_credentials();
    creds.key = AppKey::from_pem(&shipgate::sim::keys::app_key_pair(1).private_pem).unwrap();
    let app = GitHubApp::new(
        creds,
        &s.sim.api_url(),
        s.clock.clone(),
        true,
        Default::default(),
    )
    .unwrap();
    let err = app
        .installation_token(s.repo.installation_id)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    let violations = s.sim.take_violations();
    assert!(
        violations.iter().any(|v| v.contains("bad signature")),
        "{violations:?}"
    );
}

#[tokio::test]
async fn comments_labels_reactions_and_files() {
    let s = scene().await;
    let issue = s.sim.with(|st| {
        st.add_issue(
            REPO,
            "dev",
            "Add export",
            "## Acceptance criteria\n- works",
            &[],
        )
    });
    let c = s
        .client
        .create_issue_comment(&s.repo, issue, "status: intake")
        .await
        .unwrap();
    assert_eq!(c.user.login, "shipgate-sim[bot]");
    s.client
        .update_issue_comment(&s.repo, c.id, "status: planning")
        .await
        .unwrap();
    let listed = s.client.list_issue_comments(&s.repo, issue).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].body.as_deref(), Some("status: planning"));
    s.client.add_reaction(&s.repo, c.id, "eyes").await.unwrap();

    let intake = s
        .client
        .ensure_label(&s.repo, "shipgate:intake", "0e8a16", "shipgate phase")
        .await
        .unwrap();
    let found = s
        .client
        .ensure_label(&s.repo, "shipgate:intake", "0e8a16", "shipgate phase")
        .await
        .unwrap();
    assert_eq!(found, intake, "an existing label answers its node id");
    let on = s.client.issue_node_id(&s.repo, issue).await.unwrap();
    s.client
        .relabel(&s.repo, &on, std::slice::from_ref(&intake), &[])
        .await
        .unwrap();
    s.client
        .remove_label(&s.repo, issue, "not-there")
        .await
        .unwrap();
    s.sim.with(|st| {
        let r = st.repo(REPO).unwrap();
        assert_eq!(r.issues[&issue].labels, vec!["shipgate:intake".to_string()]);
        assert_eq!(r.labels.len(), 1, "ensure_label created it once");
        assert_eq!(
            r.comments[&c.id].history,
            vec!["status: intake", "status: planning"]
        );
        assert_eq!(r.comments[&c.id].reactions[0].content, "eyes");
    });
    s.client
        .remove_label(&s.repo, issue, "shipgate:intake")
        .await
        .unwrap();
    s.sim
        .with(|st| assert!(st.repo(REPO).unwrap().issues[&issue].labels.is_empty()));
    // A phase change: one label added and another removed in one GraphQL request.
    let planning = s
        .client
        .ensure_label(&s.repo, "shipgate:planning", "0e8a16", "shipgate phase")
        .await
        .unwrap();
    assert_eq!(
        s.client
            .label_node_id(&s.repo, "shipgate:planning")
            .await
            .unwrap(),
        Some(planning.clone())
    );
    assert_eq!(s.client.label_node_id(&s.repo, "nope").await.unwrap(), None);
    s.client
        .relabel(&s.repo, &on, std::slice::from_ref(&intake), &[])
        .await
        .unwrap();
    let before = s.sim.requests().len();
    s.client
        .relabel(&s.repo, &on, std::slice::from_ref(&planning), &[intake])
        .await
        .unwrap();
    let sent: Vec<_> = s.sim.requests()[before..]
        .iter()
        .map(|r| r.operation.clone().unwrap_or_default())
        .collect();
    assert_eq!(sent, ["graphql"]);
    s.sim.with(|st| {
        assert_eq!(
            st.repo(REPO).unwrap().issues[&issue].labels,
            ["shipgate:planning"]
        )
    });

    s.sim.with(|st| {
        st.commit(
            REPO,
            "main",
            "config",
            "dev",
            &[(".github/shipgate.yml", Some("trigger_label: feature\n"))],
        );
    });
    let file = s
        .client
        .file(&s.repo, ".github/shipgate.yml", "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(file.bytes, b"trigger_label: feature\n");
    assert!(
        s.client
            .file(&s.repo, "missing.yml", "main")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn permissions_and_team_membership() {
    let s = scene().await;
    s.sim
        .set_permission(REPO, "maintainer", Permission::Maintain);
    s.sim.set_permission(REPO, "reader", Permission::Read);
    s.sim.with(|st| {
        st.teams
            .entry(("acme".into(), "release".into()))
            .or_default()
            .insert("lead".into(), "member".into());
    });
    assert_eq!(
        s.client
            .collaborator_permission(&s.repo, "acme")
            .await
            .unwrap(),
        Access::Admin
    );
    assert!(
        s.client
            .collaborator_permission(&s.repo, "maintainer")
            .await
            .unwrap()
            .can_write()
    );
    assert!(
        !s.client
            .collaborator_permission(&s.repo, "reader")
            .await
            .unwrap()
            .can_write()
    );
    assert!(
        s.client
            .team_member(&s.repo, "acme", "release", "lead")
            .await
            .unwrap()
    );
    assert!(
        !s.client
            .team_member(&s.repo, "acme", "release", "reader")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn branches_check_runs_and_deployments() {
    let s = scene().await;
    let main = s.client.branch_sha(&s.repo, "main").await.unwrap().unwrap();
    assert!(
        s.client
            .create_branch(&s.repo, "feature/REQ-1-export", &main)
            .await
            .unwrap()
    );
    assert!(
        !s.client
            .create_branch(&s.repo, "feature/REQ-1-export", &main)
            .await
            .unwrap(),
        "exists"
    );
    assert_eq!(
        s.client
            .branch_sha(&s.repo, "feature/REQ-1-export")
            .await
            .unwrap(),
        Some(main.clone())
    );
    assert_eq!(s.client.branch_sha(&s.repo, "nope").await.unwrap(), None);

    let check = s
        .client
        .create_check_run(
            &s.repo,
            &CheckRunRequest {
                name: Some("shipgate".into()),
                head_sha: Some(main.clone()),
                status: Some("in_progress".into()),
                external_id: Some("pipeline-1".into()),
                output: Some(CheckOutput {
                    title: "Waiting for review".into(),
                    summary: "| gate | state |\n|---|---|".into(),
                    text: None,
                }),
                actions: Some(vec![CheckAction {
                    label: "Approve prod".into(),
                    description: "Approve the production deploy".into(),
                    identifier: "approve-prod".into(),
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let listed = s
        .client
        .check_runs_for(&s.repo, &main, "shipgate")
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![check.id]
    );

    // shipgate's own check run is in progress; a deployment still goes through because the
    // client sends required_contexts: [] ...
    let d = s
        .client
        .create_deployment(
            &s.repo,
            &DeploymentRequest {
                git_ref: "main".into(),
                environment: "staging".into(),
                description: "REQ-1".into(),
                payload: json!({"pipeline": 1}),
                production_environment: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(d.sha, main);
    // ... whereas a request without it is refused, as GitHub does.
    let raw = raw_installation_client(&s).await;
    let refused = raw
        .post::<_, Value>(
            format!("/repos/{REPO}/deployments"),
            Some(&json!({"ref": "main", "environment": "staging"})),
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("409") || format!("{refused:?}").contains("409"),
        "{refused:?}"
    );

    s.client
        .create_deployment_status(
            &s.repo,
            d.id,
            &DeploymentStatusRequest {
                state: "success".into(),
                log_url: Some("https://ci.example/run/1".into()),
                environment_url: Some("https://staging.example".into()),
                description: "deployed".into(),
            },
        )
        .await
        .unwrap();
    s.client
        .update_check_run(
            &s.repo,
            check.id,
            &CheckRunRequest {
                conclusion: Some("success".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.sim.with(|st| {
        let r = st.repo(REPO).unwrap();
        assert_eq!(r.check_runs[&check.id].status, "completed");
        let statuses: Vec<_> = r
            .deployment_statuses
            .values()
            .filter(|x| x.deployment_id == d.id)
            .collect();
        assert_eq!(statuses[0].state, "success");
        assert_eq!(statuses[0].environment_url, "https://staging.example");
    });
}

async fn raw_installation_client(s: &Scene) -> octocrab::Octocrab {
    let app = GitHubApp::new(
        s.sim.app_credentials(),
        &s.sim.api_url(),
        s.clock.clone(),
        true,
        Default::default(),
    )
    .unwrap();
    let token = app
        .installation_token(s.repo.installation_id)
        .await
        .unwrap();
    octocrab::Octocrab::builder()
        .base_uri(s.sim.api_url().as_str())
        .unwrap()
        .user_access_token(secrecy::ExposeSecret::expose_secret(&token).to_owned())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_request_github_would_refuse_fails_naming_the_violation() {
    let s = scene().await;
    let raw = raw_installation_client(&s).await;
    // `body` is required and `text` is not a field of this operation.
    let err = raw
        .post::<_, Value>(
            format!("/repos/{REPO}/issues/1/comments"),
            Some(&json!({"text": "hi"})),
        )
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("422"), "{err:?}");
    let violations = s.sim.take_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("issues/create-comment"),
        "{}",
        violations[0]
    );
    assert!(
        violations[0].contains("\"body\" is a required property"),
        "{}",
        violations[0]
    );

    // An endpoint GitHub does not have at all.
    let _ = raw
        .get::<Value, _, ()>("/repos/acme/widgets/teleport", None)
        .await;
    let violations = s.sim.take_violations();
    assert!(
        violations[0].contains("no such operation"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn a_simulator_with_violations_fails_the_test_that_made_them() {
    let s = scene().await;
    let raw = raw_installation_client(&s).await;
    let _ = raw
        .get::<Value, _, ()>(format!("/repos/{REPO}/pulls/x"), None)
        .await;
    let sim = s.sim;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(sim)));
    let message = outcome.expect_err("dropping a simulator with violations panics");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("pulls/get") && text.contains("pull_number"),
        "{text}"
    );
}

async fn dispatched_runs_report_back_to_shipgate(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_repo(REPO);
    sim.add_workflow(REPO, "tests.yml", &["sha", "pipeline"]);
    let sg = Shipgate::start(&db, &sim).await;
    let installation = sim.install("acme", &[REPO]).await;
    let client = OctocrabGitHub::new(sg.running.as_ref().unwrap().github.clone());
    let repo = RepoRef::new(installation, REPO).unwrap();

    // installation.created reached shipgate and was recorded.
    sg.drain().await;
    let inst = sg
        .store
        .installation(installation as i64)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(inst.account_login, "acme");
    assert_eq!(
        sg.store
            .installation_repositories(installation as i64)
            .await
            .unwrap(),
        vec![REPO.to_owned()]
    );

    let sha = client.branch_sha(&repo, "main").await.unwrap().unwrap();
    let mut inputs = Map::new();
    inputs.insert("sha".into(), json!(sha));
    inputs.insert("pipeline".into(), json!("7"));
    let run = client
        .dispatch_workflow(&repo, "tests.yml", "main", &inputs)
        .await
        .unwrap();
    let info = client
        .workflow_run(&repo, run.workflow_run_id)
        .await
        .unwrap();
    assert_eq!(info.status.as_deref(), Some("queued"));
    sim.with(|st| {
        let r = st.repo(REPO).unwrap();
        assert_eq!(
            r.runs[&run.workflow_run_id].inputs, inputs,
            "the inputs arrived as sent"
        );
    });

    sim.complete_workflow_run(REPO, run.workflow_run_id, "success")
        .await;
    sg.drain().await;
    let deliveries = sim.with(|st| st.hook_deliveries.clone());
    let completed = deliveries
        .iter()
        .find(|d| d.event == "workflow_run" && d.action.as_deref() == Some("completed"))
        .expect("workflow_run.completed was sent");
    assert_eq!(completed.status_code, 202, "shipgate accepted it");
    assert_eq!(
        completed.payload["workflow_run"]["id"],
        json!(run.workflow_run_id)
    );
    assert_eq!(
        completed.payload["sender"]["login"],
        json!("shipgate-sim[bot]")
    );
    let stored = sg
        .store
        .delivery(&completed.guid)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.status.as_str(), "processed");

    // GitHub's refusals: a SHA is not a ref, and undeclared inputs are refused.
    let err = client
        .dispatch_workflow(&repo, "tests.yml", &sha, &inputs)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    inputs.insert("surprise".into(), json!("x"));
    let err = client
        .dispatch_workflow(&repo, "tests.yml", "main", &inputs)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(err.to_string().contains("Unexpected inputs"), "{err}");

    // The App's deliveries can be listed, and a redelivery keeps its GUID: shipgate accepts
    // it and does not process it twice.
    let listed = client.hook_deliveries(None).await.unwrap().deliveries;
    let item = listed
        .iter()
        .find(|d| d.guid == completed.guid)
        .expect("listed");
    client.redeliver(item.id).await.unwrap();
    sim.settle().await;
    let again = sim.with(|st| st.hook_deliveries.last().cloned().unwrap());
    assert!(again.redelivery);
    assert_eq!(again.guid, completed.guid);
    assert_eq!(again.status_code, 202);
    sg.drain().await;
    let duplicates = sg
        .store
        .deliveries_with_status(DeliveryStatus::Duplicate)
        .await
        .unwrap();
    assert_eq!(
        duplicates
            .iter()
            .map(|d| d.delivery_id.as_str())
            .collect::<Vec<_>>(),
        [completed.guid.as_str()]
    );
    assert_eq!(
        sg.store
            .delivery(&completed.guid)
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Processed
    );
    sg.stop().await;
}

on_both_backends!(dispatched_runs_report_back_to_shipgate);
