-- Inventory: the stock ledger (movements applied idempotently, stock per material x location x lot, FIFO
-- allocations), stock exceptions, RFID gate events (EPCIS export, EPCs per shipment), and the master data
-- the inventory pipeline adds (stock policies, put-away kinds, BOM scrap factor).

ALTER TABLE locations ADD COLUMN IF NOT EXISTS stores text[] NOT NULL DEFAULT '{}';
ALTER TABLE bom_lines ADD COLUMN IF NOT EXISTS scrap_factor double precision NOT NULL DEFAULT 0
    CHECK (scrap_factor >= 0 AND scrap_factor < 1);

CREATE TABLE IF NOT EXISTS stock_policies (
    material_id    text NOT NULL REFERENCES materials (id),
    location_id    text NOT NULL REFERENCES locations (id),
    reorder_point  double precision NOT NULL CHECK (reorder_point >= 0),
    safety_stock   double precision NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    max_stock      double precision NOT NULL CHECK (max_stock > 0),
    order_multiple double precision NOT NULL DEFAULT 1 CHECK (order_multiple > 0),
    lead_time_h    double precision NOT NULL DEFAULT 24 CHECK (lead_time_h > 0),
    service_z      double precision NOT NULL DEFAULT 1.65,
    PRIMARY KEY (material_id, location_id)
);

-- One row per applied movement; the movement id is the stable event id (a replay inserts nothing).
CREATE TABLE IF NOT EXISTS stock_movements (
    movement_id      text PRIMARY KEY,
    movement_type    text NOT NULL CHECK (movement_type IN ('opening', 'goods_receipt', 'production_receipt',
                                                             'transfer', 'backflush', 'goods_issue')),
    material_id      text NOT NULL,
    quantity         numeric(18, 3) NOT NULL CHECK (quantity > 0),
    from_location_id text,
    to_location_id   text,
    lot              text,
    occurred_at      timestamptz NOT NULL,
    reference        text,
    machine_id       text,
    epc              text,
    evidence_ids     text[] NOT NULL DEFAULT '{}',
    applied_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (from_location_id IS NOT NULL OR to_location_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS stock_movements_time ON stock_movements (occurred_at DESC);
CREATE INDEX IF NOT EXISTS stock_movements_material ON stock_movements (material_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS stock_movements_reference ON stock_movements (reference);

-- Stock per material x location x lot; a quantity may be negative (never silently clamped).
CREATE TABLE IF NOT EXISTS stock_lots (
    material_id  text NOT NULL,
    location_id  text NOT NULL,
    lot          text NOT NULL,
    quantity     numeric(18, 3) NOT NULL,
    received_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (material_id, location_id, lot)
);

-- Which lots each movement took from or put into a location (FIFO allocation): traceability.
CREATE TABLE IF NOT EXISTS movement_lots (
    movement_id text NOT NULL REFERENCES stock_movements (movement_id),
    location_id text NOT NULL,
    lot         text NOT NULL,
    quantity    numeric(18, 3) NOT NULL,
    PRIMARY KEY (movement_id, location_id, lot)
);
CREATE INDEX IF NOT EXISTS movement_lots_lot ON movement_lots (lot);

-- A movement that took a location's stock below zero: applied anyway, flagged here.
CREATE TABLE IF NOT EXISTS stock_exceptions (
    movement_id  text PRIMARY KEY REFERENCES stock_movements (movement_id),
    kind         text NOT NULL,
    material_id  text NOT NULL,
    location_id  text NOT NULL,
    quantity     numeric(18, 3) NOT NULL,
    on_hand      numeric(18, 3) NOT NULL,
    reason       text NOT NULL,
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_exceptions_time ON stock_exceptions (occurred_at DESC);

-- One row per RFID gate pass (deduplicated, strays removed): the EPCIS ObjectEvents and EPCs per shipment.
CREATE TABLE IF NOT EXISTS gate_events (
    event_id      text PRIMARY KEY,
    movement_id   text NOT NULL,
    epc           text NOT NULL,
    epc_uri       text NOT NULL,
    reader_id     text NOT NULL,
    location_id   text NOT NULL,
    site_id       text NOT NULL,
    biz_step      text NOT NULL,
    disposition   text NOT NULL,
    action        text NOT NULL,
    shipment_id   text,
    material_id   text NOT NULL,
    quantity      numeric(18, 3) NOT NULL,
    first_seen_at timestamptz NOT NULL,
    reads         integer NOT NULL,
    peak_rssi_dbm double precision
);
CREATE INDEX IF NOT EXISTS gate_events_time ON gate_events (first_seen_at, event_id);
CREATE INDEX IF NOT EXISTS gate_events_epc ON gate_events (epc_uri);
CREATE INDEX IF NOT EXISTS gate_events_shipment ON gate_events (shipment_id);

-- Reorder proposals raised by the ledger: at most one open per material x location; closed by the movement
-- that brought the stock back above the reorder point (plus hysteresis).
CREATE TABLE IF NOT EXISTS reorder_proposals (
    proposal_id   text PRIMARY KEY,
    material_id   text NOT NULL,
    location_id   text NOT NULL,
    quantity      numeric(18, 3) NOT NULL,
    on_hand       numeric(18, 3) NOT NULL,
    reorder_point double precision NOT NULL,
    opened_by     text NOT NULL,
    opened_at     timestamptz NOT NULL,
    closed_by     text,
    closed_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS reorder_proposals_one_open ON reorder_proposals (material_id, location_id)
    WHERE closed_at IS NULL;
