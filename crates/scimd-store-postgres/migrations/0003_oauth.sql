-- The OAuth 2.0 authorization server (issue 4): the same tables and columns as scimd-store-sqlite's
-- 0003 (tests/store/parity.rs keeps them in step). Secrets are SHA-256 digests looked up through
-- unique indexes; passwords are Argon2id PHC strings; times are RFC 3339 text as in 0001.
--
-- Across replicas: codes and refresh tokens are spent by one conditional UPDATE (… WHERE used IS
-- NULL RETURNING), so exactly one redemption is the first; signing keys live here, so every replica
-- signs with the same key and verifies every replica's tokens.

CREATE TABLE oauth_clients (
    client_id       TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    grant_type      TEXT NOT NULL CHECK (grant_type IN ('client_credentials', 'authorization_code')),
    secret_digest   BYTEA CHECK (secret_digest IS NULL OR octet_length(secret_digest) = 32),
    redirect_uris   TEXT NOT NULL,              -- JSON array of strings
    scopes          TEXT NOT NULL,              -- canonical names, space-separated
    created         TEXT COLLATE "C" NOT NULL,
    secret_rotated  TEXT COLLATE "C"
);

CREATE INDEX oauth_clients_by_tenant ON oauth_clients (tenant_id, created);

CREATE TABLE oauth_admins (
    id                  TEXT COLLATE "C" PRIMARY KEY,   -- UUIDv7
    tenant_id           TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email               TEXT NOT NULL,
    email_key           TEXT COLLATE "C" NOT NULL,      -- case-folded (fold_case), for the unique index and sign-in
    password_hash       TEXT NOT NULL,                  -- Argon2id PHC string
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    last_failed_login   TEXT COLLATE "C",
    created             TEXT COLLATE "C" NOT NULL,
    CONSTRAINT oauth_admins_email_key UNIQUE (tenant_id, email_key)
);

CREATE TABLE oauth_sessions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    digest      BYTEA NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    csrf        TEXT NOT NULL,
    admin_id    TEXT COLLATE "C" REFERENCES oauth_admins(id) ON DELETE CASCADE,
    expires     TEXT COLLATE "C" NOT NULL
);

CREATE INDEX oauth_sessions_by_expiry ON oauth_sessions (expires);

CREATE TABLE oauth_grants (
    id          TEXT COLLATE "C" PRIMARY KEY,   -- UUIDv7; access tokens carry it
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id   TEXT COLLATE "C" NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    admin_id    TEXT COLLATE "C" REFERENCES oauth_admins(id) ON DELETE SET NULL,
    scopes      TEXT NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    revoked     TEXT COLLATE "C"
);

CREATE INDEX oauth_grants_by_client ON oauth_grants (client_id);

CREATE TABLE oauth_codes (
    digest          BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    grant_id        TEXT COLLATE "C" NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    redirect_uri    TEXT,                       -- as named in the authorization request, if it was
    code_challenge  TEXT,
    expires         TEXT COLLATE "C" NOT NULL,
    used            TEXT COLLATE "C"            -- set on first redemption: codes are single-use
);

CREATE INDEX oauth_codes_by_grant ON oauth_codes (grant_id);

CREATE TABLE oauth_refresh_tokens (
    digest      BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    grant_id    TEXT COLLATE "C" NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    expires     TEXT COLLATE "C" NOT NULL,
    used        TEXT COLLATE "C"                -- set when rotated: a second use is a replay
);

CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);

CREATE TABLE signing_keys (
    kid         TEXT COLLATE "C" PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BYTEA NOT NULL,                 -- PKCS#8; every replica signs with it
    public_jwk  TEXT NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    retired     TEXT COLLATE "C"
);
