-- Media (issue 17, part 4): the bytes of inbound media, fetched from the Graph API (media id ->
-- short-lived URL -> bytes) and kept by content hash in an object store, and attachments users
-- upload to send. The bytes never live in PostgreSQL: this table records what and where.
--
-- Inbound: a row per WhatsApp message with a media id, written by the trigger below in the
-- transaction that stores the message (so raw SQL and every ingestion path get one), `pending`
-- until the fetcher stores it (`stored`) or gives up (`unavailable`, with the reason: too large,
-- a type WhatsApp does not send, gone at Graph, or "gave up after N attempts").
-- Outbound: a row per upload (`stored` at once), attached to the message that sends it; the id
-- Graph gave it on upload (`wa_media_id`, for `wa_account_id`) is kept so it is uploaded once.
CREATE TABLE media (
    tenant_id           bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    media_id            bigint GENERATED ALWAYS AS IDENTITY,
    direction           text NOT NULL CHECK (direction IN ('in', 'out')),
    -- The message it came with (inbound) or is sent with (outbound; NULL until sent).
    message_id          bigint,
    -- The account it came through (inbound) or was uploaded to (outbound).
    channel_account_id  bigint,
    -- WhatsApp's kind: image, audio, video, document, sticker.
    kind                text NOT NULL CHECK (kind IN ('image', 'audio', 'video', 'document', 'sticker')),
    -- WhatsApp's media id: inbound the one to fetch, outbound the one the upload returned.
    wa_media_id         text CHECK (length(wa_media_id) <= 256),
    mime_type           text CHECK (length(mime_type) <= 256),
    filename            text CHECK (length(filename) <= 1024),
    size                bigint CHECK (size >= 0),
    sha256              text COLLATE "C" CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Keys in the object store (content-addressed, under the tenant's prefix).
    object_key          text CHECK (length(object_key) <= 512),
    thumbnail_key       text CHECK (length(thumbnail_key) <= 512),
    state               text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'stored', 'unavailable')),
    reason              text CHECK (length(reason) <= 1000),
    attempts            integer NOT NULL DEFAULT 0,
    -- Pending: not tried before this time (backoff, or the lease of an attempt in flight).
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    -- Outbound: who uploaded it (sees it before it is sent).
    uploaded_by         bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, media_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE SET NULL (channel_account_id),
    FOREIGN KEY (tenant_id, uploaded_by) REFERENCES users ON DELETE SET NULL (uploaded_by),
    CHECK (state <> 'stored' OR (object_key IS NOT NULL AND sha256 IS NOT NULL AND size IS NOT NULL))
);
CREATE UNIQUE INDEX media_message ON media (tenant_id, message_id) WHERE message_id IS NOT NULL;
-- The fetcher's queue: small (pending rows only).
CREATE INDEX media_pending ON media (tenant_id, next_attempt_at) WHERE state = 'pending' AND direction = 'in';

-- Outbound attachments go through the outbox as kind 'media' (uploaded to Graph, then sent by id).
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check,
    ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('text', 'template', 'mark_read', 'media'));

-- Every stored WhatsApp message with a media id gets its media row, pending, in the same
-- transaction, and wakes the fetcher.
CREATE FUNCTION media_from_whatsapp_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.media_id IS NOT NULL AND NEW.wa_type IN ('image', 'audio', 'video', 'document', 'sticker') THEN
        INSERT INTO media (tenant_id, direction, message_id, channel_account_id, kind, wa_media_id, mime_type, filename)
        VALUES (NEW.tenant_id, 'in', NEW.message_id, NEW.channel_account_id, NEW.wa_type, NEW.media_id,
                NEW.mime_type, NEW.filename)
        ON CONFLICT DO NOTHING;
        PERFORM pg_notify('platica_media', NEW.tenant_id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER media_from_whatsapp_message AFTER INSERT ON whatsapp_messages
    FOR EACH ROW EXECUTE FUNCTION media_from_whatsapp_message();
