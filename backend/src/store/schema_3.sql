-- Version 3: what each metric a run logged comes to (its summary), kept as the run's event
-- files grow, so run tables show and filter on a loss's last and lowest values without
-- reading its series.

-- One row per series of a run: `kind` is `metric` (what its code logged) or `system` (what
-- its machine measured). `last` is NULL when the last value is NaN or infinite; `min` and
-- `max` are of the finite values. Steps as logged; times in microseconds since the epoch.
CREATE TABLE run_metrics (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    count      INTEGER NOT NULL,
    non_finite INTEGER NOT NULL,
    last       REAL,
    min        REAL,
    max        REAL,
    first_step INTEGER,
    last_step  INTEGER,
    first_time INTEGER,
    last_time  INTEGER,
    PRIMARY KEY (run_id, kind, name)
) WITHOUT ROWID;
-- `metrics.loss.min:<0.1` is a range of one of these, whose rows carry the run's id.
CREATE INDEX run_metrics_by_last ON run_metrics (kind, name, last);
CREATE INDEX run_metrics_by_min ON run_metrics (kind, name, min);
CREATE INDEX run_metrics_by_max ON run_metrics (kind, name, max);
CREATE INDEX run_metrics_by_count ON run_metrics (kind, name, count);
