//! Webhooks from the simulator to shipgate: built like GitHub's (validated against GitHub's
//! webhook description), signed with the App's secret, sent in order by one background task,
//! and recorded as the App's hook deliveries (which `GET /app/hook/deliveries` lists and
//! `POST …/attempts` redelivers).
//! Must not: send a webhook unsigned, or out of order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::RngCore;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::Inner;
use super::render;
use super::spec::Spec;
use super::state::{HookDelivery, OutgoingWebhook, SimState};
use crate::github::signature;

/// A webhook on its way: what to send, and whether it repeats an earlier delivery.
struct Job {
    guid: String,
    redelivery: bool,
    hook: OutgoingWebhook,
}

/// The ordered queue of webhooks to send.
#[derive(Default)]
pub struct HookQueue {
    sender: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    pending: AtomicUsize,
    idle: Notify,
}

fn new_guid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl HookQueue {
    /// Queues webhooks for sending, in order.
    pub(crate) fn enqueue(&self, inner: &Arc<Inner>, hooks: Vec<OutgoingWebhook>) {
        let jobs: Vec<Job> = hooks
            .into_iter()
            .map(|hook| Job {
                guid: new_guid(),
                redelivery: false,
                hook,
            })
            .collect();
        self.push(inner, jobs);
    }

    fn push(&self, inner: &Arc<Inner>, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let mut sender = self.sender.lock().expect("hook queue");
        let tx = sender.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(send_loop(Arc::downgrade(inner), rx));
            tx
        });
        for job in jobs {
            self.pending.fetch_add(1, Ordering::SeqCst);
            if tx.send(job).is_err() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    fn done_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

async fn send_loop(inner: std::sync::Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let client = reqwest::Client::new();
    while let Some(job) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { break };
        deliver(&inner, &client, job).await;
        inner.hooks.done_one();
    }
}

async fn deliver(inner: &Inner, client: &reqwest::Client, job: Job) {
    let (url, secret, hook_id, now) = {
        let s = inner.state.lock().expect("simulator state");
        (
            s.app.webhook_url.clone(),
            s.app.webhook_secret.clone(),
            s.app.id,
            s.now(),
        )
    };
    let body = serde_json::to_vec(&job.hook.payload).expect("payload serialises");
    let mut headers = BTreeMap::new();
    headers.insert("Accept".to_owned(), "*/*".to_owned());
    headers.insert("Content-Type".to_owned(), "application/json".to_owned());
    headers.insert("User-Agent".to_owned(), "GitHub-Hookshot/sim".to_owned());
    headers.insert("X-GitHub-Delivery".to_owned(), job.guid.clone());
    headers.insert("X-GitHub-Event".to_owned(), job.hook.event.clone());
    headers.insert("X-GitHub-Hook-ID".to_owned(), hook_id.to_string());
    headers.insert(
        "X-GitHub-Hook-Installation-Target-ID".to_owned(),
        hook_id.to_string(),
    );
    headers.insert(
        "X-GitHub-Hook-Installation-Target-Type".to_owned(),
        "integration".to_owned(),
    );
    headers.insert(
        "X-Hub-Signature-256".to_owned(),
        signature::sign(secret.as_bytes(), &body),
    );
    let started = Instant::now();
    let (status_code, response_headers, response_body) = match url {
        None => (0, BTreeMap::new(), "no webhook URL configured".to_owned()),
        Some(url) => {
            let mut request = client.post(url.as_str()).body(body);
            for (k, v) in &headers {
                request = request.header(k, v);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let rh = response
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    (status, rh, response.text().await.unwrap_or_default())
                }
                Err(e) => (0, BTreeMap::new(), format!("failed to connect: {e}")),
            }
        }
    };
    let mut s = inner.state.lock().expect("simulator state");
    let id = s.next_id();
    s.hook_deliveries.push(HookDelivery {
        id,
        guid: job.guid,
        event: job.hook.event,
        action: job.hook.action,
        installation_id: job.hook.installation_id,
        repository_id: job.hook.repository_id,
        delivered_at: now,
        redelivery: job.redelivery,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        status_code,
        request_headers: headers,
        payload: job.hook.payload,
        response_headers,
        response_body,
    });
}

/// Checks webhooks built by the simulator against GitHub's webhook description.
pub(crate) fn check_all(spec: &Spec, hooks: &[OutgoingWebhook]) -> Vec<String> {
    hooks
        .iter()
        .filter(|h| h.payload.get("__raw").is_none())
        .flat_map(|h| {
            spec.check_webhook(&h.event, h.action.as_deref(), &h.payload)
                .into_iter()
                .map(|p| format!("simulator webhook {} is not GitHub's shape: {p}", h.event))
        })
        .collect()
}

/// Keeps back the webhooks of held events (see `Simulator::hold_webhooks`); returns the rest.
pub(crate) fn hold_back(s: &mut SimState, outgoing: Vec<OutgoingWebhook>) -> Vec<OutgoingWebhook> {
    let (held, sendable): (Vec<_>, Vec<_>) = outgoing
        .into_iter()
        .partition(|h| s.held_events.contains(&h.event));
    s.held.extend(held);
    sendable
}

/// Sends everything in the outbox and waits until it has been delivered.
pub(crate) async fn flush(inner: &Arc<Inner>) {
    let outgoing = {
        let mut s = inner.state.lock().expect("simulator state");
        let outgoing = std::mem::take(&mut s.outbox);
        let violations = check_all(&inner.spec, &outgoing);
        s.violations.extend(violations);
        hold_back(&mut s, outgoing)
    };
    let outgoing = outgoing
        .into_iter()
        .map(|mut h| {
            if let Some(obj) = h.payload.as_object_mut() {
                obj.remove("__raw");
            }
            h
        })
        .collect();
    inner.hooks.enqueue(inner, outgoing);
    inner.hooks.wait_idle().await;
}

/// Sends an earlier delivery again with the same GUID (GitHub's "Redeliver").
pub(crate) fn redeliver(inner: &Arc<Inner>, delivery: &HookDelivery) {
    let job = Job {
        guid: delivery.guid.clone(),
        redelivery: true,
        hook: OutgoingWebhook {
            event: delivery.event.clone(),
            action: delivery.action.clone(),
            installation_id: delivery.installation_id,
            repository_id: delivery.repository_id,
            payload: delivery.payload.clone(),
        },
    };
    inner.hooks.push(inner, vec![job]);
}

/// Queues a payload exactly as given (tests replaying GitHub's published examples); it is not
/// checked against the webhook description.
pub fn enqueue_raw(s: &mut SimState, event: &str, mut payload: Value) {
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let installation_id = payload.pointer("/installation/id").and_then(Value::as_u64);
    let repository_id = payload.pointer("/repository/id").and_then(Value::as_u64);
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("__raw".into(), json!(true));
    }
    s.outbox.push(OutgoingWebhook {
        event: event.to_owned(),
        action,
        installation_id,
        repository_id,
        payload,
    });
}

fn installation_ref(id: u64) -> Value {
    json!({"id": id, "node_id": format!("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{id}")})
}

/// `installation.created` for an installation the simulator holds.
pub fn installation_created(s: &mut SimState, id: u64) {
    let inst = s.installations[&id].clone();
    let repositories: Vec<Value> = inst
        .repositories
        .iter()
        .filter_map(|full| s.repo(full))
        .map(|r| json!({"id": r.id, "node_id": format!("R_{}", r.id), "name": r.name, "full_name": r.full_name(), "private": r.private}))
        .collect();
    let mut installation = render::installation(s, &inst);
    if let Some(obj) = installation.as_object_mut() {
        obj.remove("client_id");
    }
    let payload = json!({
        "action": "created",
        "installation": installation,
        "repositories": repositories,
        "requester": null,
        "sender": render::user(s, &inst.account),
    });
    s.outbox.push(OutgoingWebhook {
        event: "installation".into(),
        action: Some("created".into()),
        installation_id: Some(id),
        repository_id: None,
        payload,
    });
}

/// `workflow_run.<action>` for a run the simulator holds.
pub fn workflow_run(s: &mut SimState, full_name: &str, run_id: u64, action: &str) {
    let r = &s.repos[full_name];
    let run = &r.runs[&run_id];
    let workflow = &r.workflows[&run.workflow_id];
    let payload = json!({
        "action": action,
        "workflow_run": render::workflow_run(s, r, run),
        "workflow": render::workflow(s, r, workflow),
        "repository": render::repository(s, r),
        "sender": render::user(s, &run.actor),
    });
    push_repo_webhook(s, full_name, "workflow_run", action, payload);
}

/// Queues a repository's webhook, with the installation that covers the repository.
fn push_repo_webhook(
    s: &mut SimState,
    full_name: &str,
    event: &str,
    action: &str,
    mut payload: Value,
) {
    let installation_id = s.installation_for(full_name).map(|i| i.id);
    if let Some(id) = installation_id {
        payload["installation"] = installation_ref(id);
    }
    let repository_id = s.repos.get(full_name).map(|r| r.id);
    s.outbox.push(OutgoingWebhook {
        event: event.to_owned(),
        action: Some(action.to_owned()),
        installation_id,
        repository_id,
        payload,
    });
}

/// `deployment_protection_rule.requested`: a job of `run_id` targets `environment`, which has
/// the App as a custom protection rule. GitHub creates the job's deployment (of the run's
/// commit) and asks the App through a callback URL that names the run.
pub fn deployment_protection_rule(
    s: &mut SimState,
    full_name: &str,
    run_id: u64,
    environment: &str,
) {
    let (id, now) = (s.next_id(), s.now());
    let creator = s.ensure_user_of_kind("github-actions[bot]", "Bot").login;
    let r = s.repos.get_mut(full_name).expect("known repository");
    let run = r.runs[&run_id].clone();
    r.deployments.insert(
        id,
        crate::sim::state::Deployment {
            id,
            sha: run.head_sha.clone(),
            git_ref: run.head_branch.clone(),
            task: "deploy".into(),
            environment: environment.to_owned(),
            payload: json!({}),
            description: None,
            creator,
            production_environment: environment == "production",
            transient_environment: false,
            required_contexts: None,
            created_at: now,
        },
    );
    r.protection_waiting
        .insert((run_id, environment.to_owned()));
    let r = &s.repos[full_name];
    let callback = s.api_url(&format!(
        "repos/{full_name}/actions/runs/{run_id}/deployment_protection_rule"
    ));
    let pull_requests: Vec<Value> = r
        .pulls
        .values()
        .filter(|p| p.head_ref == run.head_branch && r.issues[&p.number].state == "open")
        .map(|p| render::pull(s, r, p))
        .collect();
    let payload = json!({
        "action": "requested",
        "environment": environment,
        "event": run.event,
        "deployment_callback_url": callback,
        "deployment": render::deployment(s, r, &r.deployments[&id]),
        "pull_requests": pull_requests,
        "repository": render::repository(s, r),
        "sender": render::user(s, &run.actor),
    });
    push_repo_webhook(
        s,
        full_name,
        "deployment_protection_rule",
        "requested",
        payload,
    );
}
