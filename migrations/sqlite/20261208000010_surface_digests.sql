-- What shipgate last drew on each of a pipeline's surfaces ("status": the status comment;
-- "check:<sha>": the check run on that SHA): a SHA-256 of the target's id and the request
-- sent, so an edit that would change nothing a reader sees is not sent. A cache: losing a
-- row costs one edit.
CREATE TABLE surface_digests (
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id),
    surface     TEXT   NOT NULL,
    digest      TEXT   NOT NULL,
    PRIMARY KEY (pipeline_id, surface)
);
