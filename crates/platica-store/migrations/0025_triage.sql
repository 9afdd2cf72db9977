-- Triage (issue 18): snooze, priority and labels.
--
-- Status: a conversation is `open`, `snoozed` (until `snoozed_until`) or `closed`. An inbound
-- message opens a snoozed or closed conversation (the ingest paths set `status = 'open'` where it
-- is not open); a snooze whose time has passed is opened by the scheduler's loop
-- (`platica_store::inbox::conversations::wake_snoozed`, every tick of every server, using the
-- partial index below), so `status` is the one truth SQL and the live engine both read.
-- `snoozed_until` is set exactly while snoozed: the trigger clears it whenever a row leaves
-- `snoozed`, so the statements that only set `status` stay right.
--
-- Priority: 0 none, 1 low, 2 medium, 3 high, 4 urgent (the API names them).
--
-- Labels: defined per tenant by admins (a name unique per tenant regardless of case, a colour
-- `#rrggbb`), applied to conversations. `conversation_labels` is published: the live engine
-- filters by label.

ALTER TABLE conversations DROP CONSTRAINT conversations_status_check;
ALTER TABLE conversations
    ADD COLUMN snoozed_until timestamptz,
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 4),
    ADD CONSTRAINT conversations_status_check CHECK (status IN ('open', 'snoozed', 'closed')),
    ADD CONSTRAINT conversations_snoozed_until CHECK ((status = 'snoozed') = (snoozed_until IS NOT NULL));

CREATE FUNCTION conversations_clear_snooze() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'snoozed' THEN
        NEW.snoozed_until := NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER conversations_clear_snooze BEFORE INSERT OR UPDATE OF status ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_clear_snooze();

CREATE INDEX conversations_snoozed ON conversations (tenant_id, snoozed_until) WHERE status = 'snoozed';

CREATE TABLE labels (
    tenant_id   bigint NOT NULL,
    label_id    bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    colour      text NOT NULL CHECK (colour ~ '^#[0-9a-f]{6}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, label_id),
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE
);
CREATE UNIQUE INDEX labels_name ON labels (tenant_id, lower(name));

CREATE TABLE conversation_labels (
    tenant_id        bigint NOT NULL,
    conversation_id  bigint NOT NULL,
    label_id         bigint NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, label_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, label_id) REFERENCES labels ON DELETE CASCADE
);
CREATE INDEX conversation_labels_label ON conversation_labels (tenant_id, label_id);

ALTER PUBLICATION platica ADD TABLE conversation_labels;
