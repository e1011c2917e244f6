-- Sub-issues a pipeline plans as tasks, so an `issues` (closed, reopened) or
-- `issue_dependencies` webhook about a sub-issue finds the pipeline of its parent. A
-- sub-issue has one parent at a time: the newest plan that names it holds the row.
CREATE TABLE pipeline_tasks (
    repo         TEXT    NOT NULL,
    issue_number BIGINT  NOT NULL,
    pipeline_id  BIGINT  NOT NULL REFERENCES pipelines (id),
    PRIMARY KEY (repo, issue_number)
);
