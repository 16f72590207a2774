-- Myelin's SQLite schema, version 1. Times are microseconds since the Unix epoch (UTC); JSON
-- columns hold JSON text. A later version is a new file applied after this one, never an edit.

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',
    is_public   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    project_id    INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name          TEXT,
    description   TEXT,
    user          TEXT,
    -- Polyaxon's run kind (`job`, `service`, `dag`, `matrix`, …) and runtime (the kind that
    -- actually runs: `job` for a matrix of jobs).
    kind          TEXT NOT NULL,
    runtime       TEXT NOT NULL,
    -- Which of Myelin's runtimes executes it: `process` or `kubernetes`.
    executor      TEXT NOT NULL,
    status        TEXT NOT NULL,
    conditions    TEXT NOT NULL DEFAULT '[]',
    inputs        TEXT,
    outputs       TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    meta_info     TEXT NOT NULL DEFAULT '{}',
    managed_by    TEXT NOT NULL,
    is_managed    INTEGER NOT NULL,
    pending       TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    duration      REAL,
    wait_time     REAL,
    original_uuid TEXT,
    cloning_kind  TEXT
);
CREATE INDEX runs_by_created ON runs (project_id, created_at);
CREATE INDEX runs_by_updated ON runs (project_id, updated_at);
CREATE INDEX runs_by_status ON runs (project_id, status, created_at);
CREATE INDEX runs_by_name ON runs (project_id, name);
CREATE INDEX runs_active ON runs (status) WHERE finished_at IS NULL;

-- What a run executes: the Polyaxonfile as sent, the compiled operation and the resource,
-- kilobytes each, kept apart so that listing and filtering runs never reads them.
CREATE TABLE run_specs (
    run_id   INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    content  TEXT,
    compiled TEXT,
    resource TEXT
);

-- One row per tag of a run, so `tags:a|b` is an index lookup.
CREATE TABLE run_tags (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_by_tag ON run_tags (project_id, tag);

-- One row per scalar input and output of a run (`section` is `inputs` or `outputs`): numbers
-- (and booleans as 0/1) in `number`, everything else as JSON text in `text`, so that
-- `inputs.lr:>0.01` is a range scan instead of parsing every run's JSON.
CREATE TABLE run_values (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    section    TEXT NOT NULL,
    key        TEXT NOT NULL,
    number     REAL,
    text       TEXT,
    PRIMARY KEY (run_id, section, key)
) WITHOUT ROWID;
CREATE INDEX run_values_by_number ON run_values (project_id, section, key, number);
CREATE INDEX run_values_by_text ON run_values (project_id, section, key, text);

-- What runs read and wrote (Polyaxon's lineage): metrics with their summaries, the environment,
-- models, datasets…, one row per name and direction.
CREATE TABLE run_lineage (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    is_input   INTEGER NOT NULL,
    kind       TEXT,
    path       TEXT,
    summary    TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, name, is_input)
) WITHOUT ROWID;
