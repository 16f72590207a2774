-- Version 5: a metric's summary carries its run's project, as `run_values` rows do, so that a
-- list filtered on a summary (`metrics.loss.min:<0.1`) counts its runs from a range of the
-- summaries' index alone, rather than by looking up each matching run. The indexes end with it.
ALTER TABLE run_metrics ADD COLUMN project_id INTEGER NOT NULL DEFAULT 0;
UPDATE run_metrics SET project_id = (SELECT project_id FROM runs WHERE runs.id = run_metrics.run_id);
DROP INDEX run_metrics_by_last;
DROP INDEX run_metrics_by_min;
DROP INDEX run_metrics_by_max;
DROP INDEX run_metrics_by_count;
CREATE INDEX run_metrics_by_last ON run_metrics (kind, name, last, project_id);
CREATE INDEX run_metrics_by_min ON run_metrics (kind, name, min, project_id);
CREATE INDEX run_metrics_by_max ON run_metrics (kind, name, max, project_id);
CREATE INDEX run_metrics_by_count ON run_metrics (kind, name, count, project_id);
