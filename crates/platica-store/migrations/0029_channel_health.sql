-- Channel health (issue 24): what the admin Channels screen shows per number besides its
-- settings. One row per channel account, written by "test connection" (what Graph said about the
-- number: display number, verified name, quality rating, messaging limit, or its error) and by
-- webhooks (when one last arrived, at most every few seconds; the last error WhatsApp reported).
-- Published so the screen follows it live (`table:channel_health`, admins only); the live inbox
-- engine reads none of it.

-- The number's WhatsApp Business Account id (templates are the account's; admins enter it with
-- the number). Optional: numbers added before it have none.
ALTER TABLE channel_accounts
    ADD COLUMN business_account_id text CHECK (business_account_id ~ '^[0-9]{1,32}$');

CREATE TABLE channel_health (
    tenant_id            bigint NOT NULL,
    channel_account_id   bigint NOT NULL,
    last_webhook_at      timestamptz,
    -- The last "test connection": when, and whether Graph answered with the number.
    checked_at           timestamptz,
    check_ok             boolean,
    display_phone_number text CHECK (length(display_phone_number) <= 100),
    verified_name        text CHECK (length(verified_name) <= 200),
    -- Graph's words: GREEN, YELLOW, RED, UNKNOWN; TIER_50, TIER_250, TIER_1K, ... UNLIMITED.
    quality_rating       text CHECK (length(quality_rating) <= 40),
    messaging_limit      text CHECK (length(messaging_limit) <= 40),
    -- The newest error about the number: from a test (Graph's code) or a webhook's `errors`.
    last_error_code      integer,
    last_error_message   text CHECK (length(last_error_message) <= 1000),
    last_error_at        timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_account_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE CASCADE
);

-- Messages sent and failed today, per number: finished outbox rows by time.
CREATE INDEX outbox_finished ON outbox (tenant_id, channel_account_id, finished_at)
    WHERE finished_at IS NOT NULL;

ALTER PUBLICATION platica ADD TABLE channel_health;
