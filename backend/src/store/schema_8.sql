-- Version 8: runs' specs packed against bases (`packed.rs`). A base is the same part
-- (`content`, `compiled` or `resource`) of an earlier run of the project with the same kind
-- and component, deflated; a run's spec column then holds its own text deflated with the base as the
-- dictionary, as a BLOB naming the base (older rows keep their text). Bases are never changed
-- or removed, not even with their project: a run moved to another project still names its own.
CREATE TABLE spec_bases (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    part       TEXT NOT NULL,
    key        TEXT NOT NULL,
    body       BLOB NOT NULL
);
CREATE INDEX spec_bases_by_key ON spec_bases (project_id, part, key, id);
