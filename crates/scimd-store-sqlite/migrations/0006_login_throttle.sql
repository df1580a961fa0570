-- Sign-in throttles (OWASP Authentication Cheat Sheet, "Login Throttling"): one row per throttle
-- key, a SHA-256 digest naming an account (tenant and case-folded email, whether or not such an
-- admin exists) or an account and client address. An attempt is reserved in the same write
-- transaction that reads the row, before the password is checked, so concurrent guesses cannot
-- overtake the limit. Rows idle for their window are deleted as attempts arrive. Times are Unix
-- milliseconds, so comparisons are numeric.

CREATE TABLE oauth_login_throttle (
    key             BLOB PRIMARY KEY CHECK (length(key) = 32),
    attempts        INTEGER NOT NULL,
    last_attempt    INTEGER NOT NULL,
    blocked_until   INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_login_throttle_by_last_attempt ON oauth_login_throttle (last_attempt);
