-- The pipeline engine: one row per feature pipeline (its state as JSON, with the columns the
-- worker looks pipelines up by), the effect outbox, durable timers, the run → pipeline index,
-- and short-lived caches of repository configuration and collaborator access.

CREATE TABLE pipelines (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    installation_id BIGINT  NOT NULL,
    repo            TEXT    NOT NULL,
    issue_number    BIGINT  NOT NULL,
    pr_number       BIGINT,
    phase           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (repo, issue_number)
);
CREATE INDEX pipelines_by_pr ON pipelines (repo, pr_number);

-- Workflow runs a pipeline dispatched, so a workflow_run webhook finds its pipeline.
CREATE TABLE pipeline_runs (
    run_id      BIGINT  PRIMARY KEY,
    pipeline_id BIGINT  NOT NULL REFERENCES pipelines (id)
);

-- The outbox. pipeline_id is NULL for repository-level work (configuration checks).
-- status: pending, done, failed. lease_until: a claimed effect is not claimed again before.
CREATE TABLE effects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id     BIGINT  REFERENCES pipelines (id),
    effect_key      TEXT    NOT NULL UNIQUE,
    action          TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    cause           TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX effects_pending ON effects (status, next_attempt_at, id);
CREATE INDEX effects_by_pipeline ON effects (pipeline_id, status, id);

CREATE TABLE timers (
    pipeline_id BIGINT  NOT NULL REFERENCES pipelines (id),
    timer_key   TEXT    NOT NULL,
    due_at      BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    PRIMARY KEY (pipeline_id, timer_key)
);
CREATE INDEX timers_due ON timers (due_at);

-- `.github/shipgate.yml` as last read from the default branch (merged with the
-- organisation's), with its problems.
CREATE TABLE repo_configs (
    repo        TEXT    PRIMARY KEY,
    loaded      TEXT    NOT NULL,
    fetched_at  BIGINT  NOT NULL
);

CREATE TABLE access_cache (
    repo        TEXT    NOT NULL,
    login       TEXT    NOT NULL,
    access      TEXT    NOT NULL,
    fetched_at  BIGINT  NOT NULL,
    PRIMARY KEY (repo, login)
);
