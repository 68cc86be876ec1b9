-- ERP master data: what the pipelines look up (loaded by `millstream masterdata load`, later by the API).
-- Geometry is GeoJSON in jsonb (lon, lat); PostGIS is not required.

CREATE TABLE IF NOT EXISTS sites (
    id        text PRIMARY KEY,
    name      text NOT NULL,
    kind      text NOT NULL,
    lat       double precision NOT NULL,
    lon       double precision NOT NULL,
    geofence  jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS locations (
    id        text PRIMARY KEY,
    site_id   text NOT NULL REFERENCES sites (id),
    name      text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('warehouse', 'line_side', 'dock_door')),
    direction text CHECK (direction IN ('inbound', 'outbound', 'both'))
);

CREATE TABLE IF NOT EXISTS materials (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL,
    uom           text NOT NULL,
    gtin          text UNIQUE,
    reorder_point double precision NOT NULL DEFAULT 0,
    reorder_qty   double precision NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS bom_lines (
    product_id  text NOT NULL REFERENCES materials (id),
    material_id text NOT NULL REFERENCES materials (id),
    quantity    double precision NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (product_id, material_id)
);

CREATE TABLE IF NOT EXISTS machines (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    site_id         text NOT NULL REFERENCES sites (id),
    location_id     text NOT NULL REFERENCES locations (id),
    kind            text NOT NULL,
    cycle_time_s    double precision NOT NULL,
    opcua_endpoint  text NOT NULL,
    opcua_nodes     jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS production_orders (
    id          text PRIMARY KEY,
    machine_id  text NOT NULL REFERENCES machines (id),
    product_id  text NOT NULL REFERENCES materials (id),
    planned_qty integer NOT NULL CHECK (planned_qty > 0),
    status      text NOT NULL,
    sequence    integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS production_orders_machine ON production_orders (machine_id, sequence);

CREATE TABLE IF NOT EXISTS trucks (
    id               text PRIMARY KEY,
    plate            text NOT NULL,
    capacity_pallets integer NOT NULL
);

CREATE TABLE IF NOT EXISTS shipments (
    id                  text PRIMARY KEY,
    truck_id            text NOT NULL REFERENCES trucks (id),
    origin_site_id      text NOT NULL REFERENCES sites (id),
    destination_site_id text NOT NULL REFERENCES sites (id),
    promised_from       timestamptz NOT NULL,
    promised_to         timestamptz NOT NULL,
    status              text NOT NULL,
    route               jsonb NOT NULL,
    CHECK (promised_to > promised_from)
);

CREATE TABLE IF NOT EXISTS shipment_items (
    shipment_id text NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    material_id text NOT NULL REFERENCES materials (id),
    quantity    double precision NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, material_id)
);

CREATE TABLE IF NOT EXISTS epc_mappings (
    scheme      text NOT NULL CHECK (scheme IN ('sgtin', 'sscc')),
    code        text NOT NULL,
    material_id text NOT NULL REFERENCES materials (id),
    quantity    double precision NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (scheme, code)
);

CREATE TABLE IF NOT EXISTS receipts (
    id          text PRIMARY KEY,
    location_id text NOT NULL REFERENCES locations (id),
    sscc        text NOT NULL,
    material_id text NOT NULL REFERENCES materials (id),
    quantity    double precision NOT NULL CHECK (quantity > 0),
    expected_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS opening_stock (
    material_id text NOT NULL REFERENCES materials (id),
    location_id text NOT NULL REFERENCES locations (id),
    quantity    double precision NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (material_id, location_id)
);

CREATE TABLE IF NOT EXISTS masterdata_loads (
    id        bigserial PRIMARY KEY,
    scenario  text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    counts    jsonb NOT NULL
);
