-- Every kind of message, linked the way WhatsApp links it (issue 17, part 4, inbound).

-- The prospect's reaction to a message (an emoji; NULL: none, or removed). A reaction is not a
-- message of its own: it updates the message it reacts to, so the API, the change stream and
-- the WebSocket carry it as that message's update, and it changes no unread count or preview.
ALTER TABLE messages ADD COLUMN reaction text CHECK (reaction IS NULL OR length(reaction) BETWEEN 1 AND 32);

-- `played`: a voice message was listened to (after `read`).
ALTER TABLE messages DROP CONSTRAINT messages_status_check,
    ADD CONSTRAINT messages_status_check
        CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'played', 'failed'));
ALTER TABLE message_statuses DROP CONSTRAINT message_statuses_status_check,
    ADD CONSTRAINT message_statuses_status_check
        CHECK (status IN ('sent', 'delivered', 'read', 'played', 'failed'));

-- A message's structure beyond its text, as the API shows it: media, a location, shared
-- contacts, an interactive or flow reply (its response fields), an order (items, quantities,
-- prices, total), a system notice; for an unknown type the whole object as received.
ALTER TABLE whatsapp_messages ADD COLUMN content jsonb;
