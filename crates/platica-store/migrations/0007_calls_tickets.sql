-- Calls, scheduled calls, support tickets and user notifications.
--
-- A call is made by a voice agent or an executive for a prospect; the call provider reports it
-- through a signed webhook, idempotent by its own call id. Its status only moves forward
-- (queued < ringing < in_progress < one of the terminal completed / no_answer / failed), so a
-- late 'ringing' never overwrites 'completed'. A call and a scheduled call are visible exactly
-- when their prospect is.

-- The call provider's webhook secret of a tenant, sealed like channel secrets.
CREATE TABLE call_provider_settings (
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    secret_ciphertext  bytea NOT NULL,
    secret_nonce       bytea NOT NULL CHECK (length(secret_nonce) = 24),
    updated_by         bigint,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

-- The order of call statuses; the three terminal ones share the last rank.
CREATE FUNCTION call_status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT
    RETURN CASE status WHEN 'queued' THEN 0 WHEN 'ringing' THEN 1 WHEN 'in_progress' THEN 2 ELSE 3 END;

CREATE TABLE calls (
    tenant_id         bigint NOT NULL,
    call_id           bigint GENERATED ALWAYS AS IDENTITY,
    prospect_id       bigint NOT NULL,
    executive_id      bigint,
    provider          text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,39}$'),
    provider_call_id  text COLLATE "C" NOT NULL CHECK (length(provider_call_id) BETWEEN 1 AND 200),
    status            text NOT NULL
                      CHECK (status IN ('queued', 'ringing', 'in_progress', 'completed', 'no_answer', 'failed')),
    started_at        timestamptz,
    ended_at          timestamptz,
    duration_secs     integer CHECK (duration_secs >= 0),
    outcome           text CHECK (length(outcome) <= 200),
    summary           text CHECK (length(summary) <= 20000),
    recording_url     text CHECK (length(recording_url) <= 2000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, call_id),
    CONSTRAINT calls_provider_call_unique UNIQUE (tenant_id, provider_call_id),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, executive_id) REFERENCES users
);
CREATE INDEX calls_time ON calls (tenant_id, created_at DESC, call_id DESC);
CREATE INDEX calls_prospect ON calls (tenant_id, prospect_id);
CREATE INDEX calls_executive ON calls (tenant_id, executive_id, created_at DESC);
CREATE INDEX calls_active ON calls (tenant_id) WHERE status IN ('queued', 'ringing', 'in_progress');

CREATE TABLE scheduled_calls (
    tenant_id          bigint NOT NULL,
    scheduled_call_id  bigint GENERATED ALWAYS AS IDENTITY,
    prospect_id        bigint NOT NULL,
    executive_id       bigint NOT NULL,
    due_at             timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'done', 'missed', 'cancelled')),
    note               text CHECK (length(note) <= 2000),
    created_by         bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scheduled_call_id),
    FOREIGN KEY (tenant_id, prospect_id) REFERENCES prospects ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, executive_id) REFERENCES users
);
CREATE INDEX scheduled_calls_executive ON scheduled_calls (tenant_id, executive_id, due_at);
CREATE INDEX scheduled_calls_prospect ON scheduled_calls (tenant_id, prospect_id);
-- The scheduler's scan for overdue ones.
CREATE INDEX scheduled_calls_pending ON scheduled_calls (due_at) WHERE status = 'pending';

-- Deletes must say which prospect the row belonged to, so realtime can authorise them.
ALTER TABLE calls REPLICA IDENTITY FULL;
ALTER TABLE scheduled_calls REPLICA IDENTITY FULL;
ALTER PUBLICATION platica ADD TABLE calls, scheduled_calls;

-- Support tickets, their comments, and user notifications.
--
-- A ticket is seen by whoever opened it, its assignee (an admin) and every admin of the tenant;
-- a comment carries its ticket's opener (`opened_by`, copied by a trigger and never changed) so
-- realtime can authorise it without a lookup. A notification is seen by its user only.

CREATE TABLE tickets (
    tenant_id    bigint NOT NULL,
    ticket_id    bigint GENERATED ALWAYS AS IDENTITY,
    opened_by    bigint NOT NULL,
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    body         text NOT NULL CHECK (length(body) <= 20000),
    priority     text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    assignee_id  bigint,
    -- Who made the last change (notifications skip their own author).
    updated_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, opened_by) REFERENCES users,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users
);
CREATE INDEX tickets_opened_by ON tickets (tenant_id, opened_by, ticket_id DESC);
CREATE INDEX tickets_assignee ON tickets (tenant_id, assignee_id, ticket_id DESC);

CREATE TABLE ticket_comments (
    tenant_id   bigint NOT NULL,
    comment_id  bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id   bigint NOT NULL,
    author_id   bigint NOT NULL,
    -- The ticket's opener, copied on insert (for realtime authorisation).
    opened_by   bigint,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, comment_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, author_id) REFERENCES users
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (tenant_id, ticket_id, comment_id);

CREATE TABLE notifications (
    tenant_id        bigint NOT NULL,
    notification_id  bigint GENERATED ALWAYS AS IDENTITY,
    user_id          bigint NOT NULL,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
    title            text NOT NULL,
    body             text,
    link             text,
    -- How many causes this notification stands for (e.g. prospects of one bulk reassignment).
    item_count       integer NOT NULL DEFAULT 1,
    -- Causes with the same key (per user and kind) merge into one notification.
    group_key        text,
    read_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, notification_id),
    CONSTRAINT notifications_group_unique UNIQUE (tenant_id, user_id, kind, group_key),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX notifications_user ON notifications (tenant_id, user_id, notification_id DESC);
CREATE INDEX notifications_unread ON notifications (tenant_id, user_id) WHERE read_at IS NULL;

-- Adds `n` causes to a user's notification of `kind` grouped under `group_key` (creating it).
CREATE FUNCTION notify_user(p_tenant bigint, p_user bigint, p_kind text, p_group text, n integer,
                            p_one text, p_many text, p_body text, p_link text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO notifications AS x (tenant_id, user_id, kind, group_key, item_count, title, body, link)
    VALUES (p_tenant, p_user, p_kind, p_group, n,
            CASE WHEN n = 1 THEN p_one ELSE replace(p_many, '%n', n::text) END, p_body, p_link)
    ON CONFLICT (tenant_id, user_id, kind, group_key) DO UPDATE SET
        item_count = x.item_count + EXCLUDED.item_count,
        title = replace(p_many, '%n', (x.item_count + EXCLUDED.item_count)::text),
        read_at = NULL
$$;

-- Reassignments: the new executive, the previous one, and the coordinators of both teams hear of
-- it, once per user per bulk batch (one statement may carry thousands of rows; a batch written in
-- several statements still merges by its batch id). Nobody is told about their own action.
CREATE FUNCTION notify_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN
        WITH moves AS (
            SELECT h.*, coalesce('batch:' || h.batch_id, 'assignment:' || h.assignment_id) AS grp
              FROM new_rows h
        ), targets AS (
            SELECT tenant_id, prospect_id, to_executive_id AS user_id, 'prospect_assigned' AS kind, grp, actor_user_id
              FROM moves WHERE to_executive_id IS NOT NULL AND to_executive_id IS DISTINCT FROM from_executive_id
            UNION ALL
            SELECT tenant_id, prospect_id, from_executive_id, 'prospect_removed', grp, actor_user_id
              FROM moves WHERE from_executive_id IS NOT NULL AND from_executive_id IS DISTINCT FROM to_executive_id
            UNION ALL
            SELECT m.tenant_id, m.prospect_id, ct.user_id, 'team_reassignment', m.grp, m.actor_user_id
              FROM moves m JOIN coordinator_teams ct
                ON ct.tenant_id = m.tenant_id AND ct.team_id IN (m.from_team_id, m.to_team_id)
             WHERE m.from_team_id IS NOT NULL
               AND (m.from_team_id IS DISTINCT FROM m.to_team_id OR m.from_executive_id IS DISTINCT FROM m.to_executive_id)
        )
        SELECT tenant_id, user_id, kind, grp, count(DISTINCT prospect_id)::integer AS n
          FROM targets WHERE user_id IS DISTINCT FROM actor_user_id
         GROUP BY tenant_id, user_id, kind, grp
    LOOP
        PERFORM notify_user(r.tenant_id, r.user_id, r.kind, r.grp, r.n,
            CASE r.kind WHEN 'prospect_assigned' THEN 'A prospect was assigned to you'
                        WHEN 'prospect_removed' THEN 'A prospect was moved away from you'
                        ELSE 'A prospect was reassigned in your team' END,
            CASE r.kind WHEN 'prospect_assigned' THEN '%n prospects were assigned to you'
                        WHEN 'prospect_removed' THEN '%n prospects were moved away from you'
                        ELSE '%n prospects were reassigned in your team' END,
            NULL, '#/inbox');
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER assignment_history_notify AFTER INSERT ON assignment_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_assignments();

-- Tickets: a new ticket tells its assignee, or every admin when it has none; a change of status or
-- assignee tells the opener and the assignee; a comment tells the opener, the assignee and earlier
-- commenters. The author of the change is never told.
CREATE FUNCTION notify_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE u bigint; actor bigint; t text; link text;
BEGIN
    link := '#/tickets/' || NEW.ticket_id;
    IF TG_OP = 'INSERT' THEN
        actor := NEW.opened_by;
        t := 'New ticket: ' || NEW.subject;
        FOR u IN SELECT user_id FROM users WHERE tenant_id = NEW.tenant_id AND active
                   AND (user_id = NEW.assignee_id OR (NEW.assignee_id IS NULL AND role = 'admin'))
        LOOP
            IF u IS DISTINCT FROM actor THEN
                PERFORM notify_user(NEW.tenant_id, u, 'ticket_update', NULL, 1, t, t, NULL, link);
            END IF;
        END LOOP;
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.assignee_id IS DISTINCT FROM OLD.assignee_id THEN
        actor := NEW.updated_by;
        t := 'Ticket updated: ' || NEW.subject;
        FOR u IN SELECT DISTINCT x FROM unnest(ARRAY[NEW.opened_by, NEW.assignee_id]) x WHERE x IS NOT NULL LOOP
            IF u IS DISTINCT FROM actor THEN
                PERFORM notify_user(NEW.tenant_id, u, 'ticket_update', NULL, 1, t, t,
                    'Status: ' || NEW.status, link);
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_notify AFTER INSERT OR UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION notify_ticket();

CREATE FUNCTION ticket_comment_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT opened_by INTO NEW.opened_by FROM tickets WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.ticket_id;
    RETURN NEW;
END $$;
CREATE TRIGGER ticket_comments_opener BEFORE INSERT OR UPDATE ON ticket_comments
    FOR EACH ROW EXECUTE FUNCTION ticket_comment_before();

CREATE FUNCTION notify_ticket_comment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE u bigint; tk record;
BEGIN
    SELECT * INTO tk FROM tickets WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.ticket_id;
    FOR u IN
        SELECT tk.opened_by UNION SELECT tk.assignee_id
        UNION SELECT author_id FROM ticket_comments WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.ticket_id
    LOOP
        IF u IS NOT NULL AND u <> NEW.author_id THEN
            PERFORM notify_user(NEW.tenant_id, u, 'ticket_comment', NULL, 1, 'New comment: ' || tk.subject,
                'New comment: ' || tk.subject, left(NEW.body, 200), '#/tickets/' || NEW.ticket_id);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER ticket_comments_notify AFTER INSERT ON ticket_comments FOR EACH ROW EXECUTE FUNCTION notify_ticket_comment();

-- A scheduled call that became missed tells its executive.
CREATE FUNCTION notify_missed_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'missed' AND OLD.status IS DISTINCT FROM 'missed' THEN
        PERFORM notify_user(NEW.tenant_id, NEW.executive_id, 'call_missed', NULL, 1,
            'A scheduled call was missed', 'A scheduled call was missed',
            (SELECT name FROM prospects p WHERE p.tenant_id = NEW.tenant_id AND p.prospect_id = NEW.prospect_id),
            '#/calls');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER scheduled_calls_notify AFTER UPDATE OF status ON scheduled_calls
    FOR EACH ROW EXECUTE FUNCTION notify_missed_call();

ALTER TABLE tickets REPLICA IDENTITY FULL;
ALTER TABLE ticket_comments REPLICA IDENTITY FULL;
ALTER TABLE notifications REPLICA IDENTITY FULL;
ALTER PUBLICATION platica ADD TABLE tickets, ticket_comments, notifications;
