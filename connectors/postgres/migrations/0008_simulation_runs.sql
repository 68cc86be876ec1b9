-- The timeline of the simulated world that `millstream up` runs on this database (one row per scenario):
-- where the scenario's simulation.start lies (origin), the speed, and how far the simulated clock got.
-- A new run of `up` resumes the clock at sim_time, so no event of the new run repeats an earlier instant.
CREATE TABLE IF NOT EXISTS simulation_runs (
    scenario    text PRIMARY KEY,
    origin      timestamptz NOT NULL,
    sim_time    timestamptz NOT NULL,
    speed       double precision NOT NULL CHECK (speed > 0),
    seed        integer NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
