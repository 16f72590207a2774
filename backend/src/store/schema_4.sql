-- Version 4: indexes that let run lists filtered or sorted on a metric's summary read ranges
-- of indexes instead of every run.

-- `metrics.loss:<0.5` falls back on the output `loss` of runs that logged no series of it:
-- a range of outputs of one name across projects, whose rows carry the run's id.
CREATE INDEX run_values_by_key ON run_values (section, key, number);
-- The live (not archived) runs of a project, newest last: counting a project's or an owner's
-- runs reads this index alone rather than every run's row.
CREATE INDEX runs_live ON runs (project_id, created_at) WHERE archived_at IS NULL;
