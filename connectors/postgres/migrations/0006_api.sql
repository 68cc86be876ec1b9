-- API core: API keys (only a hash of the secret is stored) and the audit log of every change.

CREATE TABLE IF NOT EXISTS api_keys (
    key_id       text PRIMARY KEY,                -- the public part of the token (mst_<key_id>_<secret>)
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('engineer', 'dispatcher', 'erp', 'admin')),
    secret_hash  bytea NOT NULL,                  -- SHA-256 of the secret part; the secret itself is never stored
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE IF NOT EXISTS audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,                    -- "apikey:<key_id>" or "cli:<user>"
    role        text,
    action      text NOT NULL,                    -- create, replace, acknowledge, clear, delete, replay, revoke ...
    resource    text NOT NULL,                    -- materials, sites, alerts, webhook_endpoints, api_keys ...
    resource_id text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_resource ON audit_log (resource, resource_id, at);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
