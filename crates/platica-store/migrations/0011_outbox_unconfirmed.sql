-- Never send a message twice (issue 17).
--
-- A send whose outcome is unknown — it timed out, the connection was cut after the request was
-- written, or a 5xx came back — may have reached the customer. To an endpoint that ignores
-- Idempotency-Key (the Graph API) it is not retried blindly: its outbox row waits in the new state
-- `unconfirmed` until a status webhook names it (by the biz_opaque_callback_data the send carried,
-- `platica:o:<outbox_id>`, or by WhatsApp's id), which finishes it. Only when `not_before` (the end
-- of the reconciliation window) passes with no status at all is it put back to `pending` and sent
-- again, as one more attempt.
--
-- state: pending → sending → done | failed | unconfirmed; unconfirmed → done (a status named it)
-- | pending (the window passed) | failed (out of attempts); pending → cancelled.
ALTER TABLE outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_state_check
    CHECK (state IN ('pending', 'sending', 'unconfirmed', 'done', 'failed', 'cancelled'));
-- The sender's look for unconfirmed rows whose window has passed.
CREATE INDEX outbox_unconfirmed ON outbox (tenant_id, channel_account_id, not_before) WHERE state = 'unconfirmed';

-- The message's side, for the API and the web app: true while WhatsApp may or may not have it
-- (its send's outbox row went `unconfirmed` and no status has come since). Shown as "not
-- confirmed yet". Cleared by the first status, an accepted answer to a later attempt, or a failure.
ALTER TABLE messages ADD COLUMN unconfirmed boolean NOT NULL DEFAULT false;
