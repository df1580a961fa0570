-- The event log (docs/events.md). Each write appends its events in the transaction of the change;
-- `event_heads.seq` is the tenant's counter, incremented by that transaction as its last statement,
-- so numbers follow commit order and have no holes. `pruned` is the highest seq retention deleted:
-- a reader asking for events after an earlier seq would miss some, and is told so (410).

CREATE TABLE event_heads (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    pruned      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A rowid table, unlike `resources`: an event's body (a whole user) is often over the ~1,000 bytes
-- an index b-tree (which a WITHOUT ROWID table is) keeps in its page, and each one would cost an
-- overflow page; a table b-tree keeps up to ~4,000. Both b-trees are appended to at their right
-- edge. Retention deletes each tenant's oldest events by seq (they are the front of
-- `events_by_seq`), so no index on time is written with every event.
CREATE TABLE events (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,                  -- UUIDv7
    type        TEXT NOT NULL,                  -- user.created, group.member_added, ...
    resource_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,                  -- RFC 3339, UTC, text order is time order
    body        TEXT NOT NULL                   -- the event as JSON, as readers receive it
) STRICT;

CREATE UNIQUE INDEX events_by_seq ON events (tenant_id, seq);
