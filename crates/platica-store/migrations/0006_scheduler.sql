-- The scheduler: jobs (cron expression + IANA time zone, a kind from the registry and its JSON
-- arguments), their run history, and the daily stats snapshots one built-in kind writes.
--
-- Exactly once: a scheduled run is claimed by inserting its row; (tenant_id, job_id,
-- scheduled_for) is unique, so among any number of servers on this database one insert wins
-- (INSERT ... ON CONFLICT DO NOTHING) and only its server runs the occurrence. Manual runs have
-- no scheduled_for (NULLs are distinct) and are never deduplicated.

CREATE TABLE jobs (
    tenant_id       bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    job_id          bigint GENERATED ALWAYS AS IDENTITY,
    name            text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    -- Standard 5-field cron expression (minute hour day-of-month month day-of-week).
    schedule        text NOT NULL,
    time_zone       text NOT NULL DEFAULT 'UTC',
    kind            text NOT NULL,
    args            jsonb NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    -- Occurrences before this instant are never run (set on creation and on a schedule change).
    schedule_since  timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, job_id),
    CONSTRAINT jobs_name_unique UNIQUE (tenant_id, name)
);

CREATE TABLE job_runs (
    tenant_id      bigint NOT NULL,
    run_id         bigint GENERATED ALWAYS AS IDENTITY,
    job_id         bigint NOT NULL,
    -- The cron occurrence this run is; NULL for a manual run.
    scheduled_for  timestamptz,
    trigger        text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    message        text,
    -- Which server process ran it.
    instance       text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at       timestamptz,
    PRIMARY KEY (tenant_id, run_id),
    CONSTRAINT job_runs_occurrence_unique UNIQUE (tenant_id, job_id, scheduled_for),
    CONSTRAINT job_runs_ended CHECK ((status = 'running') = (ended_at IS NULL)),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs ON DELETE CASCADE
);
-- History pages of one job, newest first.
CREATE INDEX job_runs_job ON job_runs (tenant_id, job_id, run_id DESC);
-- Retention and "failed lately".
CREATE INDEX job_runs_started ON job_runs (tenant_id, started_at);

-- One row per team and per executive per local day (the job's time zone).
CREATE TABLE stats_snapshots (
    tenant_id               bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    day                     date NOT NULL,
    scope                   text NOT NULL CHECK (scope IN ('team', 'executive')),
    scope_id                bigint NOT NULL,
    conversations_open      integer NOT NULL,
    conversations_unread    integer NOT NULL,
    conversations_assigned  integer NOT NULL,
    messages_in             integer NOT NULL,
    messages_out            integer NOT NULL,
    taken_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, scope, scope_id)
);
