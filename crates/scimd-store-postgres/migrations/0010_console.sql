-- The console (docs/console.md).
--
-- Sessions: a session's `expires` is its idle deadline, moved forward while the admin works
-- (`touch_session`), and `created` bounds its whole life whatever the activity (OWASP Session
-- Management Cheat Sheet, "Session Expiration": idle and absolute timeouts). Sessions of the
-- authorization pages never move and read `created` only for the absolute bound. `tenant_id` is the
-- tenant an operator chose to act in (NULL: the admin's own).
--
-- Operators: an admin with `operator` set may act in every tenant from the console
-- (`scimd admin create --operator`).
ALTER TABLE oauth_sessions ADD COLUMN created TEXT COLLATE "C";
ALTER TABLE oauth_sessions ADD COLUMN tenant_id TEXT COLLATE "C" REFERENCES tenants(id) ON DELETE SET NULL;
ALTER TABLE oauth_admins ADD COLUMN operator BOOLEAN NOT NULL DEFAULT FALSE;
