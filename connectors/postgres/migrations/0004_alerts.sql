-- Alerts: one row per alert episode (id = stable id of subject + type + episode), upserted by the alert
-- sink and changed by people (acknowledge, clear) through the API.

CREATE TABLE IF NOT EXISTS alerts (
    id              text PRIMARY KEY,
    subject_kind    text NOT NULL,
    subject_id      text NOT NULL,
    alert_type      text NOT NULL,
    domain          text NOT NULL CHECK (domain IN ('maintenance', 'inventory', 'logistics')),
    severity        text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    state           text NOT NULL CHECK (state IN ('open', 'acknowledged', 'cleared')),
    title           text NOT NULL DEFAULT '',
    opened_at       timestamptz NOT NULL,
    occurred_at     timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    cleared_at      timestamptz,
    cleared_by      text,
    trigger_count   integer NOT NULL DEFAULT 1 CHECK (trigger_count >= 1),
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    evidence_ids    text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS alerts_domain_state ON alerts (domain, state, opened_at DESC);
CREATE INDEX IF NOT EXISTS alerts_subject ON alerts (subject_kind, subject_id, alert_type);
CREATE INDEX IF NOT EXISTS alerts_opened ON alerts (opened_at DESC);
