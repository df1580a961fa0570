-- Sign-in throttles: the same table and columns as scimd-store-sqlite's 0006 (tests/store/parity.rs
-- keeps them in step). One row per throttle key, a SHA-256 digest naming an account (tenant and
-- case-folded email, whether or not such an admin exists) or an account and client address.
--
-- Across replicas: an attempt is reserved under the row's lock (INSERT … ON CONFLICT DO NOTHING,
-- then SELECT … FOR UPDATE and UPDATE in one transaction), before the password is checked, so
-- concurrent guesses on any replicas cannot overtake the limit. Times are Unix milliseconds.

CREATE TABLE oauth_login_throttle (
    key             BYTEA PRIMARY KEY CHECK (octet_length(key) = 32),
    attempts        BIGINT NOT NULL,
    last_attempt    BIGINT NOT NULL,
    blocked_until   BIGINT NOT NULL
);

CREATE INDEX oauth_login_throttle_by_last_attempt ON oauth_login_throttle (last_attempt);
