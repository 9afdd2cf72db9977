-- Calls and scheduled calls.
--
-- A call is made by a voice agent or an executive for a prospect; the call provider reports it
-- through a signed webhook, idempotent by its own call id. Its status only moves forward
-- (queued < ringing < in_progress < one of the terminal completed / no_answer / failed), so a
-- late 'ringing' never overwrites 'completed'. A call and a scheduled call are visible exactly
-- when their prospect is.

-- The call provider's webhook secret of a tenant, sealed like channel secrets.
CREATE TABLE call_provider_settings (
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    secret_ciphertext  bytea NOT NULL,
    secret_nonce       bytea NOT NULL CHECK (length(secret_nonce) = 24),
    updated_by         bigint,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

-- The order of call statuses; the three terminal ones share the last rank.
CREATE FUNCTION call_status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT
    RETURN CASE status WHEN 'queued' THEN 0 WHEN 'ringing' THEN 1 WHEN 'in_progress' THEN 2 ELSE 3 END;

CREATE TABLE calls (
    tenant_id         bigint NOT NULL,
    call_id           bigint GENERATED ALWAYS AS IDENTITY,
    prospect_id       bigint NOT NULL,
    executive_id      bigint,
    provider          text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,39}$'),
    provider_call_id  text COLLATE "C" NOT NULL CHECK (length(provider_call_id) BETWEEN 1 AND 200),
    status            text NOT NULL
                      CHECK (status IN ('queued', 'ringing', 'in_progress', 'completed', 'no_answer', 'failed')),
    started_at        timestamptz,
    ended_at          timestamptz,
    duration_secs     integer CHECK (duration_secs >= 0),
    outcome           text CHECK (length(outcome) <= 200),
    summary           text CHECK (length(summary) <= 20000),
    recording_url     text CHECK (length(recording_url) <= 2000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, call_id),
    CONSTRAINT calls_provider_call_unique UNIQUE (tenant_id, provider_call_id),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, executive_id) REFERENCES users
);
CREATE INDEX calls_time ON calls (tenant_id, created_at DESC, call_id DESC);
CREATE INDEX calls_prospect ON calls (tenant_id, prospect_id);
CREATE INDEX calls_executive ON calls (tenant_id, executive_id, created_at DESC);
CREATE INDEX calls_active ON calls (tenant_id) WHERE status IN ('queued', 'ringing', 'in_progress');

CREATE TABLE scheduled_calls (
    tenant_id          bigint NOT NULL,
    scheduled_call_id  bigint GENERATED ALWAYS AS IDENTITY,
    prospect_id        bigint NOT NULL,
    executive_id       bigint NOT NULL,
    due_at             timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'done', 'missed', 'cancelled')),
    note               text CHECK (length(note) <= 2000),
    created_by         bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scheduled_call_id),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, executive_id) REFERENCES users
);
CREATE INDEX scheduled_calls_executive ON scheduled_calls (tenant_id, executive_id, due_at);
CREATE INDEX scheduled_calls_prospect ON scheduled_calls (tenant_id, prospect_id);
-- The scheduler's scan for overdue ones.
CREATE INDEX scheduled_calls_pending ON scheduled_calls (due_at) WHERE status = 'pending';

-- Deletes must say which prospect the row belonged to, so realtime can authorise them.
ALTER TABLE calls REPLICA IDENTITY FULL;
ALTER TABLE scheduled_calls REPLICA IDENTITY FULL;
ALTER PUBLICATION platica ADD TABLE calls, scheduled_calls;
