-- One slow request must not stall the others (issue 17).
--
-- The sender keeps up to `whatsapp.send_concurrency` sends in flight per number and claims more
-- as each one finishes, instead of waiting for a whole batch. Order per recipient comes from the
-- claim itself: it takes only the head of each recipient's queue, a pending row with no earlier
-- pending row and no row in flight (`sending`) to the same recipient. A row waiting for its retry
-- therefore holds back the later messages to its recipient, and nobody else's.
--
-- `recipient` is the payload's `to` (NULL for read receipts, which need no order), kept by
-- PostgreSQL so no writer can forget it.
ALTER TABLE outbox ADD COLUMN recipient text GENERATED ALWAYS AS (payload ->> 'to') STORED;

-- The claim's look for an earlier row to the same recipient: one index probe per candidate.
CREATE INDEX outbox_recipient_queue ON outbox (tenant_id, channel_account_id, recipient, outbox_id)
    WHERE state IN ('pending', 'sending');
