-- Time-series tables: raw inputs as validated at the edge, keyed by their stable event id.
-- The primary key includes the time column so that TimescaleDB can make them hypertables; on plain
-- PostgreSQL the (entity, time) indexes serve the same queries. Writers upsert on the key (idempotent).

CREATE TABLE IF NOT EXISTS sensor_readings (
    time             timestamptz      NOT NULL,
    event_id         text             NOT NULL,
    machine_id       text             NOT NULL,
    tag              text             NOT NULL,
    value_num        double precision,
    value_text       text,
    unit             text,
    status_code      bigint           NOT NULL DEFAULT 0,
    quality          text             NOT NULL CHECK (quality IN ('good', 'uncertain', 'bad')),
    server_time      timestamptz,
    node_id          text,
    PRIMARY KEY (event_id, time)
);
CREATE INDEX IF NOT EXISTS sensor_readings_machine_tag_time ON sensor_readings (machine_id, tag, time DESC);

CREATE TABLE IF NOT EXISTS gps_pings (
    time             timestamptz      NOT NULL,
    event_id         text             NOT NULL,
    truck_id         text             NOT NULL,
    lat              double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon              double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    speed_kmh        double precision NOT NULL DEFAULT 0,
    heading_deg      double precision,
    accuracy_m       double precision,
    PRIMARY KEY (event_id, time)
);
CREATE INDEX IF NOT EXISTS gps_pings_truck_time ON gps_pings (truck_id, time DESC);

CREATE TABLE IF NOT EXISTS rfid_reads (
    time             timestamptz      NOT NULL,
    event_id         text             NOT NULL,
    reader_id        text             NOT NULL,
    antenna          integer          NOT NULL,
    epc              text             NOT NULL,
    rssi_dbm         double precision,
    PRIMARY KEY (event_id, time)
);
CREATE INDEX IF NOT EXISTS rfid_reads_reader_time ON rfid_reads (reader_id, time DESC);
CREATE INDEX IF NOT EXISTS rfid_reads_epc_time ON rfid_reads (epc, time DESC);

-- Inputs rejected at any stage (also published to the `dlq` topic). Id from source position.
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id         text PRIMARY KEY,
    failed_at        timestamptz      NOT NULL,
    stage            text             NOT NULL,
    reason           text             NOT NULL,
    error_type       text             NOT NULL,
    payload          text             NOT NULL,
    payload_encoding text             NOT NULL CHECK (payload_encoding IN ('utf-8', 'base64')),
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    source_key       text
);
CREATE INDEX IF NOT EXISTS dead_letters_failed_at ON dead_letters (failed_at DESC);
