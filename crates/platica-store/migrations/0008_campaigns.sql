-- WhatsApp campaigns: an approved template sent to a segment of visible prospects, through the
-- same outbox as every other outbound message.
--
-- The recipients are fixed when the campaign is created (the segment as the creator saw it).
-- A recipient becomes `queued` in the same transaction that writes its message and outbox row,
-- so a restart never queues anyone twice; its delivery status is its message's.
CREATE TABLE campaigns (
    tenant_id           bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    campaign_id         bigint GENERATED ALWAYS AS IDENTITY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel_account_id  bigint NOT NULL,
    template_name       text NOT NULL,
    template_language   text NOT NULL,
    -- Template parameters; `{name}` and `{first_name}` are replaced per recipient.
    parameters          jsonb NOT NULL DEFAULT '[]',
    created_by          bigint NOT NULL,
    status              text NOT NULL DEFAULT 'scheduled'
                        CHECK (status IN ('scheduled', 'running', 'paused', 'completed', 'cancelled')),
    scheduled_at        timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    -- A snapshot of progress the dispatcher writes while it runs; GET /campaigns/{id} always
    -- counts afresh.
    progress            jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES channel_accounts ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users
);
CREATE INDEX campaigns_due ON campaigns (tenant_id, status, scheduled_at);

CREATE TABLE campaign_recipients (
    tenant_id     bigint NOT NULL,
    campaign_id   bigint NOT NULL,
    prospect_id   bigint NOT NULL,
    -- pending → queued (message written) | skipped (could not be addressed) | cancelled
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'queued', 'skipped', 'cancelled')),
    message_id    bigint,
    error         text,
    queued_at     timestamptz,
    PRIMARY KEY (tenant_id, campaign_id, prospect_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages ON DELETE SET NULL (message_id)
);
CREATE INDEX campaign_recipients_pending ON campaign_recipients (tenant_id, campaign_id, prospect_id)
    WHERE state = 'pending';
CREATE INDEX campaign_recipients_message ON campaign_recipients (tenant_id, message_id) WHERE message_id IS NOT NULL;

-- Realtime clients follow campaigns (admins and their creator; the dispatcher's progress
-- snapshots arrive as updates). Recipients are not published: a campaign has thousands.
ALTER TABLE campaigns REPLICA IDENTITY FULL;
ALTER PUBLICATION platica ADD TABLE campaigns;
