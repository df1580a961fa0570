-- Console sessions (docs/console.md, "Sessions"): a session's `expires` is its idle deadline, moved
-- forward while the admin works (`touch_session`), and `created` bounds its whole life whatever the
-- activity (OWASP Session Management Cheat Sheet, "Session Expiration": idle and absolute timeouts).
-- Sessions of the authorization pages never move and read `created` only for the absolute bound.
-- Numbered 0010, not 0009: the two backends keep one numbering and PostgreSQL's 0009 is its own.
ALTER TABLE oauth_sessions ADD COLUMN created TEXT;
