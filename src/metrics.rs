//! What `/metrics` shows: counters and histograms the parts of shipgate update as they work,
//! and gauges read from the database when Prometheus scrapes (so every replica of a
//! PostgreSQL deployment reports the same queue and pipeline counts).
//!
//! The exposition is OpenMetrics text (`application/openmetrics-text; version=1.0.0`), which
//! Prometheus reads, written by the Prometheus project's `prometheus-client` crate. Every
//! metric is in the README's metrics table, and a test checks each one listed there appears.
//! Labels stay low-cardinality: nothing an outsider chooses (an unknown webhook event is
//! `other`), no login, title or secret; no label names a repository.
//! Owns: the registry, metric names and labels, and how a pipeline's change becomes
//! observations. Must not: decide anything — metrics observe, nothing reads them back.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::pipeline::domain::Environment;
use crate::pipeline::model::{DeployState, Phase, Pipeline, RollbackTrigger};
use crate::store::{Store, StoreError};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The commit shipgate was built from (`git rev-parse --short=12 HEAD` at build time), or
/// `unknown` when built outside a git checkout.
pub const COMMIT: &str = env!("SHIPGATE_COMMIT");

/// Webhook events shipgate acts on or acknowledges by name; any other `X-GitHub-Event` is
/// counted as `other`.
const KNOWN_EVENTS: [&str; 18] = [
    "check_run",
    "check_suite",
    "deployment",
    "deployment_protection_rule",
    "deployment_status",
    "installation",
    "installation_repositories",
    "issue_comment",
    "issue_dependencies",
    "issues",
    "ping",
    "pull_request",
    "pull_request_review",
    "push",
    "sub_issues",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EffectLabels {
    action: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GateLabels {
    gate: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeployLabels {
    environment: &'static str,
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RollbackLabels {
    environment: &'static str,
    trigger: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    environment: &'static str,
    outcome: &'static str,
}

/// Why GitHub's requests were held: `primary` (the hourly budget), `secondary` (GitHub's
/// abuse limits), `pacing` (shipgate's own spacing of content-creating requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Primary,
    Secondary,
    Pacing,
}

impl Wait {
    fn name(self) -> &'static str {
        match self {
            Wait::Primary => "primary",
            Wait::Secondary => "secondary",
            Wait::Pacing => "pacing",
        }
    }
}

/// Seconds from 5 ms to about 20 min: request, commit and probe latencies.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 4.0, 10))
}

/// Seconds from 1 min to about 45 days: how long gates wait and features take.
fn lifecycle_buckets() -> Histogram {
    Histogram::new(exponential_buckets(60.0, 3.0, 11))
}

/// shipgate's metrics, one set per running shipgate (tests run several in one process).
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    ingest_batch: Histogram,
    ingest_commit: Histogram,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_oldest: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    effects: Family<EffectLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<OperationLabels, Histogram, fn() -> Histogram>,
    waits: Family<LimitLabels, Counter>,
    wait_seconds: Family<LimitLabels, Counter<f64, AtomicU64>>,
    pipelines: Family<PhaseLabels, Gauge>,
    gate_wait: Family<GateLabels, Histogram, fn() -> Histogram>,
    deploys: Family<DeployLabels, Counter>,
    rollbacks: Family<RollbackLabels, Counter>,
    probes: Family<ProbeLabels, Histogram, fn() -> Histogram>,
    lead_time: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shipgate");
        registry.register(
            "build",
            "The version and commit of the running shipgate (always 1)",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("commit", COMMIT),
            ]),
        );
        let m = Metrics {
            deliveries: Family::default(),
            ingest_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            ingest_commit: latency_buckets(),
            queue_depth: Family::default(),
            queue_oldest: Family::default(),
            effects: Family::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_buckets),
            waits: Family::default(),
            wait_seconds: Family::default(),
            pipelines: Family::default(),
            gate_wait: Family::new_with_constructor(lifecycle_buckets),
            deploys: Family::default(),
            rollbacks: Family::default(),
            probes: Family::new_with_constructor(latency_buckets),
            lead_time: lifecycle_buckets(),
            registry: Registry::default(),
        };
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries answered, by X-GitHub-Event and HTTP status",
            m.deliveries.clone(),
        );
        registry.register(
            "ingest_batch_size",
            "Deliveries stored per database commit",
            m.ingest_batch.clone(),
        );
        registry.register_with_unit(
            "ingest_commit",
            "Time to commit one batch of deliveries",
            Unit::Seconds,
            m.ingest_commit.clone(),
        );
        registry.register(
            "queue_depth",
            "Work waiting, read from the database at scrape: deliveries not yet processed, effects pending, timers due",
            m.queue_depth.clone(),
        );
        registry.register_with_unit(
            "queue_oldest_age",
            "Age of the oldest work waiting in each queue (0 when empty)",
            Unit::Seconds,
            m.queue_oldest.clone(),
        );
        registry.register(
            "effects",
            "Effects run against GitHub, by action and outcome (done, retried, failed)",
            m.effects.clone(),
        );
        registry.register(
            "github_requests",
            "Requests to GitHub's REST API, by operation and HTTP status (or `transport`)",
            m.requests.clone(),
        );
        registry.register_with_unit(
            "github_request_duration",
            "Time GitHub took to answer, by operation",
            Unit::Seconds,
            m.request_seconds.clone(),
        );
        registry.register(
            "github_rate_limit_waits",
            "Requests held for a rate limit or the content pace, by limit (primary, secondary, pacing)",
            m.waits.clone(),
        );
        registry.register_with_unit(
            "github_rate_limit_wait",
            "Time requests were held, by limit",
            Unit::Seconds,
            m.wait_seconds.clone(),
        );
        registry.register(
            "pipelines",
            "Pipelines by phase, read from the database at scrape",
            m.pipelines.clone(),
        );
        registry.register_with_unit(
            "gate_wait",
            "Time from a gate opening to it passing, by gate (requirement, plan, review, production)",
            Unit::Seconds,
            m.gate_wait.clone(),
        );
        registry.register(
            "deploys",
            "Deploys that finished, by environment, kind (deploy, rollback) and outcome (succeeded, failed)",
            m.deploys.clone(),
        );
        registry.register(
            "rollbacks",
            "Rollbacks started, by environment and trigger (command, stop, deploy_failed, health)",
            m.rollbacks.clone(),
        );
        registry.register_with_unit(
            "health_probe_duration",
            "Health probe latency, by environment and outcome (healthy, unhealthy)",
            Unit::Seconds,
            m.probes.clone(),
        );
        registry.register_with_unit(
            "lead_time",
            "Lead time for changes: trigger label to healthy production",
            Unit::Seconds,
            m.lead_time.clone(),
        );
        let m = Metrics { registry, ..m };
        m.start_at_zero();
        m
    }

    /// Creates every series whose labels are known up front, at 0, so dashboards and alerts
    /// see a value before the first event (families keyed by effect action, GitHub
    /// operation or webhook event appear with their first use).
    fn start_at_zero(&self) {
        for environment in Environment::ALL.map(Environment::name) {
            for kind in ["deploy", "rollback"] {
                for outcome in ["succeeded", "failed"] {
                    drop(self.deploys.get_or_create(&DeployLabels {
                        environment,
                        kind,
                        outcome,
                    }));
                }
            }
            for trigger in RollbackTrigger::ALL.map(RollbackTrigger::name) {
                drop(self.rollbacks.get_or_create(&RollbackLabels {
                    environment,
                    trigger,
                }));
            }
            for outcome in ["healthy", "unhealthy"] {
                drop(self.probes.get_or_create(&ProbeLabels {
                    environment,
                    outcome,
                }));
            }
        }
        for phase in Phase::ALL {
            if let Some(gate) = gate_of(phase) {
                drop(self.gate_wait.get_or_create(&GateLabels { gate }));
            }
        }
        for limit in [Wait::Primary, Wait::Secondary, Wait::Pacing] {
            let labels = LimitLabels {
                limit: limit.name(),
            };
            drop(self.waits.get_or_create(&labels));
            drop(self.wait_seconds.get_or_create(&labels));
        }
    }
}

impl Metrics {
    /// A webhook delivery answered with `status`; `event` is `X-GitHub-Event` as sent.
    pub fn delivery(&self, event: Option<&str>, status: u16) {
        let event = event
            .and_then(|e| KNOWN_EVENTS.iter().find(|k| **k == e).copied())
            .unwrap_or("other");
        self.deliveries
            .get_or_create(&DeliveryLabels { event, status })
            .inc();
    }

    /// A batch of `rows` deliveries committed in `seconds`.
    pub fn ingest_commit(&self, rows: usize, seconds: f64) {
        self.ingest_batch.observe(rows as f64);
        self.ingest_commit.observe(seconds);
    }

    /// An effect ran: `outcome` is `done`, `retried` or `failed`.
    pub fn effect(&self, action: &str, outcome: &'static str) {
        // Action names are shipgate's own (the outbox's `action` column): a bounded set.
        self.effects
            .get_or_create(&EffectLabels {
                action: action.to_owned(),
                outcome,
            })
            .inc();
    }

    /// GitHub answered `operation` with `status` (`None`: no answer) after `seconds`.
    pub fn github_request(&self, operation: &'static str, status: Option<u16>, seconds: f64) {
        let status = status.map_or("transport", status_name);
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.request_seconds
            .get_or_create(&OperationLabels { operation })
            .observe(seconds);
    }

    /// A request to GitHub was held for `seconds` (0 when it was held back unsent).
    pub fn rate_limit_wait(&self, limit: Wait, seconds: f64) {
        let labels = LimitLabels {
            limit: limit.name(),
        };
        self.waits.get_or_create(&labels).inc();
        self.wait_seconds.get_or_create(&labels).inc_by(seconds);
    }

    /// A health probe of `environment` answered (or failed) after `seconds`.
    pub fn probe(&self, environment: Environment, healthy: bool, seconds: f64) {
        let outcome = if healthy { "healthy" } else { "unhealthy" };
        self.probes
            .get_or_create(&ProbeLabels {
                environment: environment.name(),
                outcome,
            })
            .observe(seconds);
    }

    /// Counts what pipelines' changes showed (see [`observations`]).
    pub fn record(&self, seen: Vec<Observation>) {
        for o in seen {
            match o {
                Observation::GatePassed { gate, waited_ms } => self
                    .gate_wait
                    .get_or_create(&GateLabels { gate })
                    .observe(seconds(waited_ms)),
                Observation::DeployFinished {
                    environment,
                    kind,
                    outcome,
                } => {
                    self.deploys
                        .get_or_create(&DeployLabels {
                            environment: environment.name(),
                            kind,
                            outcome,
                        })
                        .inc();
                }
                Observation::RollbackStarted {
                    environment,
                    trigger,
                } => {
                    self.rollbacks
                        .get_or_create(&RollbackLabels {
                            environment: environment.name(),
                            trigger,
                        })
                        .inc();
                }
                Observation::Done { lead_time_ms } => self.lead_time.observe(seconds(lead_time_ms)),
            }
        }
    }

    /// The exposition: the counters as they are, and the database's queues and pipelines
    /// read now (`now` in ms).
    pub async fn render(&self, store: &Store, now: i64) -> Result<String, StoreError> {
        let gauges = store.gauges(now).await?;
        for phase in Phase::ALL {
            let n = gauges.pipelines.get(phase.name()).copied().unwrap_or(0);
            self.pipelines
                .get_or_create(&PhaseLabels {
                    phase: phase.name(),
                })
                .set(n);
        }
        for q in gauges.queues {
            let labels = QueueLabels { queue: q.name };
            self.queue_depth.get_or_create(&labels).set(q.depth);
            self.queue_oldest
                .get_or_create(&labels)
                .set(seconds(q.oldest_age_ms));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        Ok(text)
    }
}

fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

/// HTTP statuses as label values, without allocating: the ones GitHub sends, else the class.
fn status_name(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        410 => "410",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// One thing a pipeline's change shows.
#[derive(Debug, PartialEq)]
pub enum Observation {
    /// The gate that kept `phase` passed after `waited_ms`.
    GatePassed { gate: &'static str, waited_ms: i64 },
    DeployFinished {
        environment: Environment,
        kind: &'static str,
        outcome: &'static str,
    },
    RollbackStarted {
        environment: Environment,
        trigger: &'static str,
    },
    /// Production healthy: lead time from the trigger label.
    Done { lead_time_ms: i64 },
}

/// The gate a phase waits on, when leaving it forward means the gate passed.
fn gate_of(phase: Phase) -> Option<&'static str> {
    match phase {
        Phase::Intake => Some("requirement"),
        Phase::Planning => Some("plan"),
        Phase::Review => Some("review"),
        Phase::Readiness => Some("production"),
        _ => None,
    }
}

/// What a pipeline's change from `before` to `after` at `now` (ms) shows: gates passed,
/// deploys finished, rollbacks started, features done.
pub fn observations(before: &Pipeline, after: &Pipeline, now: i64) -> Vec<Observation> {
    let mut out = Vec::new();
    if before.phase != after.phase {
        let rank = |phase: Phase| Phase::ALL.iter().position(|p| *p == phase);
        let forward =
            rank(after.phase) > rank(before.phase) && rank(after.phase) <= rank(Phase::Done);
        if let (true, Some(gate)) = (forward, gate_of(before.phase)) {
            let entered = before
                .timeline
                .iter()
                .rev()
                .find(|(p, _)| *p == before.phase)
                .map_or(before.created_at, |(_, at)| *at);
            out.push(Observation::GatePassed {
                gate,
                waited_ms: now - entered,
            });
        }
        if after.phase == Phase::Done {
            out.push(Observation::Done {
                lead_time_ms: now - after.created_at,
            });
        }
    }
    for (i, d) in after.deploys.iter().enumerate() {
        let was_open = before.deploys.get(i).is_none_or(|b| {
            b.correlation != d.correlation
                || !matches!(b.state, DeployState::Succeeded | DeployState::Failed(_))
        });
        let outcome = match d.state {
            DeployState::Succeeded => "succeeded",
            DeployState::Failed(_) => "failed",
            _ => continue,
        };
        if was_open {
            out.push(Observation::DeployFinished {
                environment: d.environment,
                kind: d.kind(),
                outcome,
            });
        }
    }
    if let Some(r) = &after.rollback {
        let new = before.rollback.as_ref().is_none_or(|b| b.at != r.at);
        if new {
            out.push(Observation::RollbackStarted {
                environment: r.environment,
                trigger: r.trigger.map_or("unrecorded", |t| t.name()),
            });
        }
    }
    out
}
