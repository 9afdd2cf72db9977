-- Reports (issue 19): what the team did, per day and cell (team x executive), kept by counters.
--
-- The replaced system's dashboard was a materialized view refreshed by a cron job, so it was
-- always stale and its refresh grew with the data. Here every write keeps its own counters in
-- the same transaction (triggers, so a raw SQL write counts exactly like an API write), and a
-- report for any period is a sum over a few rows per day. The live figures (open, unread,
-- waiting) are the inbox engine's; these are the ones over a period.
--
-- Facts are attributed when they happen and stored on their row, so a later move of the
-- prospect does not move its history, and a delete or an edit takes back exactly what the row
-- added: `platica_report_days_recomputed` sums the rows' facts again, and `verify` (and the
-- tests) compare it with `report_days`.

-- The tenant's time zone: its report days are local days.
CREATE FUNCTION platica_valid_time_zone(tz text) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz);
ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CONSTRAINT tenants_time_zone_valid CHECK (platica_valid_time_zone(time_zone));

-- The response-time buckets (upper bounds in seconds, the last one open):
-- <1m, <2m, <5m, <10m, <15m, <30m, <1h, <2h, <4h, <8h, <24h, <48h, 48h and more.
-- platica_domain::reports::RESPONSE_BOUNDS is the same list (a test checks they agree).
CREATE FUNCTION platica_response_bucket(secs integer) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN 1 + (secs >= 60)::int + (secs >= 120)::int + (secs >= 300)::int + (secs >= 600)::int
        + (secs >= 900)::int + (secs >= 1800)::int + (secs >= 3600)::int + (secs >= 7200)::int
        + (secs >= 14400)::int + (secs >= 28800)::int + (secs >= 86400)::int + (secs >= 172800)::int;

-- Per message: the cell it counts for (its prospect's team and executive when it was written),
-- and for a person's reply to a waiting customer, how long the customer had waited and whether
-- it was the conversation's first reply by a person.
ALTER TABLE messages
    ADD COLUMN report_team_id bigint,
    ADD COLUMN report_executive_id bigint,
    ADD COLUMN response_secs integer CHECK (response_secs >= 0),
    ADD COLUMN first_response boolean NOT NULL DEFAULT false;

-- Per prospect: the cell it was created in (new prospects count there).
ALTER TABLE prospects
    ADD COLUMN origin_team_id bigint,
    ADD COLUMN origin_executive_id bigint;

CREATE TABLE report_days (
    tenant_id        bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    day              date NOT NULL,
    team_id          bigint NOT NULL,
    -- 0: no executive (the team's unassigned prospects).
    executive_id     bigint NOT NULL,
    messages_in      integer NOT NULL DEFAULT 0,
    messages_out     integer NOT NULL DEFAULT 0,
    new_prospects    integer NOT NULL DEFAULT 0,
    -- Prospects moved into / out of this cell by a reassignment (not their first assignment).
    reassigned_in    integer NOT NULL DEFAULT 0,
    reassigned_out   integer NOT NULL DEFAULT 0,
    -- Replies by a person to a waiting customer, by response-time bucket; and the first ones.
    responses        integer[] NOT NULL DEFAULT array_fill(0, ARRAY[13]),
    first_responses  integer[] NOT NULL DEFAULT array_fill(0, ARRAY[13]),
    PRIMARY KEY (tenant_id, day, team_id, executive_id)
);

-- A tenant's local day of an instant.
CREATE FUNCTION platica_report_day(p_tenant bigint, at timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (at AT TIME ZONE coalesce((SELECT time_zone FROM tenants WHERE tenant_id = p_tenant), 'UTC'))::date;

-- Adds deltas to one cell's day (a new row when it has none).
CREATE FUNCTION platica_report_bump(p_tenant bigint, p_day date, p_team bigint, p_executive bigint,
    d_in integer, d_out integer, d_new integer, d_rin integer, d_rout integer,
    response_bucket integer, d_response integer, first_bucket integer, d_first integer)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    resp integer[] := array_fill(0, ARRAY[13]);
    firsts integer[] := array_fill(0, ARRAY[13]);
BEGIN
    IF response_bucket IS NOT NULL THEN resp[response_bucket] := d_response; END IF;
    IF first_bucket IS NOT NULL THEN firsts[first_bucket] := d_first; END IF;
    INSERT INTO report_days AS r (tenant_id, day, team_id, executive_id, messages_in, messages_out,
                                  new_prospects, reassigned_in, reassigned_out, responses, first_responses)
    VALUES (p_tenant, p_day, p_team, coalesce(p_executive, 0), d_in, d_out, d_new, d_rin, d_rout, resp, firsts)
    ON CONFLICT (tenant_id, day, team_id, executive_id) DO UPDATE SET
        messages_in = r.messages_in + EXCLUDED.messages_in,
        messages_out = r.messages_out + EXCLUDED.messages_out,
        new_prospects = r.new_prospects + EXCLUDED.new_prospects,
        reassigned_in = r.reassigned_in + EXCLUDED.reassigned_in,
        reassigned_out = r.reassigned_out + EXCLUDED.reassigned_out,
        responses = CASE WHEN response_bucket IS NULL THEN r.responses ELSE
            (SELECT array_agg(a + b ORDER BY i) FROM unnest(r.responses, EXCLUDED.responses) WITH ORDINALITY AS x(a, b, i)) END,
        first_responses = CASE WHEN first_bucket IS NULL THEN r.first_responses ELSE
            (SELECT array_agg(a + b ORDER BY i) FROM unnest(r.first_responses, EXCLUDED.first_responses) WITH ORDINALITY AS x(a, b, i)) END;
END $$;

-- Before a message is written: its cell, and its response time when a person answers a
-- customer who is waiting (the customer's oldest message since the previous reply by a person).
-- Bots and system messages are not replies here: a sales team's response time is its people's.
CREATE FUNCTION platica_message_facts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_reply timestamptz;
    waiting_since timestamptz;
    replied_before boolean;
BEGIN
    SELECT p.team_id, p.executive_id INTO NEW.report_team_id, NEW.report_executive_id
      FROM conversations c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
     WHERE c.tenant_id = NEW.tenant_id AND c.conversation_id = NEW.conversation_id;
    NEW.response_secs := NULL;
    NEW.first_response := false;
    IF NEW.kind = 'message' AND NEW.direction = 'out' AND NEW.sender_kind = 'executive' THEN
        SELECT m.created_at INTO last_reply FROM messages m
         WHERE m.tenant_id = NEW.tenant_id AND m.conversation_id = NEW.conversation_id
           AND m.kind = 'message' AND m.direction = 'out' AND m.sender_kind = 'executive'
         ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1;
        replied_before := FOUND;
        SELECT min(m.created_at) INTO waiting_since FROM messages m
         WHERE m.tenant_id = NEW.tenant_id AND m.conversation_id = NEW.conversation_id
           AND m.kind = 'message' AND m.direction = 'in'
           AND (last_reply IS NULL OR m.created_at > last_reply) AND m.created_at <= NEW.created_at;
        IF waiting_since IS NOT NULL THEN
            NEW.response_secs := greatest(0, floor(extract(epoch FROM NEW.created_at - waiting_since)))::integer;
            NEW.first_response := NOT replied_before;
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- After a message is written, changed or deleted: its day's counters take back what the old
-- row added and add what the new one adds (notes count for nothing).
CREATE FUNCTION platica_message_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'message' AND OLD.report_team_id IS NOT NULL THEN
        PERFORM platica_report_bump(OLD.tenant_id, platica_report_day(OLD.tenant_id, OLD.created_at),
            OLD.report_team_id, OLD.report_executive_id,
            -(OLD.direction = 'in')::int, -(OLD.direction = 'out')::int, 0, 0, 0,
            platica_response_bucket(OLD.response_secs), -1,
            CASE WHEN OLD.first_response THEN platica_response_bucket(OLD.response_secs) END, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.kind = 'message' AND NEW.report_team_id IS NOT NULL THEN
        PERFORM platica_report_bump(NEW.tenant_id, platica_report_day(NEW.tenant_id, NEW.created_at),
            NEW.report_team_id, NEW.report_executive_id,
            (NEW.direction = 'in')::int, (NEW.direction = 'out')::int, 0, 0, 0,
            platica_response_bucket(NEW.response_secs), 1,
            CASE WHEN NEW.first_response THEN platica_response_bucket(NEW.response_secs) END, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION platica_prospect_origin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.origin_team_id := NEW.team_id;
    NEW.origin_executive_id := NEW.executive_id;
    RETURN NEW;
END $$;

CREATE FUNCTION platica_prospect_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.origin_team_id IS NOT NULL THEN
        PERFORM platica_report_bump(OLD.tenant_id, platica_report_day(OLD.tenant_id, OLD.created_at),
            OLD.origin_team_id, OLD.origin_executive_id, 0, 0, -1, 0, 0, NULL, 0, NULL, 0);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.origin_team_id IS NOT NULL THEN
        PERFORM platica_report_bump(NEW.tenant_id, platica_report_day(NEW.tenant_id, NEW.created_at),
            NEW.origin_team_id, NEW.origin_executive_id, 0, 0, 1, 0, 0, NULL, 0, NULL, 0);
    END IF;
    RETURN NULL;
END $$;

-- A reassignment (a move with a "from") counts in for its destination, out for its origin.
CREATE FUNCTION platica_assignment_report() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r assignment_history;
    sign integer;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; sign := -1; ELSE r := NEW; sign := 1; END IF;
    IF r.from_team_id IS NOT NULL THEN
        PERFORM platica_report_bump(r.tenant_id, platica_report_day(r.tenant_id, r.created_at),
            r.to_team_id, r.to_executive_id, 0, 0, 0, sign, 0, NULL, 0, NULL, 0);
        PERFORM platica_report_bump(r.tenant_id, platica_report_day(r.tenant_id, r.created_at),
            r.from_team_id, r.from_executive_id, 0, 0, 0, 0, sign, NULL, 0, NULL, 0);
    END IF;
    RETURN NULL;
END $$;

-- Every report day recomputed from the rows' facts: what `report_days` must equal (less rows
-- whose counters are all zero). `verify` and the tests compare the two.
CREATE FUNCTION platica_report_days_recomputed(p_tenant bigint)
    RETURNS TABLE (day date, team_id bigint, executive_id bigint, messages_in bigint, messages_out bigint,
                   new_prospects bigint, reassigned_in bigint, reassigned_out bigint,
                   responses integer[], first_responses integer[])
    LANGUAGE sql STABLE AS $$
    WITH facts AS (
        SELECT platica_report_day(m.tenant_id, m.created_at) AS day, m.report_team_id AS team_id,
               coalesce(m.report_executive_id, 0) AS executive_id,
               (m.direction = 'in')::int AS m_in, (m.direction = 'out')::int AS m_out, 0 AS p_new, 0 AS r_in, 0 AS r_out,
               platica_response_bucket(m.response_secs) AS rb,
               CASE WHEN m.first_response THEN platica_response_bucket(m.response_secs) END AS fb
          FROM messages m WHERE m.tenant_id = p_tenant AND m.kind = 'message' AND m.report_team_id IS NOT NULL
        UNION ALL
        SELECT platica_report_day(p.tenant_id, p.created_at), p.origin_team_id, coalesce(p.origin_executive_id, 0),
               0, 0, 1, 0, 0, NULL, NULL
          FROM prospects p WHERE p.tenant_id = p_tenant AND p.origin_team_id IS NOT NULL
        UNION ALL
        SELECT platica_report_day(a.tenant_id, a.created_at), a.to_team_id, coalesce(a.to_executive_id, 0),
               0, 0, 0, 1, 0, NULL, NULL
          FROM assignment_history a WHERE a.tenant_id = p_tenant AND a.from_team_id IS NOT NULL
        UNION ALL
        SELECT platica_report_day(a.tenant_id, a.created_at), a.from_team_id, coalesce(a.from_executive_id, 0),
               0, 0, 0, 0, 1, NULL, NULL
          FROM assignment_history a WHERE a.tenant_id = p_tenant AND a.from_team_id IS NOT NULL
    )
    SELECT day, team_id, executive_id, sum(m_in), sum(m_out), sum(p_new), sum(r_in), sum(r_out),
           ARRAY[count(*) FILTER (WHERE rb = 1)::int,
                     count(*) FILTER (WHERE rb = 2)::int,
                     count(*) FILTER (WHERE rb = 3)::int,
                     count(*) FILTER (WHERE rb = 4)::int,
                     count(*) FILTER (WHERE rb = 5)::int,
                     count(*) FILTER (WHERE rb = 6)::int,
                     count(*) FILTER (WHERE rb = 7)::int,
                     count(*) FILTER (WHERE rb = 8)::int,
                     count(*) FILTER (WHERE rb = 9)::int,
                     count(*) FILTER (WHERE rb = 10)::int,
                     count(*) FILTER (WHERE rb = 11)::int,
                     count(*) FILTER (WHERE rb = 12)::int,
                     count(*) FILTER (WHERE rb = 13)::int],
           ARRAY[count(*) FILTER (WHERE fb = 1)::int,
                     count(*) FILTER (WHERE fb = 2)::int,
                     count(*) FILTER (WHERE fb = 3)::int,
                     count(*) FILTER (WHERE fb = 4)::int,
                     count(*) FILTER (WHERE fb = 5)::int,
                     count(*) FILTER (WHERE fb = 6)::int,
                     count(*) FILTER (WHERE fb = 7)::int,
                     count(*) FILTER (WHERE fb = 8)::int,
                     count(*) FILTER (WHERE fb = 9)::int,
                     count(*) FILTER (WHERE fb = 10)::int,
                     count(*) FILTER (WHERE fb = 11)::int,
                     count(*) FILTER (WHERE fb = 12)::int,
                     count(*) FILTER (WHERE fb = 13)::int]
      FROM facts GROUP BY day, team_id, executive_id
$$;

-- Each message's response facts recomputed from the conversation's messages in order: what the
-- trigger stored when messages are written in time order (the tests write them so).
CREATE FUNCTION platica_message_responses_recomputed(p_tenant bigint)
    RETURNS TABLE (message_id bigint, response_secs integer, first_response boolean)
    LANGUAGE sql STABLE AS $$
    WITH replies AS (
        SELECT m.message_id, m.conversation_id, m.created_at,
               lag(m.created_at) OVER (PARTITION BY m.conversation_id ORDER BY m.created_at, m.message_id) AS last_reply,
               row_number() OVER (PARTITION BY m.conversation_id ORDER BY m.created_at, m.message_id) AS nth
          FROM messages m
         WHERE m.tenant_id = p_tenant AND m.kind = 'message' AND m.direction = 'out' AND m.sender_kind = 'executive'
    )
    SELECT r.message_id,
           -- (greatest() ignores a NULL: no wait, no response time.)
           CASE WHEN w.since IS NOT NULL THEN greatest(0, floor(extract(epoch FROM r.created_at - w.since)))::integer END,
           w.since IS NOT NULL AND r.nth = 1
      FROM replies r
      CROSS JOIN LATERAL (
          SELECT min(i.created_at) AS since FROM messages i
           WHERE i.tenant_id = p_tenant AND i.conversation_id = r.conversation_id
             AND i.kind = 'message' AND i.direction = 'in'
             AND (r.last_reply IS NULL OR i.created_at > r.last_reply) AND i.created_at <= r.created_at) w
$$;

-- Fills the facts rows lack (rows written while the triggers did not run: an existing
-- installation, a bulk load with `session_replication_role = replica`) and sums the tenant's
-- counters again. Rows without a cell are attributed to their prospect's current one; facts
-- already stored are kept (they are history). Safe to run any time (`platica_report_days_recomputed`
-- is what the counters must equal anyway).
CREATE FUNCTION platica_reports_rebuild(p_tenant bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messages m SET report_team_id = p.team_id, report_executive_id = p.executive_id
      FROM conversations c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
     WHERE m.tenant_id = p_tenant AND m.report_team_id IS NULL
       AND c.tenant_id = m.tenant_id AND c.conversation_id = m.conversation_id;
    UPDATE messages m SET response_secs = r.response_secs, first_response = r.first_response
      FROM platica_message_responses_recomputed(p_tenant) r
     WHERE m.tenant_id = p_tenant AND m.message_id = r.message_id AND r.response_secs IS NOT NULL
       AND m.response_secs IS NULL;
    UPDATE prospects SET origin_team_id = team_id, origin_executive_id = executive_id
     WHERE tenant_id = p_tenant AND origin_team_id IS NULL;
    DELETE FROM report_days WHERE tenant_id = p_tenant;
    INSERT INTO report_days (tenant_id, day, team_id, executive_id, messages_in, messages_out, new_prospects,
                             reassigned_in, reassigned_out, responses, first_responses)
    SELECT p_tenant, r.* FROM platica_report_days_recomputed(p_tenant) r;
END $$;

-- What is already there (an existing installation), before the triggers exist.
SELECT platica_reports_rebuild(tenant_id) FROM tenants;

-- A tenant's new time zone moves its days: its counters are summed again in the new one.
CREATE FUNCTION platica_tenant_time_zone_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM platica_reports_rebuild(NEW.tenant_id);
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_time_zone_report AFTER UPDATE OF time_zone ON tenants
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION platica_tenant_time_zone_report();
CREATE TRIGGER messages_facts BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION platica_message_facts();
CREATE TRIGGER messages_report AFTER INSERT OR DELETE
    OR UPDATE OF kind, direction, created_at, report_team_id, report_executive_id, response_secs, first_response
    ON messages FOR EACH ROW EXECUTE FUNCTION platica_message_report();
CREATE TRIGGER prospects_origin BEFORE INSERT ON prospects
    FOR EACH ROW EXECUTE FUNCTION platica_prospect_origin();
CREATE TRIGGER prospects_report AFTER INSERT OR DELETE OR UPDATE OF origin_team_id, origin_executive_id, created_at
    ON prospects FOR EACH ROW EXECUTE FUNCTION platica_prospect_report();
CREATE TRIGGER assignment_history_report AFTER INSERT OR DELETE
    ON assignment_history FOR EACH ROW EXECUTE FUNCTION platica_assignment_report();
