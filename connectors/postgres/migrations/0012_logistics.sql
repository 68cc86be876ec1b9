-- Logistics: truck tracks as the logistics flow saw them, geofence events, shipment state with its milestones
-- and published ETAs, and the device keys OsmAnd trackers authenticate with. Every writer upserts on a
-- stable id (a replay adds nothing); shipment_state only moves forward in event time.

CREATE TABLE IF NOT EXISTS truck_positions (
    time             timestamptz      NOT NULL,
    event_id         text             NOT NULL,          -- the GPS ping's id
    truck_id         text             NOT NULL,
    shipment_id      text,
    lat              double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon              double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    speed_kmh        double precision,
    heading_deg      double precision,
    quality          text             NOT NULL CHECK (quality IN ('ok', 'outlier', 'late')),
    note             text             NOT NULL DEFAULT '',
    PRIMARY KEY (event_id, time)
);
CREATE INDEX IF NOT EXISTS truck_positions_truck_time ON truck_positions (truck_id, time DESC);

CREATE TABLE IF NOT EXISTS geofence_events (
    event_id    text PRIMARY KEY,
    truck_id    text             NOT NULL,
    fence_id    text             NOT NULL,
    event       text             NOT NULL CHECK (event IN ('enter', 'exit', 'dwell')),
    at          timestamptz      NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS geofence_events_truck_at ON geofence_events (truck_id, at);

CREATE TABLE IF NOT EXISTS shipment_state (
    shipment_id     text PRIMARY KEY,
    truck_id        text             NOT NULL,
    status          text             NOT NULL CHECK (status IN ('planned', 'at_origin', 'departed', 'in_transit',
                                                                'arrived', 'delivered')),
    as_of           timestamptz      NOT NULL,           -- event time of the last change
    promised_from   timestamptz      NOT NULL,
    promised_to     timestamptz      NOT NULL,
    eta             timestamptz,
    eta_low         timestamptz,
    eta_high        timestamptz,
    remaining_m     double precision,
    lateness_s      double precision                     -- ETA (or arrival) minus promised_to; > 0 is late
);

CREATE TABLE IF NOT EXISTS shipment_milestones (
    shipment_id text             NOT NULL,
    milestone   text             NOT NULL CHECK (milestone IN ('at_origin', 'departed', 'in_transit', 'arrived',
                                                               'delivered')),
    at          timestamptz      NOT NULL,
    truck_id    text             NOT NULL,
    lat         double precision,
    lon         double precision,
    PRIMARY KEY (shipment_id, milestone)
);

CREATE TABLE IF NOT EXISTS shipment_etas (
    event_id     text PRIMARY KEY,
    shipment_id  text             NOT NULL,
    computed_at  timestamptz      NOT NULL,              -- event time of the ping it was computed from
    eta          timestamptz      NOT NULL,
    eta_low      timestamptz      NOT NULL,
    eta_high     timestamptz      NOT NULL,
    naive_eta    timestamptz,
    remaining_m  double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS shipment_etas_shipment ON shipment_etas (shipment_id, computed_at);

CREATE TABLE IF NOT EXISTS device_keys (
    device_id    text PRIMARY KEY,                        -- the OsmAnd `id` the tracker sends
    truck_id     text             NOT NULL,
    secret_hash  bytea            NOT NULL,               -- SHA-256 of the device key; the key itself is never stored
    created_at   timestamptz      NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
