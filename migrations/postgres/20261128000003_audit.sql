-- The audit log: append-only; each entry carries the hash of the one before it (a hash
-- chain), so an edited, removed or inserted row is detectable (`shipgate audit verify`).
-- audit_head holds the newest hash; writers lock it, so the chain never forks.

CREATE TABLE audit_log (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT  NOT NULL,
    repo        TEXT    NOT NULL,
    pipeline_id BIGINT,
    delivery    TEXT,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE INDEX audit_by_pipeline ON audit_log (pipeline_id, id);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, hash) VALUES (1, '0000000000000000000000000000000000000000000000000000000000000000');
