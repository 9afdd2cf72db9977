-- Outbound WhatsApp: the transactional outbox, message templates, the auto-reply bot and
-- long-lived channel sessions.

-- A channel account may hold a long-lived session (a linked-device style connection kept by the
-- session supervisor) instead of receiving webhooks; `base_url` points an account at another
-- implementation of the Cloud API contract (the built-in simulator); NULL means the configured
-- default (the Graph API). `send_rate_per_sec` overrides the configured per-number send rate.
ALTER TABLE channel_accounts DROP CONSTRAINT channel_accounts_kind_check;
ALTER TABLE channel_accounts ADD CONSTRAINT channel_accounts_kind_check
    CHECK (kind IN ('cloud', 'simulator', 'session'));
ALTER TABLE channel_accounts
    ADD COLUMN base_url text CHECK (base_url ~ '^https?://[^\s]+$' AND length(base_url) <= 500),
    ADD COLUMN send_rate_per_sec integer CHECK (send_rate_per_sec BETWEEN 1 AND 1000);

-- Everything Platica sends to WhatsApp, written in the same transaction as what it sends (the
-- outbound message, a read receipt), so nothing is sent that was not committed and nothing
-- committed is left unsent. One worker per channel account (holding an advisory lock, so one in
-- the whole cluster) claims due rows, sends them at the account's rate and records the outcome.
--
-- state: pending → sending → done | failed; pending → cancelled (a bot reply a human overtook).
-- A row left in `sending` by a crash is resent only to implementations that honour the
-- Idempotency-Key header (the simulator); to the Graph API it is failed as `interrupted` unless a
-- status webhook has meanwhile named it (biz_opaque_callback_data), so nothing is sent twice.
CREATE TABLE outbox (
    tenant_id           bigint NOT NULL,
    outbox_id           bigint GENERATED ALWAYS AS IDENTITY,
    channel_account_id  bigint NOT NULL,
    -- The outbound message this sends (NULL for read receipts).
    message_id          bigint,
    kind                text NOT NULL CHECK (kind IN ('text', 'template', 'mark_read')),
    -- The request body for POST /{phone-number-id}/messages.
    payload             jsonb NOT NULL,
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sending', 'done', 'failed', 'cancelled')),
    attempts            integer NOT NULL DEFAULT 0,
    -- Not sent before this time: retry backoff, or a bot's humanised typing delay.
    not_before          timestamptz NOT NULL DEFAULT now(),
    -- While `sending`: when the claim lapses (the worker died).
    lease_until         timestamptz,
    last_http_status    integer,
    last_error          text,
    -- WhatsApp's id for what was sent.
    external_id         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    PRIMARY KEY (tenant_id, outbox_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages ON DELETE CASCADE
);
-- The worker's queue: due rows of one account.
CREATE INDEX outbox_queue ON outbox (tenant_id, channel_account_id, not_before, outbox_id)
    WHERE state IN ('pending', 'sending');
CREATE UNIQUE INDEX outbox_message ON outbox (tenant_id, message_id) WHERE message_id IS NOT NULL;

-- Wakes the account's sender at once (on any server); identical notifications of one
-- transaction are delivered once, so a bulk insert wakes it once.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('platica_outbox', NEW.tenant_id::text || ':' || NEW.channel_account_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_notify();

-- Approved WhatsApp message templates (the only messages allowed outside the 24-hour customer
-- service window). `body` is the template's text with {{1}}, {{2}}... placeholders, kept to
-- render a readable copy of what was sent.
CREATE TABLE whatsapp_templates (
    tenant_id    bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    template_id  bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9_]+$' AND length(name) <= 512),
    language     text NOT NULL CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'),
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 1024),
    params       integer NOT NULL CHECK (params BETWEEN 0 AND 32),
    status       text NOT NULL DEFAULT 'approved' CHECK (status IN ('approved', 'paused', 'rejected')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, template_id),
    CONSTRAINT whatsapp_templates_unique UNIQUE (tenant_id, name, language)
);

-- The auto-reply bot of a tenant: one settings row and ordered rules.
CREATE TABLE bot_settings (
    tenant_id               bigint PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    enabled                 boolean NOT NULL DEFAULT false,
    -- Sent on a new conversation's first message (NULL: none).
    greeting                text CHECK (length(greeting) BETWEEN 1 AND 4096),
    -- Sent outside office hours instead of rules (NULL: none).
    out_of_hours_reply      text CHECK (length(out_of_hours_reply) BETWEEN 1 AND 4096),
    -- Office hours: days (ISO, 1 = Monday) and local times in the tenant's time zone.
    time_zone               text NOT NULL DEFAULT 'America/Mexico_City',
    office_days             integer[] NOT NULL DEFAULT '{1,2,3,4,5}',
    office_open             time NOT NULL DEFAULT '09:00',
    office_close            time NOT NULL DEFAULT '18:00',
    -- When no rule matches: this reply, then the bot pauses and hands over to a human.
    fallback_reply          text CHECK (length(fallback_reply) BETWEEN 1 AND 4096),
    -- An executive's reply pauses the bot for that conversation.
    pause_on_human_reply    boolean NOT NULL DEFAULT true,
    -- A paused bot resumes after this long without human messages (NULL: stays paused).
    resume_after_idle       interval CHECK (resume_after_idle >= interval '1 minute'),
    -- Humanised typing: base + per character, with jitter, within [min, max] milliseconds.
    typing_base_ms          integer NOT NULL DEFAULT 800 CHECK (typing_base_ms >= 0),
    typing_ms_per_char      integer NOT NULL DEFAULT 35 CHECK (typing_ms_per_char >= 0),
    typing_jitter           real NOT NULL DEFAULT 0.25 CHECK (typing_jitter BETWEEN 0 AND 1),
    typing_min_ms           integer NOT NULL DEFAULT 1000 CHECK (typing_min_ms >= 0),
    typing_max_ms           integer NOT NULL DEFAULT 12000 CHECK (typing_max_ms >= typing_min_ms),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bot_rules (
    tenant_id    bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    bot_rule_id  bigint GENERATED ALWAYS AS IDENTITY,
    -- Lower runs first; the first matching rule answers.
    position     integer NOT NULL DEFAULT 0,
    -- 'keyword': any of the comma-separated words appears (case- and accent-insensitive);
    -- 'regex': the pattern matches.
    match_kind   text NOT NULL CHECK (match_kind IN ('keyword', 'regex')),
    pattern      text NOT NULL CHECK (length(pattern) BETWEEN 1 AND 1000),
    reply        text NOT NULL CHECK (length(reply) BETWEEN 1 AND 4096),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, bot_rule_id)
);
CREATE INDEX bot_rules_order ON bot_rules (tenant_id, position, bot_rule_id);

-- bot_pause gains when and why it resumes; every change stays a row change the realtime topic
-- carries.
ALTER TABLE bot_pause ADD COLUMN resumes_at timestamptz;
CREATE INDEX bot_pause_resume ON bot_pause (tenant_id, resumes_at) WHERE paused AND resumes_at IS NOT NULL;

-- Long-lived channel sessions (accounts of kind 'session'): what the supervisor knows of each,
-- persisted so a restart restores them and resumes reading where it stopped.
CREATE TABLE channel_sessions (
    tenant_id            bigint NOT NULL,
    channel_account_id   bigint NOT NULL,
    -- connecting | connected | reconnecting | open_circuit | stopped
    state                text NOT NULL DEFAULT 'connecting',
    -- The last inbound event stored (the session's cursor).
    cursor               bigint NOT NULL DEFAULT 0,
    session_id           text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_error           text,
    last_connected_at    timestamptz,
    last_checked_at      timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_account_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE CASCADE
);
