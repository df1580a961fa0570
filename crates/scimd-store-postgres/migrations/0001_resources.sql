-- Tenants, resources, membership rows, the search index side table, and the audit log: the same
-- tables and columns as scimd-store-sqlite's 0001 (tests/schema_parity.rs keeps them in step).
--
-- Types, and why they differ from SQLite's:
-- * Ids are TEXT, not uuid: filters compare `id` with any string a client sends (`id eq "x"` must
--   match nothing, not fail a cast), and member ids are compared as text by the filter compiler.
-- * Times are RFC 3339 TEXT in UTC with exactly three fractional digits
--   (scimd_schema::value::format_datetime), as in SQLite: the compiler compares `meta.created` and
--   `meta.lastModified` with canonical text literals, and text order is time order.
-- * Keys are COLLATE "C": code-point order, as the in-memory evaluator orders strings, so the btree
--   indexes serve the range comparisons (gt/ge/lt/le, sw) the compiler writes with COLLATE "C".
-- * `doc` is json (kept byte for byte: jsonb would reorder the attributes of the document returned
--   to clients); `search`, which filters read, is jsonb.

CREATE TABLE tenants (
    id          TEXT COLLATE "C" PRIMARY KEY,   -- UUIDv7
    slug        TEXT COLLATE "C" NOT NULL UNIQUE,
    created     TEXT COLLATE "C" NOT NULL,
    settings    JSONB NOT NULL DEFAULT '{}'     -- per-tenant policies
);

CREATE TABLE resources (
    tenant_id        TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id               TEXT COLLATE "C" NOT NULL, -- UUIDv7: sorting by id is sorting by creation
    kind             TEXT COLLATE "C" NOT NULL CHECK (kind IN ('User', 'Group')),
    version          BIGINT NOT NULL,           -- ETag W/"<version>"
    created          TEXT COLLATE "C" NOT NULL,
    last_modified    TEXT COLLATE "C" NOT NULL,
    -- The uniqueness key, case-folded by scimd_schema::value::fold_case (full Unicode; PostgreSQL's
    -- lower() is not the same function): userName for Users, displayName for Groups (RFC 7643 §4.1.1
    -- userName "uniqueness": "server", caseExact false; Group displayName unique by scimd policy).
    name_key         TEXT COLLATE "C" NOT NULL,
    display_name_key TEXT COLLATE "C",          -- folded displayName (both kinds)
    display_name     TEXT,                      -- displayName as given (members' "display")
    user_name        TEXT,                      -- userName as given (members' "display" fallback)
    external_id      TEXT COLLATE "C",          -- caseExact (RFC 7643 §3.1), not unique
    active           BOOLEAN,
    password_hash    TEXT,                      -- Argon2id PHC string; never returned
    doc              JSON NOT NULL,             -- canonical JSON document, as returned
    search           JSONB NOT NULL,            -- the same, case-insensitive strings folded: what filters read
    PRIMARY KEY (tenant_id, id)
);

-- The database enforces uniqueness, so two replicas creating the same userName at once get one
-- success and one unique violation (→ 409 uniqueness), whatever the timing.
CREATE UNIQUE INDEX resources_name_key ON resources (tenant_id, kind, name_key);
-- Partial indexes: they serve `eq`, the ranges and `sw` (a range on the C-collated key), and `pr`
-- (IS NOT NULL is the partial index's predicate).
CREATE INDEX resources_external_id ON resources (tenant_id, kind, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX resources_display_name ON resources (tenant_id, kind, display_name_key) WHERE display_name_key IS NOT NULL;
CREATE INDEX resources_kind_id ON resources (tenant_id, kind, id);

-- Values of multi-valued attributes that clients filter on (emails.value), folded, one row each,
-- so `emails[type eq "work"].value eq "…"` is an index lookup and not a scan of JSON arrays.
CREATE TABLE resource_values (
    tenant_id   TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    attr        TEXT COLLATE "C" NOT NULL,      -- 'emails.value'
    value       TEXT COLLATE "C" NOT NULL,      -- folded
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX resource_values_lookup ON resource_values (tenant_id, attr, value);
CREATE INDEX resource_values_owner ON resource_values (tenant_id, resource_id);

-- Group membership: one row per (group, member). Adding one member to a group of 100,000 touches one
-- row; reading a group without members never reads this table (DESIGN.md "Data").
CREATE TABLE members (
    tenant_id   TEXT COLLATE "C" NOT NULL,
    group_id    TEXT COLLATE "C" NOT NULL,
    member_id   TEXT COLLATE "C" NOT NULL,
    member_kind TEXT COLLATE "C" NOT NULL CHECK (member_kind IN ('User', 'Group')),
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX members_by_member ON members (tenant_id, member_id, group_id);

-- Every write, in the same transaction as the write (issue 3).
CREATE TABLE audit (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     TEXT COLLATE "C" NOT NULL,
    at            TEXT COLLATE "C" NOT NULL,
    actor         TEXT NOT NULL,
    request_id    TEXT,
    operation     TEXT NOT NULL,                -- create | replace | patch | delete
    resource_kind TEXT NOT NULL,
    resource_id   TEXT COLLATE "C" NOT NULL,
    status        INTEGER NOT NULL,
    detail        JSONB                         -- e.g. {"skippedMembers": [...]}
);

CREATE INDEX audit_by_tenant ON audit (tenant_id, seq);

-- `co` (RFC 7644 §3.4.2.2 contains) on the hot columns (userName, displayName, externalId): trigram
-- indexes serve the LIKE the compiler writes for PostgreSQL. pg_trgm ships with PostgreSQL's
-- contrib package, but creating it needs a privilege a managed database may not grant: without it
-- the indexes are skipped and `co` scans (still correct, only slower).
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm is not available (%); co filters will not use an index', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX resources_name_key_trgm ON resources USING gin (name_key gin_trgm_ops);
        CREATE INDEX resources_display_name_trgm ON resources USING gin (display_name_key gin_trgm_ops);
        CREATE INDEX resources_external_id_trgm ON resources USING gin (external_id gin_trgm_ops);
    END IF;
END
$$;
