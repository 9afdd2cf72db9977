-- Business-scoped user ids (issue 17, part 4): WhatsApp identifies a user to a business by a
-- BSUID (`contacts[].user_id`, `messages[].from_user_id`: an ISO 3166 country code, a dot and up
-- to 128 letters and digits, e.g. `US.13491208655302741918`), and a user who adopts a username
-- may reach the business without any phone number. A prospect is therefore known by its phone,
-- its BSUID, or both; the two merge into one prospect when a webhook names both.

ALTER TABLE prospects ADD COLUMN bsuid text COLLATE "C"
    CHECK (bsuid ~ '^[A-Z]{2}\.[A-Za-z0-9]{1,128}$');
ALTER TABLE prospects ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE prospects ADD CONSTRAINT prospects_phone_or_bsuid CHECK (phone IS NOT NULL OR bsuid IS NOT NULL);
-- Unique where set (NULLs are distinct); tenant first, as every key.
ALTER TABLE prospects ADD CONSTRAINT prospects_bsuid_unique UNIQUE (tenant_id, bsuid);

-- A reply to a prospect known only by its BSUID goes out with `recipient` instead of `to` (the
-- Cloud API's rule; `to` wins when both are present). The outbox orders sends per recipient by
-- either. PostgreSQL 15 cannot change a generated column's expression: drop it and add it again
-- (its index goes with it and is built again).
ALTER TABLE outbox DROP COLUMN recipient;
ALTER TABLE outbox ADD COLUMN recipient text
    GENERATED ALWAYS AS (coalesce(payload ->> 'to', payload ->> 'recipient')) STORED;
CREATE INDEX outbox_recipient_queue ON outbox (tenant_id, channel_account_id, recipient, outbox_id)
    WHERE state IN ('pending', 'sending');
