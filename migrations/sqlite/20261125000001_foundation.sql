-- Webhook deliveries in arrival order, exactly as GitHub sent them (bodies compressed).
-- Append-only: ingest inserts, nothing updates, and no index but the primary key, so a
-- commit writes little more than the rows themselves.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    action          TEXT,
    installation_id INTEGER,
    repository      TEXT,
    -- delivery headers shipgate keeps (hook id, target, user agent), as JSON
    headers         TEXT    NOT NULL,
    body_codec      TEXT,
    body            BLOB,
    body_len        INTEGER NOT NULL,
    received_at     INTEGER NOT NULL
);
-- The worker's queue: deliveries not yet taken. Filled by a trigger as deliveries are
-- stored (in the same statement), emptied by the worker in the transaction that records
-- the outcome. Rows appear as their transactions commit, in whatever order.
CREATE TABLE delivery_queue (
    id          INTEGER PRIMARY KEY REFERENCES deliveries (id)
);
CREATE TRIGGER deliveries_enqueue AFTER INSERT ON deliveries
BEGIN
    INSERT INTO delivery_queue (id) VALUES (NEW.id);
END;

-- What the worker made of each delivery. While a delivery is still queued this only counts
-- failed attempts (status `retrying`).
CREATE TABLE delivery_outcomes (
    id          INTEGER PRIMARY KEY REFERENCES deliveries (id),
    -- processed, ignored (an event shipgate does not act on), duplicate (a redelivery of a
    -- GUID already taken), failed (could not be decoded), or retrying (still queued)
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  INTEGER NOT NULL
);

-- The first delivery taken for each GUID: a redelivery is stored but never processed twice.
CREATE TABLE delivery_guids (
    delivery_id TEXT    PRIMARY KEY,
    id          INTEGER NOT NULL
) WITHOUT ROWID;

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
