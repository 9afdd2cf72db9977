-- Contact fields (issue 18): a prospect's e-mail and notes, and fields each tenant defines for its
-- prospects (text, number, date, or a select with options) with one value per prospect and field.
-- The live inbox reads none of these: `prospects` is published whole, and its decoder takes the
-- columns it needs by name; the two new tables are not published.

ALTER TABLE prospects
    ADD COLUMN email text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    ADD COLUMN notes text CHECK (notes IS NULL OR length(notes) BETWEEN 1 AND 4000);

CREATE TABLE prospect_fields (
    tenant_id   bigint NOT NULL,
    field_id    bigint GENERATED ALWAYS AS IDENTITY,
    key         text COLLATE "C" NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    kind        text NOT NULL CHECK (kind IN ('text', 'number', 'date', 'select')),
    options     text[] NOT NULL DEFAULT '{}',
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, field_id),
    CONSTRAINT prospect_fields_key_unique UNIQUE (tenant_id, key),
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE
);

CREATE TABLE prospect_field_values (
    tenant_id    bigint NOT NULL,
    prospect_id  bigint NOT NULL,
    field_id     bigint NOT NULL,
    value        text NOT NULL CHECK (length(value) BETWEEN 1 AND 500),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, prospect_id, field_id),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, field_id) REFERENCES prospect_fields ON DELETE CASCADE
);
CREATE INDEX prospect_field_values_field ON prospect_field_values (tenant_id, field_id);

-- The admin templates screen follows review states live (`table:whatsapp_templates`, admins only).
ALTER PUBLICATION platica ADD TABLE whatsapp_templates;
