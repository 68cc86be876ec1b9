-- The ERP outbox and webhook delivery: pipelines append records (one row per event id); the dispatcher
-- fans each record out to the matching endpoints (one delivery per endpoint and record), sends it, logs
-- every attempt, retries on the Standard Webhooks schedule and dead-letters what it could not deliver.

CREATE TABLE IF NOT EXISTS erp_outbox (
    seq           bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    record_type   text NOT NULL,
    record_key    text NOT NULL,
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    erp_keys      jsonb NOT NULL,
    record        jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    fanned_out_at timestamptz
);
CREATE INDEX IF NOT EXISTS erp_outbox_pending_fan_out ON erp_outbox (seq) WHERE fanned_out_at IS NULL;
CREATE INDEX IF NOT EXISTS erp_outbox_occurred ON erp_outbox (occurred_at);

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    event_types     text[] NOT NULL DEFAULT '{}',
    secrets         text[] NOT NULL CHECK (cardinality(secrets) >= 1),
    enabled         boolean NOT NULL DEFAULT true,
    content_mode    text NOT NULL DEFAULT 'structured' CHECK (content_mode IN ('structured', 'binary')),
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id               bigserial PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text NOT NULL REFERENCES erp_outbox (event_id),
    outbox_seq       bigint NOT NULL,
    record_key       text NOT NULL,
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    dead_at          timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (outbox_seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_key_order
    ON webhook_deliveries (endpoint_id, record_key, outbox_seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_status ON webhook_deliveries (status, created_at DESC);
CREATE INDEX IF NOT EXISTS webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id               bigserial PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    attempted_at     timestamptz NOT NULL,
    status_code      integer,
    latency_ms       double precision NOT NULL,
    error            text,
    response_excerpt text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
