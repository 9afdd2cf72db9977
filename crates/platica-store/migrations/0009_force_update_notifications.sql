-- Forced web releases in every user's notification feed.
--
-- Publishing a web version with force_update (`platica release-web --force`, POST
-- /admin/release-web, or raw SQL on system_config) already makes connected clients reload through
-- the realtime `system` topic. This also leaves every active user of the tenant a `force_update`
-- notification, once per version, so someone who was away sees what changed and why the app
-- reloaded. Written by a trigger in the release's own transaction, like the other notifications
-- (migration 0007).

CREATE FUNCTION notify_force_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    IF NEW.key <> 'app_version' OR NEW.value -> 'force_update' IS DISTINCT FROM 'true'::jsonb THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.value IS NOT DISTINCT FROM NEW.value THEN
        RETURN NULL;
    END IF;
    v := left(coalesce(NEW.value ->> 'version', '?'), 64);
    INSERT INTO notifications (tenant_id, user_id, kind, group_key, title, body, link)
    SELECT NEW.tenant_id, u.user_id, 'force_update', 'version:' || v,
           'Platica ' || v || ' is out', 'The app reloaded itself to this version.', NULL
      FROM users u
     WHERE u.tenant_id = NEW.tenant_id AND u.active
    ON CONFLICT (tenant_id, user_id, kind, group_key) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER system_config_force_update AFTER INSERT OR UPDATE ON system_config
    FOR EACH ROW EXECUTE FUNCTION notify_force_update();
