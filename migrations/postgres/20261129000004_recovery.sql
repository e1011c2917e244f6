-- Recovery: who holds an effect's claim, so a claim is renewed while its work runs and
-- released when its holder restarts; when a quiet pipeline was last read again from GitHub;
-- the reconciler's record of the App's failed webhook deliveries it asked GitHub to send
-- again; and which replica runs a periodic job.

-- The executor that claimed a pending effect (`<host>:<address>` of a running shipgate).
ALTER TABLE effects ADD COLUMN claimed_by TEXT;

-- When the resync watchdog last read a quiet pipeline's pull request and reviews from GitHub
-- (ms since the epoch; 0: never).
ALTER TABLE pipelines ADD COLUMN resynced_at BIGINT NOT NULL DEFAULT 0;

-- One row per failed delivery (GUID) the reconciler asked GitHub to redeliver: asked once,
-- or again (up to 3 times, 5 minutes apart) while GitHub has not accepted the request.
CREATE TABLE redeliveries (
    guid         TEXT    PRIMARY KEY,
    -- the id of the failed attempt in GET /app/hook/deliveries
    hook_delivery_id BIGINT NOT NULL,
    event        TEXT    NOT NULL,
    delivered_at BIGINT  NOT NULL,
    asked_at     BIGINT  NOT NULL,
    -- asking, requested, or the error GitHub answered with
    outcome      TEXT    NOT NULL,
    tries        INTEGER NOT NULL DEFAULT 1
);

-- Singleton rows naming which replica runs a periodic job, and until when (a lease).
CREATE TABLE job_leases (
    job          TEXT    PRIMARY KEY,
    holder       TEXT    NOT NULL,
    lease_until  BIGINT  NOT NULL,
    -- the job's own progress (the reconciler: the time, ms since the epoch, from which the
    -- next scan looks at deliveries)
    progress     BIGINT  NOT NULL DEFAULT 0
);
