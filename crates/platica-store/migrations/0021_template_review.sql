-- Message templates as WhatsApp knows them: the business account (WABA) and id Graph gave them,
-- their category and components, the header's placeholders, and every review state Graph reports
-- (a new template is pending until approved or rejected; an approved one can be paused or
-- disabled later). Each change of status is kept in whatsapp_template_status_changes.
ALTER TABLE whatsapp_templates DROP CONSTRAINT whatsapp_templates_status_check;
ALTER TABLE whatsapp_templates ADD CONSTRAINT whatsapp_templates_status_check CHECK (status IN (
    'approved', 'pending', 'rejected', 'paused', 'disabled', 'in_appeal', 'pending_deletion', 'deleted',
    'limit_exceeded', 'archived'));
ALTER TABLE whatsapp_templates
    ADD COLUMN waba_id           text COLLATE "C" CHECK (waba_id ~ '^[0-9]{1,32}$'),
    ADD COLUMN external_id       text COLLATE "C" CHECK (external_id ~ '^[0-9]{1,32}$'),
    ADD COLUMN category          text CHECK (category IN ('marketing', 'utility', 'authentication')),
    ADD COLUMN header            text CHECK (length(header) BETWEEN 1 AND 60),
    ADD COLUMN header_params     integer NOT NULL DEFAULT 0 CHECK (header_params BETWEEN 0 AND 1),
    ADD COLUMN components        jsonb,
    ADD COLUMN status_reason     text CHECK (length(status_reason) <= 1000),
    ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE whatsapp_template_status_changes (
    tenant_id    bigint NOT NULL,
    template_id  bigint NOT NULL,
    change_id    bigint GENERATED ALWAYS AS IDENTITY,
    status       text NOT NULL,
    reason       text,
    -- What told us: 'submit', 'sync' or 'webhook'.
    source       text NOT NULL CHECK (source IN ('submit', 'sync', 'webhook')),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, template_id, change_id),
    FOREIGN KEY (tenant_id, template_id) REFERENCES whatsapp_templates ON DELETE CASCADE
);
