-- The provisioning log (issue 5): one row per SCIM request, the same columns as scimd-store-sqlite's
-- log_migrations/0001_log.sql. SQLite keeps it in a second file so that recording a request never
-- queues behind its single writer; PostgreSQL has no single writer, so the log is a table of the one
-- database every replica writes to, and every replica's requests show in `scimd logs`. `id` is a
-- UUIDv7: its order is time order and it is the paging cursor.

CREATE TABLE log (
    id               TEXT COLLATE "C" PRIMARY KEY,
    time             TEXT COLLATE "C" NOT NULL,
    tenant_id        TEXT COLLATE "C" NOT NULL,
    credential_id    TEXT,
    credential_name  TEXT,
    credential_kind  TEXT,
    client           TEXT NOT NULL,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    status           INTEGER NOT NULL,
    scim_type        TEXT,
    detail           TEXT,
    duration_us      BIGINT NOT NULL,
    resource_id      TEXT,
    request_body     TEXT,
    request_id       TEXT
);

-- Reading is per tenant, newest first, optionally by status; pruning is by time.
CREATE INDEX log_by_tenant ON log (tenant_id, id);
CREATE INDEX log_by_tenant_status ON log (tenant_id, status, id);
CREATE INDEX log_by_time ON log (time);
