-- The change stream Platica derives its live state from.
--
-- The publication lists exactly the tables the live inbox reads; users are published without
-- their password hashes. prospects and messages log their whole old row on UPDATE and DELETE
-- (REPLICA IDENTITY FULL): a deleted message then says which conversation, direction and read
-- state it had, so counts can be adjusted exactly, and an update never needs a lookup.
ALTER TABLE messages REPLICA IDENTITY FULL;
ALTER TABLE prospects REPLICA IDENTITY FULL;

CREATE PUBLICATION platica FOR TABLE
    tenants (tenant_id),
    users (tenant_id, user_id, role, active),
    coordinator_teams,
    prospects,
    conversations,
    messages,
    bot_pause;
