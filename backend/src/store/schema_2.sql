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
