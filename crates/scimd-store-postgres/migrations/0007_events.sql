-- The event log: the same tables and columns as scimd-store-sqlite's 0007 (docs/events.md).
--
-- Across replicas: a write takes its numbers with `INSERT … ON CONFLICT DO UPDATE … RETURNING` on
-- the tenant's `event_heads` row as the last statement before COMMIT. The row lock it takes is
-- held until the commit, so the next writer of the tenant gets its numbers only once this
-- transaction is visible: numbers follow commit order, and a reader that sees seq N sees every
-- event at or below N.

CREATE TABLE event_heads (
    tenant_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    pruned      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    occurred_at TEXT COLLATE "C" NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
-- No index on time: retention deletes each tenant's oldest events by seq (the front of the key).
