-- WhatsApp Cloud API channels: accounts, the webhook log, delivery statuses and per-message
-- WhatsApp details.
--
-- Secrets (app secret, verify token, access token) are stored encrypted (XChaCha20-Poly1305,
-- key from PLATICA_SECRET_KEY or the data dir), each with its own random 24-byte nonce; the
-- associated data binds a ciphertext to its tenant and field, so it cannot be moved elsewhere.

CREATE TABLE channel_accounts (
    tenant_id               bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    channel_account_id      bigint GENERATED ALWAYS AS IDENTITY,
    kind                    text NOT NULL CHECK (kind IN ('cloud', 'simulator')),
    display_name            text NOT NULL,
    -- The Cloud API's id of the business phone number: a webhook names it, so it is unique
    -- across tenants (it is how a webhook finds its tenant).
    phone_number_id         text COLLATE "C" NOT NULL CHECK (phone_number_id ~ '^[0-9]{1,32}$'),
    app_secret_ciphertext   bytea NOT NULL,
    app_secret_nonce        bytea NOT NULL CHECK (length(app_secret_nonce) = 24),
    verify_token_ciphertext bytea NOT NULL,
    verify_token_nonce      bytea NOT NULL CHECK (length(verify_token_nonce) = 24),
    access_token_ciphertext bytea NOT NULL,
    access_token_nonce      bytea NOT NULL CHECK (length(access_token_nonce) = 24),
    -- New prospects from this number land in this team.
    default_team_id         bigint NOT NULL,
    -- Round-robin cursor: the executive most recently given a new prospect from this number.
    last_assigned_user_id   bigint,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_account_id),
    FOREIGN KEY (tenant_id, default_team_id) REFERENCES teams,
    FOREIGN KEY (tenant_id, last_assigned_user_id) REFERENCES users ON DELETE SET NULL (last_assigned_user_id)
);
-- The one cross-tenant key: a webhook's phone_number_id finds its tenant.
CREATE UNIQUE INDEX channel_accounts_phone_number_id ON channel_accounts (phone_number_id);
CREATE INDEX channel_accounts_team ON channel_accounts (tenant_id, default_team_id);

-- Webhooks that were authenticated but not (entirely) turned into domain rows: malformed JSON,
-- unknown objects or fields, unknown phone numbers, statuses of unknown messages. At most the
-- first 64 KiB of the payload is kept.
CREATE TABLE webhook_events (
    tenant_id           bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    webhook_event_id    bigint GENERATED ALWAYS AS IDENTITY,
    -- The account whose app secret verified the signature.
    channel_account_id  bigint,
    received_at         timestamptz NOT NULL DEFAULT now(),
    -- What the payload was: 'malformed_json', 'unknown_object', 'unknown_phone_number_id',
    -- 'unknown_field', 'invalid_item'...
    kind                text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    -- What was done with it: 'ignored' or 'partial' (some items stored).
    outcome             text NOT NULL CHECK (outcome IN ('ignored', 'partial')),
    error               text,
    payload             bytea NOT NULL CHECK (length(payload) <= 65536),
    payload_truncated   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, webhook_event_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE SET NULL (channel_account_id)
);
CREATE INDEX webhook_events_received ON webhook_events (tenant_id, received_at DESC);

-- Every delivery status WhatsApp reported for a message, once per (message, status): redelivered
-- status webhooks change nothing. `applied` says whether it moved messages.status forward (a late
-- 'delivered' after 'read' is recorded but not applied). A failure keeps its reason here.
CREATE TABLE message_statuses (
    tenant_id      bigint NOT NULL,
    message_id     bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    occurred_at    timestamptz,
    applied        boolean NOT NULL,
    error_code     integer,
    error_title    text,
    error_detail   text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id, status),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages ON DELETE CASCADE
);

-- What WhatsApp said about an inbound message beyond its text: its type, media, reply context.
CREATE TABLE whatsapp_messages (
    tenant_id            bigint NOT NULL,
    message_id           bigint NOT NULL,
    channel_account_id   bigint,
    -- The Cloud API message type: text, image, audio, video, document, sticker, location,
    -- contacts, interactive, button, reaction, order, system, unsupported...
    wa_type              text NOT NULL,
    media_id             text,
    mime_type            text,
    caption              text,
    filename             text,
    -- The message this one replies to (context.id), as WhatsApp names it.
    context_external_id  text,
    -- The message object as received (bounded by the webhook body limit).
    details              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, message_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE SET NULL (channel_account_id)
);
CREATE INDEX whatsapp_messages_media ON whatsapp_messages (tenant_id, media_id) WHERE media_id IS NOT NULL;
