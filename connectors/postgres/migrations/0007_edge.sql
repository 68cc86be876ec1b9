-- Dead letters describe the whole input even when only an excerpt of it is kept (oversized messages):
-- its size in bytes, its SHA-256 and whether `payload` holds only its first bytes. The payload is kept
-- as UTF-8 text or base64 (`payload_encoding`), so any bytes fit.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_size      integer;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_sha256    text;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_truncated boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS dead_letters_source ON dead_letters (source_topic, source_partition, source_offset);

-- The latest connection status of each OPC-UA endpoint (from the `telemetry.status` topic), for the UI.
-- Upserted by ingest; a status older than the stored one never overwrites it.
CREATE TABLE IF NOT EXISTS opcua_endpoint_status (
    endpoint       text PRIMARY KEY,
    url            text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('online', 'offline')),
    since          timestamptz NOT NULL,
    offline_since  timestamptz,
    attempts       int         NOT NULL DEFAULT 0,
    reason         text,
    event_id       uuid        NOT NULL
);
