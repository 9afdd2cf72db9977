-- Every failure explained, where the user looks (issue 17, part 3).

-- Why an outbound message failed, as the API and the change stream (so the WebSocket) carry it:
-- {"code": 131047 | null, "title": "...", "detail": "..." | null, "retryable": bool,
--  "attempts": n | null}. Set when the message becomes `failed` (a refusal, a failed status
-- webhook, giving up after N attempts); cleared when it is queued again by a retry.
-- message_statuses keeps the history.
ALTER TABLE messages ADD COLUMN error jsonb CHECK (error IS NULL OR jsonb_typeof(error) = 'object');

-- A channel's event log: webhook-level `errors` WhatsApp reports about the account (a 130429
-- throughput notice, errors beside a message) rather than about one message's delivery. Shown in
-- the admin channel screen and in /ready's detail, counted in
-- platica_whatsapp_webhook_errors_total{code}.
CREATE TABLE channel_events (
    tenant_id           bigint NOT NULL,
    channel_event_id    bigint GENERATED ALWAYS AS IDENTITY,
    channel_account_id  bigint NOT NULL,
    occurred_at         timestamptz NOT NULL DEFAULT now(),
    -- 'webhook_error' (an `errors` entry of a webhook's value) or 'message_error' (an `errors`
    -- entry beside an inbound message).
    kind                text NOT NULL CHECK (kind IN ('webhook_error', 'message_error')),
    code                integer,
    title               text NOT NULL CHECK (length(title) <= 1000),
    detail              text CHECK (length(detail) <= 1000),
    -- The error object as WhatsApp sent it.
    raw                 jsonb NOT NULL,
    PRIMARY KEY (tenant_id, channel_event_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE CASCADE
);
CREATE INDEX channel_events_recent ON channel_events (tenant_id, channel_account_id, occurred_at DESC);
