-- Platica's foundation schema.
--
-- Every table carries tenant_id, leading in its primary key, unique constraints, indexes and
-- foreign keys, so the schema can be distributed by tenant and cross-tenant references are
-- impossible by construction (a foreign key includes tenant_id).

CREATE TABLE tenants (
    tenant_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_slug ON tenants (slug);

CREATE TABLE teams (
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    team_id     bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, team_id),
    CONSTRAINT teams_name_unique UNIQUE (tenant_id, name)
);

CREATE TABLE users (
    tenant_id      bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id        bigint GENERATED ALWAYS AS IDENTITY,
    email          text NOT NULL CHECK (email = lower(email)),
    display_name   text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'coordinator', 'executive')),
    operational    boolean NOT NULL DEFAULT true,
    active         boolean NOT NULL DEFAULT true,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT users_email_unique UNIQUE (tenant_id, email)
);
CREATE INDEX users_role ON users (tenant_id, role);

-- A coordinator may coordinate several teams.
CREATE TABLE coordinator_teams (
    tenant_id  bigint NOT NULL,
    user_id    bigint NOT NULL,
    team_id    bigint NOT NULL,
    PRIMARY KEY (tenant_id, user_id, team_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams ON DELETE CASCADE
);
CREATE INDEX coordinator_teams_team ON coordinator_teams (tenant_id, team_id);

CREATE TABLE prospects (
    tenant_id     bigint NOT NULL,
    prospect_id   bigint GENERATED ALWAYS AS IDENTITY,
    name          text NOT NULL,
    -- E.164; compared byte-wise so prefix search can use the index.
    phone         text COLLATE "C" NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    team_id       bigint NOT NULL,
    executive_id  bigint,
    stage         text NOT NULL DEFAULT 'new'
                  CHECK (stage IN ('new', 'contacted', 'interested', 'negotiating', 'won', 'lost')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, prospect_id),
    CONSTRAINT prospects_phone_unique UNIQUE (tenant_id, phone),
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams,
    FOREIGN KEY (tenant_id, executive_id) REFERENCES users
);
CREATE INDEX prospects_team ON prospects (tenant_id, team_id);
CREATE INDEX prospects_executive ON prospects (tenant_id, executive_id);
CREATE INDEX prospects_name_prefix ON prospects (tenant_id, lower(name) text_pattern_ops);

CREATE TABLE conversations (
    tenant_id        bigint NOT NULL,
    conversation_id  bigint GENERATED ALWAYS AS IDENTITY,
    prospect_id      bigint NOT NULL,
    channel          text NOT NULL DEFAULT 'whatsapp',
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id),
    CONSTRAINT conversations_one_per_channel UNIQUE (tenant_id, prospect_id, channel),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE
);

CREATE TABLE messages (
    tenant_id        bigint NOT NULL,
    message_id       bigint GENERATED ALWAYS AS IDENTITY,
    conversation_id  bigint NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    sender_kind      text NOT NULL CHECK (sender_kind IN ('prospect', 'bot', 'executive', 'system')),
    sender_user_id   bigint,
    body             text NOT NULL,
    -- The channel's id for the message (e.g. WhatsApp's wamid): ingestion is idempotent on it.
    external_id      text,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    read_at          timestamptz,
    PRIMARY KEY (tenant_id, message_id),
    CONSTRAINT messages_external_id_unique UNIQUE (tenant_id, external_id),
    CONSTRAINT messages_sender CHECK (
        (direction = 'in' AND sender_kind = 'prospect') OR
        (direction = 'out' AND sender_kind IN ('bot', 'executive', 'system'))),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, sender_user_id) REFERENCES users
);
-- Newest-first pages of a conversation, and its last message.
CREATE INDEX messages_conversation_time ON messages (tenant_id, conversation_id, created_at DESC, message_id DESC);
-- Unread inbound messages per conversation.
CREATE INDEX messages_unread ON messages (tenant_id, conversation_id) WHERE direction = 'in' AND read_at IS NULL;

CREATE TABLE assignment_history (
    tenant_id          bigint NOT NULL,
    assignment_id      bigint GENERATED ALWAYS AS IDENTITY,
    prospect_id        bigint NOT NULL,
    from_team_id       bigint,
    to_team_id         bigint NOT NULL,
    from_executive_id  bigint,
    to_executive_id    bigint,
    actor_user_id      bigint,
    -- Rows written by one bulk reassignment share a batch id.
    batch_id           bigint,
    kind               text NOT NULL CHECK (kind IN ('single', 'bulk')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, assignment_id),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE
);
CREATE INDEX assignment_history_prospect ON assignment_history (tenant_id, prospect_id, created_at DESC);
CREATE INDEX assignment_history_batch ON assignment_history (tenant_id, batch_id) WHERE batch_id IS NOT NULL;
CREATE SEQUENCE assignment_batch_seq;

-- Whether the auto-reply bot is paused for a conversation (a human has taken over).
CREATE TABLE bot_pause (
    tenant_id        bigint NOT NULL,
    conversation_id  bigint NOT NULL,
    paused           boolean NOT NULL,
    changed_by       bigint,
    reason           text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations ON DELETE CASCADE
);

CREATE TABLE system_config (
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    key         text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_.]{0,63}$'),
    value       jsonb NOT NULL,
    updated_by  bigint,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Login sessions. Tokens are random; only their SHA-256 is stored.
CREATE TABLE sessions (
    tenant_id     bigint NOT NULL,
    session_id    bigint GENERATED ALWAYS AS IDENTITY,
    user_id       bigint NOT NULL,
    token_hash    bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, session_id),
    CONSTRAINT sessions_token_unique UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX sessions_expiry ON sessions (tenant_id, expires_at);

-- API tokens for integrations; each acts as one user (its role and visibility).
CREATE TABLE api_tokens (
    tenant_id     bigint NOT NULL,
    token_id      bigint GENERATED ALWAYS AS IDENTITY,
    name          text NOT NULL,
    user_id       bigint NOT NULL,
    created_by    bigint,
    token_hash    bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    PRIMARY KEY (tenant_id, token_id),
    CONSTRAINT api_tokens_token_unique UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
