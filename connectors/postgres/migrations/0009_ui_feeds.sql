-- What the web UI reads live: the alert change log and delivery attempts over time (OPC-UA endpoint status is
-- the table of 0007, kept by ingest).

-- The alert change log behind GET /api/v1/alerts/stream: one row per committed change of an alert (insert or
-- update that changed anything but updated_at), holding the alert as it was after that change.
--
-- `seq` is given at COMMIT, by a deferred trigger, under a transaction-level advisory lock that is held until
-- the commit is visible: so `seq` order is commit order, and every reader sees a gap-free prefix of the log
-- (a change with a smaller seq can never appear after one with a larger seq was seen). A stream that resumes
-- after `seq` N (Last-Event-ID) therefore misses nothing. The lock is taken only at commit, after every row
-- lock of the transaction is held, and its holder waits for nothing else: no deadlock.
-- NOTIFY alert_changes tells listening API processes that there is something new (the payload is the seq).
CREATE SEQUENCE IF NOT EXISTS alert_change_seq;

CREATE TABLE IF NOT EXISTS alert_changes (
    seq        bigint PRIMARY KEY,
    alert_id   text NOT NULL,
    domain     text NOT NULL,
    severity   text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    alert      jsonb NOT NULL
);

-- Keep the last 100000 changes (pruned every 1000th change); a stream resuming from before them gets a fresh
-- snapshot instead.
CREATE OR REPLACE FUNCTION record_alert_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'updated_at') = (to_jsonb(NEW) - 'updated_at') THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7020097461417109607);  -- "alertchg" as a bigint
    next_seq := nextval('alert_change_seq');
    INSERT INTO alert_changes (seq, alert_id, domain, severity, alert)
    VALUES (next_seq, NEW.id, NEW.domain, NEW.severity, to_jsonb(NEW));
    IF next_seq % 1000 = 0 THEN
        DELETE FROM alert_changes WHERE seq <= next_seq - 100000;
    END IF;
    PERFORM pg_notify('alert_changes', next_seq::text);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS alerts_record_change ON alerts;
CREATE CONSTRAINT TRIGGER alerts_record_change
    AFTER INSERT OR UPDATE ON alerts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION record_alert_change();

CREATE INDEX IF NOT EXISTS alert_changes_domain ON alert_changes (domain, seq);

CREATE INDEX IF NOT EXISTS webhook_attempts_attempted ON webhook_attempts (attempted_at);
