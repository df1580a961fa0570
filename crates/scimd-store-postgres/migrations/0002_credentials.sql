-- Static bearer tokens (issue 3). The secret is never stored: `digest` is its SHA-256, looked up
-- through the unique index (an exact match, never a scan). Times are RFC 3339 text as in 0001.

CREATE TABLE tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,   -- UUIDv7
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    digest      BYTEA NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    scopes      TEXT NOT NULL,                  -- canonical names, space-separated (RFC 6749 §3.3 style)
    operator    BOOLEAN NOT NULL DEFAULT FALSE,
    created     TEXT COLLATE "C" NOT NULL,
    expires     TEXT COLLATE "C",
    last_used   TEXT COLLATE "C",               -- kept to within a minute (TOUCH_GRANULARITY)
    revoked     TEXT COLLATE "C"
);

CREATE INDEX tokens_by_tenant ON tokens (tenant_id, id);
