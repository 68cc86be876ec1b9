-- Machine health scores of the maintenance flow (one row per machine and scored window; id = stable id of
-- machine + event time, so a replay after a crash adds nothing).

CREATE TABLE IF NOT EXISTS maintenance_scores (
    id              text PRIMARY KEY,
    machine_id      text NOT NULL,
    at              timestamptz NOT NULL,
    model_id        text NOT NULL,
    health          double precision NOT NULL CHECK (health BETWEEN 0 AND 100),
    rul             double precision NOT NULL,
    rul_low         double precision NOT NULL,
    rul_high        double precision NOT NULL,
    rul_unit        text NOT NULL,
    horizon         double precision NOT NULL,
    p_fail          double precision NOT NULL CHECK (p_fail BETWEEN 0 AND 1),
    anomaly         double precision NOT NULL,
    confidence      text NOT NULL CHECK (confidence IN ('high', 'low')),
    valid_share     double precision NOT NULL,
    missing_signals text[] NOT NULL DEFAULT '{}',
    top_features    jsonb NOT NULL DEFAULT '[]'::jsonb,
    running_hours   double precision,
    samples         integer NOT NULL DEFAULT 0,
    stored_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS maintenance_scores_machine_at ON maintenance_scores (machine_id, at DESC);
