-- Campaign safeguards (issue 24): a throttle on large sends, campaign messages that know their
-- campaign, and the opt-outs a campaign leaves out.

-- At most this many of the campaign's messages go to WhatsApp in any minute (`NULL`: as fast as
-- the number's rate allows). The dispatcher counts the campaign's last messages still in the
-- outbox or sent within the minute before queueing more.
ALTER TABLE campaigns ADD COLUMN max_per_minute integer
    CHECK (max_per_minute IS NULL OR max_per_minute BETWEEN 1 AND 100000);

-- The campaign a message was sent for: the chat shows "Campaign: <name>" on it instead of a
-- sender. `messages` is published whole, so live message rows carry it too.
ALTER TABLE messages ADD COLUMN campaign_id bigint,
    ADD CONSTRAINT messages_campaign FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns
        ON DELETE SET NULL (campaign_id);
-- The campaign's messages, newest first (the throttle looks at the last few; deleting a
-- campaign finds its messages).
CREATE INDEX messages_campaign ON messages (tenant_id, campaign_id, message_id) WHERE campaign_id IS NOT NULL;
-- Campaign messages written before this migration: their recipients know them.
UPDATE messages m SET campaign_id = r.campaign_id
FROM campaign_recipients r
WHERE r.tenant_id = m.tenant_id AND r.message_id = m.message_id;

-- Opt-outs: WhatsApp refuses a marketing template to someone who stopped the business's marketing
-- messages with error 131050. Such prospects are left out of later campaigns (the preview counts
-- them); this index holds only those failures, so the check costs nothing per recipient.
CREATE INDEX messages_marketing_opt_out ON messages (tenant_id, conversation_id)
    WHERE status = 'failed' AND direction = 'out' AND (error ->> 'code') = '131050';
