-- Webhook deliveries, exactly as GitHub sent them (bodies compressed), one row per GUID.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT    NOT NULL UNIQUE,
    event           TEXT    NOT NULL,
    action          TEXT,
    installation_id INTEGER,
    repository      TEXT,
    -- pending: waits for the worker; ignored: headers only; processed; failed (see error)
    status          TEXT    NOT NULL,
    -- delivery headers shipgate keeps (hook id, target, user agent), as JSON
    headers         TEXT    NOT NULL,
    body_codec      TEXT,
    body            BLOB,
    body_len        INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    processed_at    INTEGER,
    error           TEXT
);
-- The worker's queue: only rows still to be processed are indexed.
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status = 'pending';
CREATE INDEX deliveries_received_at ON deliveries (received_at);

CREATE TABLE installations (
    installation_id INTEGER PRIMARY KEY,
    account_login   TEXT    NOT NULL,
    account_type    TEXT,
    repository_selection TEXT,
    suspended       INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE installation_repositories (
    installation_id INTEGER NOT NULL,
    repository_id   INTEGER NOT NULL,
    full_name       TEXT    NOT NULL,
    PRIMARY KEY (installation_id, repository_id)
);

-- One-time `state` values of the App-manifest setup flow.
CREATE TABLE setup_states (
    state      TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL
);
