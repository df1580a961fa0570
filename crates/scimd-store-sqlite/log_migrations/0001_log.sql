-- The provisioning log (issue 5), in its own database file so recording a request never contends
-- with the data's single writer. One row per SCIM request; `id` is a UUIDv7, so its order is time
-- order and it is the paging cursor.

CREATE TABLE log (
    id               TEXT PRIMARY KEY,
    time             TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    credential_id    TEXT,
    credential_name  TEXT,
    credential_kind  TEXT,
    client           TEXT NOT NULL,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    status           INTEGER NOT NULL,
    scim_type        TEXT,
    detail           TEXT,
    duration_us      INTEGER NOT NULL,
    resource_id      TEXT,
    request_body     TEXT,
    request_id       TEXT
) STRICT;

-- Reading is per tenant, newest first, optionally by status; pruning is by time.
CREATE INDEX log_by_tenant ON log (tenant_id, id);
CREATE INDEX log_by_tenant_status ON log (tenant_id, status, id);
CREATE INDEX log_by_time ON log (time);
