-- Webhook deliveries, exactly as GitHub sent them (bodies compressed), one row per GUID.
CREATE TABLE deliveries (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id     TEXT    NOT NULL UNIQUE,
    event           TEXT    NOT NULL,
    action          TEXT,
    installation_id BIGINT,
    repository      TEXT,
    -- pending: waits for the worker; ignored: headers only; processed; failed (see error)
    status          TEXT    NOT NULL,
    -- delivery headers shipgate keeps (hook id, target, user agent), as JSON
    headers         TEXT    NOT NULL,
    body_codec      TEXT,
    body            BYTEA,
    body_len        BIGINT  NOT NULL,
    received_at     BIGINT  NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    processed_at    BIGINT,
    error           TEXT
);
-- The worker's queue: only rows still to be processed are indexed.
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status = 'pending';
CREATE INDEX deliveries_received_at ON deliveries (received_at);
-- Compressed bodies are not worth TOAST's second compression pass.
ALTER TABLE deliveries ALTER COLUMN body SET STORAGE EXTERNAL;

CREATE TABLE installations (
    installation_id BIGINT  PRIMARY KEY,
    account_login   TEXT    NOT NULL,
    account_type    TEXT,
    repository_selection TEXT,
    suspended       BOOLEAN NOT NULL DEFAULT FALSE,
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE installation_repositories (
    installation_id BIGINT  NOT NULL,
    repository_id   BIGINT  NOT NULL,
    full_name       TEXT    NOT NULL,
    PRIMARY KEY (installation_id, repository_id)
);

-- One-time `state` values of the App-manifest setup flow.
CREATE TABLE setup_states (
    state      TEXT    PRIMARY KEY,
    created_at BIGINT  NOT NULL
);
