-- The OAuth 2.0 authorization server (issue 4): clients, tenant admins and their browser sessions,
-- grants with their codes and refresh tokens, signing keys. Secrets are SHA-256 digests looked up
-- through unique indexes; passwords are Argon2id PHC strings. Times are RFC 3339 text as in 0001.

CREATE TABLE oauth_clients (
    client_id       TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    grant_type      TEXT NOT NULL CHECK (grant_type IN ('client_credentials', 'authorization_code')),
    secret_digest   BLOB CHECK (secret_digest IS NULL OR length(secret_digest) = 32),
    redirect_uris   TEXT NOT NULL,              -- JSON array of strings
    scopes          TEXT NOT NULL,              -- canonical names, space-separated
    created         TEXT NOT NULL,
    secret_rotated  TEXT
) STRICT;

CREATE INDEX oauth_clients_by_tenant ON oauth_clients (tenant_id, created);

CREATE TABLE oauth_admins (
    id                  TEXT PRIMARY KEY,       -- UUIDv7
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email               TEXT NOT NULL,
    email_key           TEXT NOT NULL,          -- case-folded, for the unique index and sign-in
    password_hash       TEXT NOT NULL,          -- Argon2id PHC string
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    last_failed_login   TEXT,
    created             TEXT NOT NULL,
    UNIQUE (tenant_id, email_key)
) STRICT;

CREATE TABLE oauth_sessions (
    id          TEXT PRIMARY KEY,
    digest      BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
    csrf        TEXT NOT NULL,
    admin_id    TEXT REFERENCES oauth_admins(id) ON DELETE CASCADE,
    expires     TEXT NOT NULL
) STRICT;

CREATE INDEX oauth_sessions_by_expiry ON oauth_sessions (expires);

CREATE TABLE oauth_grants (
    id          TEXT PRIMARY KEY,               -- UUIDv7; access tokens carry it
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    admin_id    TEXT REFERENCES oauth_admins(id) ON DELETE SET NULL,
    scopes      TEXT NOT NULL,
    created     TEXT NOT NULL,
    revoked     TEXT
) STRICT;

CREATE INDEX oauth_grants_by_client ON oauth_grants (client_id);

CREATE TABLE oauth_codes (
    digest          BLOB PRIMARY KEY CHECK (length(digest) = 32),
    grant_id        TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    redirect_uri    TEXT,                       -- as named in the authorization request, if it was
    code_challenge  TEXT,
    expires         TEXT NOT NULL,
    used            TEXT                        -- set on first redemption: codes are single-use
) STRICT;

CREATE INDEX oauth_codes_by_grant ON oauth_codes (grant_id);

CREATE TABLE oauth_refresh_tokens (
    digest      BLOB PRIMARY KEY CHECK (length(digest) = 32),
    grant_id    TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    expires     TEXT NOT NULL,
    used        TEXT                            -- set when rotated: a second use is a replay
) STRICT;

CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BLOB NOT NULL,                  -- PKCS#8; every replica signs with it
    public_jwk  TEXT NOT NULL,
    created     TEXT NOT NULL,
    retired     TEXT
) STRICT;
