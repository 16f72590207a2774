-- Version 2: archived and bookmarked runs and projects (Polyaxon's archive/restore and
-- bookmarks), their readmes, and the edges people draw between runs (`lineage/edges`).

ALTER TABLE projects ADD COLUMN readme TEXT;
ALTER TABLE runs ADD COLUMN readme TEXT;

-- Archived runs and projects keep their rows: lists leave them out, the archives list shows
-- them, and restoring clears the time.
ALTER TABLE projects ADD COLUMN archived_at INTEGER;
ALTER TABLE projects ADD COLUMN bookmarked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN archived_at INTEGER;
ALTER TABLE runs ADD COLUMN bookmarked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_archived ON runs (project_id, created_at) WHERE archived_at IS NOT NULL;
CREATE INDEX runs_bookmarked ON runs (project_id, created_at) WHERE bookmarked = 1;
CREATE INDEX runs_by_original ON runs (original_uuid) WHERE original_uuid IS NOT NULL;

-- One row per edge: `kind` is Polyaxon's V1RunEdgeKind (`manual` for edges a client sets),
-- `edge_values` what flowed along it, `statuses` the upstream statuses it waited for.
CREATE TABLE run_edges (
    upstream_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    downstream_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    edge_values   TEXT,
    statuses      TEXT,
    PRIMARY KEY (upstream_id, downstream_id)
) WITHOUT ROWID;
CREATE INDEX run_edges_by_downstream ON run_edges (downstream_id);

-- Project versions (Polyaxon's registry): a component's Polyaxonfiles, a model's or artifact's
-- pointers to a run and its artifacts, each with its stage. `state` is a component version's
-- content hash, so a run can say exactly what it ran.
CREATE TABLE project_versions (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT NOT NULL UNIQUE,
    project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT,
    tags             TEXT NOT NULL DEFAULT '[]',
    content          TEXT,
    readme           TEXT,
    run_uuid         TEXT,
    artifacts        TEXT NOT NULL DEFAULT '[]',
    meta_info        TEXT NOT NULL DEFAULT '{}',
    stage            TEXT,
    stage_conditions TEXT NOT NULL DEFAULT '[]',
    state            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (project_id, kind, name)
);
CREATE INDEX project_versions_by_kind ON project_versions (kind, project_id, updated_at);
