-- Console sessions (docs/console.md, "Sessions"): a session's `expires` is its idle deadline, moved
-- forward while the admin works (`touch_session`), and `created` bounds its whole life whatever the
-- activity (OWASP Session Management Cheat Sheet, "Session Expiration": idle and absolute timeouts).
-- Sessions of the authorization pages never move and read `created` only for the absolute bound.
ALTER TABLE oauth_sessions ADD COLUMN created TEXT COLLATE "C";
