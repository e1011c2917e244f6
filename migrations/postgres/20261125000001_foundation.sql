-- Webhook deliveries in arrival order, exactly as GitHub sent them (bodies compressed).
-- Append-only: ingest inserts, nothing updates, and no index but the primary key, so a
-- commit writes little more than the rows themselves.
CREATE TABLE deliveries (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id     TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    action          TEXT,
    installation_id BIGINT,
    repository      TEXT,
    -- delivery headers shipgate keeps (hook id, target, user agent), as JSON
    headers         TEXT    NOT NULL,
    body_codec      TEXT,
    body            BYTEA,
    body_len        BIGINT  NOT NULL,
    received_at     BIGINT  NOT NULL
);
-- Compressed bodies are not worth TOAST's second compression pass.
ALTER TABLE deliveries ALTER COLUMN body SET STORAGE EXTERNAL;

-- The worker's queue: deliveries not yet taken. Filled by a trigger as deliveries are
-- stored (in the same statement), emptied by the worker in the transaction that records
-- the outcome. Rows appear as their transactions commit, in whatever order.
CREATE TABLE delivery_queue (
    id          BIGINT  PRIMARY KEY REFERENCES deliveries (id)
);
CREATE FUNCTION deliveries_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_queue (id) SELECT id FROM new_deliveries;
    RETURN NULL;
END
$$;
CREATE TRIGGER deliveries_enqueue AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_enqueue();

-- What the worker made of each delivery. While a delivery is still queued this only counts
-- failed attempts (status `retrying`).
CREATE TABLE delivery_outcomes (
    id          BIGINT  PRIMARY KEY REFERENCES deliveries (id),
    -- processed, ignored (an event shipgate does not act on), duplicate (a redelivery of a
    -- GUID already taken), failed (could not be decoded), or retrying (still queued)
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  BIGINT  NOT NULL
);

-- The first delivery taken for each GUID: a redelivery is stored but never processed twice.
CREATE TABLE delivery_guids (
    delivery_id TEXT    PRIMARY KEY,
    id          BIGINT  NOT NULL
);

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
