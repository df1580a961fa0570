-- Static bearer tokens (issue 3). The secret is never stored: `digest` is its SHA-256, looked up
-- through the unique index (an exact match, never a scan). Times are RFC 3339 text as in 0001.

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,               -- UUIDv7
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    digest      BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
    scopes      TEXT NOT NULL,                  -- canonical names, space-separated (RFC 6749 §3.3 style)
    operator    INTEGER NOT NULL DEFAULT 0 CHECK (operator IN (0, 1)),
    created     TEXT NOT NULL,
    expires     TEXT,
    last_used   TEXT,                           -- kept to within a minute (TOUCH_GRANULARITY)
    revoked     TEXT
) STRICT;

CREATE INDEX tokens_by_tenant ON tokens (tenant_id, id);
