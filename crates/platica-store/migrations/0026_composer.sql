-- The composer (issue 18): private notes with @mentions, and canned replies.
--
-- A private note is a message of kind 'note': written by a user in a conversation, shown to
-- everyone who sees the conversation (the same visibility, the same pages, the same live events
-- as messages), and never sent to WhatsApp. It is a row of `messages` rather than a table of its
-- own so that it takes its place in the conversation's timeline (pages, cursors, realtime)
-- without a second feed to merge. It is outbound-shaped (direction 'out', an executive's), so
-- it never counts as unread and never opens or closes the 24-hour window (which only looks at
-- inbound messages); it is stored 'sent' and has no external id.
ALTER TABLE messages ADD COLUMN kind text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'note'));
ALTER TABLE messages ADD CONSTRAINT messages_note_shape CHECK (
    kind = 'message' OR (direction = 'out' AND sender_kind = 'executive' AND sender_user_id IS NOT NULL
                         AND external_id IS NULL AND status = 'sent'));

-- A note is never handed to the outbox, whatever writes it: the database refuses the row.
CREATE FUNCTION outbox_refuses_notes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.message_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM messages m WHERE m.tenant_id = NEW.tenant_id AND m.message_id = NEW.message_id AND m.kind = 'note')
    THEN
        RAISE EXCEPTION 'message % is a private note: notes are never sent', NEW.message_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_refuses_notes BEFORE INSERT OR UPDATE OF message_id ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_refuses_notes();

-- The teammates a note mentions (each could see the conversation when it was written).
CREATE TABLE message_mentions (
    tenant_id   bigint NOT NULL,
    message_id  bigint NOT NULL,
    user_id     bigint NOT NULL,
    PRIMARY KEY (tenant_id, message_id, user_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX message_mentions_user ON message_mentions (tenant_id, user_id);

-- A mention notifies the mentioned teammate (not the note's author), in the mention's
-- transaction, with the prospect, the author and the conversation as parameters.
CREATE FUNCTION notify_mention() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE m record; who text; author text;
BEGIN
    SELECT x.conversation_id, x.sender_user_id, x.body, p.name AS prospect
      INTO m
      FROM messages x
      JOIN conversations c ON c.tenant_id = x.tenant_id AND c.conversation_id = x.conversation_id
      JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
     WHERE x.tenant_id = NEW.tenant_id AND x.message_id = NEW.message_id;
    IF NOT FOUND OR m.sender_user_id IS NOT DISTINCT FROM NEW.user_id THEN
        RETURN NULL;
    END IF;
    SELECT display_name INTO author FROM users WHERE tenant_id = NEW.tenant_id AND user_id = m.sender_user_id;
    who := coalesce(author, 'A teammate');
    PERFORM notify_user(NEW.tenant_id, NEW.user_id, 'note_mention', NULL, 1,
        who || ' mentioned you in a note on ' || m.prospect, who || ' mentioned you in a note on ' || m.prospect,
        left(m.body, 200), '#/c/' || m.conversation_id,
        jsonb_build_object('author', who, 'prospect', m.prospect, 'conversation_id', m.conversation_id,
                           'message_id', NEW.message_id));
    RETURN NULL;
END $$;
CREATE TRIGGER notify_mention AFTER INSERT ON message_mentions
    FOR EACH ROW EXECUTE FUNCTION notify_mention();

-- Canned replies: a shortcut (typed after `/` in the composer) and its text. Tenant-wide ones
-- (`user_id` NULL) are managed by admins; personal ones belong to one user, who alone sees and
-- manages them. A shortcut is unique within the tenant's shared replies and within each user's.
CREATE TABLE canned_replies (
    tenant_id         bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    canned_reply_id   bigint GENERATED ALWAYS AS IDENTITY,
    user_id           bigint,
    shortcut          text NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    body              text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, canned_reply_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE UNIQUE INDEX canned_replies_shared_shortcut ON canned_replies (tenant_id, shortcut) WHERE user_id IS NULL;
CREATE UNIQUE INDEX canned_replies_personal_shortcut ON canned_replies (tenant_id, user_id, shortcut) WHERE user_id IS NOT NULL;

-- Quote-reply: the message an outbound message replies to (sent to WhatsApp as
-- `context.message_id`, the quoted message's WhatsApp id). Inbound replies keep WhatsApp's
-- `context.id` in `whatsapp_messages.context_external_id` (migration 0018).
ALTER TABLE messages ADD COLUMN reply_to_message_id bigint,
    ADD CONSTRAINT messages_reply_to FOREIGN KEY (tenant_id, reply_to_message_id) REFERENCES messages
        ON DELETE SET NULL (reply_to_message_id);
CREATE INDEX messages_reply_to ON messages (tenant_id, reply_to_message_id) WHERE reply_to_message_id IS NOT NULL;
