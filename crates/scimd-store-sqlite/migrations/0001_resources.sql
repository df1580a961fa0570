-- Tenants, resources, membership rows, the search index side table, and the audit log.
-- Every row is keyed by tenant first (DESIGN.md "Data"). Times are RFC 3339 text in UTC with
-- exactly three fractional digits (scimd_schema::value::format_datetime), so text order is time order.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,               -- UUIDv7
    slug        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}'      -- JSON: per-tenant policies
) STRICT;

CREATE TABLE resources (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id               TEXT NOT NULL,             -- UUIDv7: sorting by id is sorting by creation
    kind             TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
    version          INTEGER NOT NULL,          -- ETag W/"<version>"
    created          TEXT NOT NULL,
    last_modified    TEXT NOT NULL,
    -- The uniqueness key, folded: userName for Users, displayName for Groups (RFC 7643 §4.1.1
    -- userName "uniqueness": "server", caseExact false; Group displayName unique by scimd policy).
    name_key         TEXT NOT NULL,
    display_name_key TEXT,                      -- folded displayName (both kinds), for filters and member display
    display_name     TEXT,                      -- displayName as given (members' "display")
    user_name        TEXT,                      -- userName as given (members' "display" fallback)
    external_id      TEXT,                      -- caseExact (RFC 7643 §3.1), not unique
    active           INTEGER,
    password_hash    TEXT,                      -- Argon2id PHC string; never returned
    doc              TEXT NOT NULL,             -- canonical JSON document, as returned
    search           TEXT NOT NULL,             -- the same, case-insensitive strings folded: what filters read
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX resources_name_key ON resources (tenant_id, kind, name_key);
CREATE INDEX resources_external_id ON resources (tenant_id, kind, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX resources_display_name ON resources (tenant_id, kind, display_name_key) WHERE display_name_key IS NOT NULL;
CREATE INDEX resources_kind_id ON resources (tenant_id, kind, id);

-- Values of multi-valued attributes that clients filter on (emails.value), folded, one row each,
-- so `emails[type eq "work"].value eq "…"` is an index lookup and not a scan of JSON arrays.
CREATE TABLE resource_values (
    tenant_id   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    attr        TEXT NOT NULL,                  -- 'emails.value'
    value       TEXT NOT NULL,                  -- folded
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX resource_values_lookup ON resource_values (tenant_id, attr, value);
CREATE INDEX resource_values_owner ON resource_values (tenant_id, resource_id);

-- Group membership: one row per (group, member). Adding one member to a group of 100,000 touches one
-- row; reading a group without members never reads this table (DESIGN.md "Data").
CREATE TABLE members (
    tenant_id   TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_kind TEXT NOT NULL CHECK (member_kind IN ('User', 'Group')),
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX members_by_member ON members (tenant_id, member_id, group_id);

-- Every write, in the same transaction as the write (issue 3).
CREATE TABLE audit (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    request_id    TEXT,
    operation     TEXT NOT NULL,                -- create | replace | patch | delete
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    status        INTEGER NOT NULL,
    detail        TEXT                          -- JSON: e.g. {"skippedMembers": [...]}
) STRICT;

CREATE INDEX audit_by_tenant ON audit (tenant_id, seq);
