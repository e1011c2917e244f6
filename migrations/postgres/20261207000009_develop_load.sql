-- Each pipeline's share of its repository's development load, as its last step left it,
-- for `develop.max_parallel_scope: repository`: its task runs in flight, its tasks ready to
-- be dispatched, and its place in line by /priority (0 critical … 3 low).
CREATE TABLE develop_load (
    pipeline_id BIGINT  PRIMARY KEY REFERENCES pipelines (id),
    repo        TEXT    NOT NULL,
    in_flight   INTEGER NOT NULL,
    ready       INTEGER NOT NULL,
    priority_rank INTEGER NOT NULL
);
CREATE INDEX develop_load_by_repo ON develop_load (repo);
