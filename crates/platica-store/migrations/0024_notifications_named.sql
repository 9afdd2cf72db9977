-- Notifications in the reader's language, naming what they are about (issue 18).
--
-- A notification carries its cause as `kind` and `params` (a prospect's name and conversation, a
-- ticket's subject and status, a version, a campaign): the web app renders them in the reader's
-- language; `title` and `body` stay as English text for API clients and older rows.
--
-- A reassignment names its prospect and links to its conversation. While a user has not read
-- them, their reassignments of one kind merge into one notification ("12 prospects were
-- reassigned in your team", linking to the inbox) instead of one each: reading it ends the
-- group, and the next reassignment starts a new one. The group is the partial unique index
-- below (one unread, ungrouped reassignment notification per user and kind).

ALTER TABLE notifications ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE UNIQUE INDEX notifications_unread_reassignments ON notifications (tenant_id, user_id, kind)
    WHERE read_at IS NULL AND group_key IS NULL
      AND kind IN ('prospect_assigned', 'prospect_removed', 'team_reassignment');

-- `notify_user` (migration 0007) with the notification's parameters.
CREATE FUNCTION notify_user(p_tenant bigint, p_user bigint, p_kind text, p_group text, n integer,
                            p_one text, p_many text, p_body text, p_link text, p_params jsonb)
    RETURNS void
LANGUAGE sql AS $$
    INSERT INTO notifications AS x (tenant_id, user_id, kind, group_key, item_count, title, body, link, params)
    VALUES (p_tenant, p_user, p_kind, p_group, n,
            CASE WHEN n = 1 THEN p_one ELSE replace(p_many, '%n', n::text) END, p_body, p_link, p_params)
    ON CONFLICT (tenant_id, user_id, kind, group_key) DO UPDATE SET
        item_count = x.item_count + EXCLUDED.item_count,
        title = replace(p_many, '%n', (x.item_count + EXCLUDED.item_count)::text),
        read_at = NULL
$$;

-- Reassignments: the new executive, the previous one, and the coordinators of both teams hear of
-- it, once per user per statement, merged with their unread ones of the same kind. Nobody is told
-- about their own action.
CREATE OR REPLACE FUNCTION notify_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record; one text; many text; params jsonb; link text;
BEGIN
    FOR r IN
        WITH moves AS (SELECT * FROM new_rows), targets AS (
            SELECT tenant_id, prospect_id, to_executive_id AS user_id, 'prospect_assigned' AS kind, actor_user_id
              FROM moves WHERE to_executive_id IS NOT NULL AND to_executive_id IS DISTINCT FROM from_executive_id
            UNION ALL
            SELECT tenant_id, prospect_id, from_executive_id, 'prospect_removed', actor_user_id
              FROM moves WHERE from_executive_id IS NOT NULL AND from_executive_id IS DISTINCT FROM to_executive_id
            UNION ALL
            SELECT m.tenant_id, m.prospect_id, ct.user_id, 'team_reassignment', m.actor_user_id
              FROM moves m JOIN coordinator_teams ct
                ON ct.tenant_id = m.tenant_id AND ct.team_id IN (m.from_team_id, m.to_team_id)
             WHERE m.from_team_id IS NOT NULL
               AND (m.from_team_id IS DISTINCT FROM m.to_team_id OR m.from_executive_id IS DISTINCT FROM m.to_executive_id)
        )
        SELECT tenant_id, user_id, kind, count(DISTINCT prospect_id)::integer AS n, min(prospect_id) AS prospect_id
          FROM targets WHERE user_id IS DISTINCT FROM actor_user_id
         GROUP BY tenant_id, user_id, kind
    LOOP
        many := CASE r.kind WHEN 'prospect_assigned' THEN '%n prospects were assigned to you'
                            WHEN 'prospect_removed' THEN '%n prospects were moved away from you'
                            ELSE '%n prospects were reassigned in your team' END;
        IF r.n = 1 THEN
            SELECT jsonb_build_object('prospect_id', p.prospect_id, 'prospect', p.name,
                                      'conversation_id', (SELECT min(c.conversation_id) FROM conversations c
                                                           WHERE c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id)),
                   p.name || CASE r.kind WHEN 'prospect_assigned' THEN ' was assigned to you'
                                         WHEN 'prospect_removed' THEN ' was moved away from you'
                                         ELSE ' was reassigned in your team' END
              INTO params, one
              FROM prospects p WHERE p.tenant_id = r.tenant_id AND p.prospect_id = r.prospect_id;
            IF NOT FOUND THEN -- deleted in the same transaction: say it without a name
                params := '{}'::jsonb;
                one := replace(many, '%n', '1');
            END IF;
            link := coalesce('#/c/' || (params ->> 'conversation_id'), '#/inbox');
        ELSE
            params := '{}'::jsonb;
            one := replace(many, '%n', r.n::text);
            link := '#/inbox';
        END IF;
        INSERT INTO notifications AS x (tenant_id, user_id, kind, item_count, title, link, params)
        VALUES (r.tenant_id, r.user_id, r.kind, r.n, one, link, params)
        ON CONFLICT (tenant_id, user_id, kind)
            WHERE read_at IS NULL AND group_key IS NULL
              AND kind IN ('prospect_assigned', 'prospect_removed', 'team_reassignment')
        DO UPDATE SET
            item_count = x.item_count + EXCLUDED.item_count,
            title = replace(many, '%n', (x.item_count + EXCLUDED.item_count)::text),
            link = '#/inbox',
            params = '{}'::jsonb,
            created_at = now();
    END LOOP;
    RETURN NULL;
END $$;

-- Tickets (as in migration 0007), with the subject and status as parameters.
CREATE OR REPLACE FUNCTION notify_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
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
                PERFORM notify_user(NEW.tenant_id, u, 'ticket_update', NULL, 1, t, t, NULL, link,
                    jsonb_build_object('event', 'new', 'subject', NEW.subject));
            END IF;
        END LOOP;
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.assignee_id IS DISTINCT FROM OLD.assignee_id THEN
        actor := NEW.updated_by;
        t := 'Ticket updated: ' || NEW.subject;
        FOR u IN SELECT DISTINCT x FROM unnest(ARRAY[NEW.opened_by, NEW.assignee_id]) x WHERE x IS NOT NULL LOOP
            IF u IS DISTINCT FROM actor THEN
                PERFORM notify_user(NEW.tenant_id, u, 'ticket_update', NULL, 1, t, t,
                    'Status: ' || NEW.status, link,
                    jsonb_build_object('event', 'updated', 'subject', NEW.subject, 'status', NEW.status));
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_ticket_comment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE u bigint; tk record;
BEGIN
    SELECT * INTO tk FROM tickets WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.ticket_id;
    FOR u IN
        SELECT tk.opened_by UNION SELECT tk.assignee_id
        UNION SELECT author_id FROM ticket_comments WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.ticket_id
    LOOP
        IF u IS NOT NULL AND u <> NEW.author_id THEN
            PERFORM notify_user(NEW.tenant_id, u, 'ticket_comment', NULL, 1, 'New comment: ' || tk.subject,
                'New comment: ' || tk.subject, left(NEW.body, 200), '#/tickets/' || NEW.ticket_id,
                jsonb_build_object('subject', tk.subject));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- A scheduled call that became missed tells its executive, naming the prospect.
CREATE OR REPLACE FUNCTION notify_missed_call() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE who text;
BEGIN
    IF NEW.status = 'missed' AND OLD.status IS DISTINCT FROM 'missed' THEN
        SELECT name INTO who FROM prospects p WHERE p.tenant_id = NEW.tenant_id AND p.prospect_id = NEW.prospect_id;
        PERFORM notify_user(NEW.tenant_id, NEW.executive_id, 'call_missed', NULL, 1,
            'A scheduled call was missed', 'A scheduled call was missed', who, '#/calls',
            jsonb_build_object('prospect', who, 'prospect_id', NEW.prospect_id));
    END IF;
    RETURN NULL;
END $$;

-- A forced web release (migration 0009), with its version as a parameter.
CREATE OR REPLACE FUNCTION notify_force_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    IF NEW.key <> 'app_version' OR NEW.value -> 'force_update' IS DISTINCT FROM 'true'::jsonb THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.value IS NOT DISTINCT FROM NEW.value THEN
        RETURN NULL;
    END IF;
    v := left(coalesce(NEW.value ->> 'version', '?'), 64);
    INSERT INTO notifications (tenant_id, user_id, kind, group_key, title, body, link, params)
    SELECT NEW.tenant_id, u.user_id, 'force_update', 'version:' || v,
           'Platica ' || v || ' is out', 'The app reloaded itself to this version.', NULL,
           jsonb_build_object('version', v)
      FROM users u
     WHERE u.tenant_id = NEW.tenant_id AND u.active
    ON CONFLICT (tenant_id, user_id, kind, group_key) DO NOTHING;
    RETURN NULL;
END $$;
