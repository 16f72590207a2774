-- Version 6: runs of a pipeline. A matrix's or DAG's child names its pipeline and its place in
-- it; a place is taken once, so a scheduler that creates a child again after a restart is
-- refused rather than doubling it.
ALTER TABLE runs ADD COLUMN pipeline_uuid TEXT;
ALTER TABLE runs ADD COLUMN pipeline_index INTEGER;
-- When a schedule's tick that made the run was due.
ALTER TABLE runs ADD COLUMN schedule_at INTEGER;
-- What the run computes, when its operation caches (`shared::cache`): a later run with the
-- same key finds the succeeded one here.
ALTER TABLE runs ADD COLUMN cache_key TEXT;
CREATE INDEX runs_by_cache_key ON runs (cache_key, finished_at) WHERE cache_key IS NOT NULL;
CREATE UNIQUE INDEX runs_in_pipeline ON runs (pipeline_uuid, pipeline_index)
    WHERE pipeline_uuid IS NOT NULL;
