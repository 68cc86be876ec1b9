-- Ground truth: what really happened in the simulated world (failures, repairs, degradation onsets, parts made,
-- gate passes, truck incidents, actual departures and arrivals), written by the simulators under
-- `millstream up` with the run's clock. The id is a hash of time + kind + subject + details, so a replayed or
-- restarted simulator inserts nothing twice (ON CONFLICT DO NOTHING). The scorecard compares the pipelines'
-- decisions against it.

CREATE TABLE IF NOT EXISTS ground_truth (
    id         text PRIMARY KEY,
    time       timestamptz NOT NULL,
    kind       text        NOT NULL,
    subject    text        NOT NULL,
    details    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source     text        NOT NULL,                      -- the simulator: plant, fleet, gates
    run        text        NOT NULL DEFAULT '',           -- the run's origin (RFC 3339), '' outside a run
    stored_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ground_truth_kind_time ON ground_truth (kind, time);
CREATE INDEX IF NOT EXISTS ground_truth_subject_time ON ground_truth (subject, time);
