-- How many resources of each kind a tenant has, kept by triggers in the same transaction as the
-- insert or delete (issue 7). An unfiltered list's totalResults (RFC 7644 §3.4.2) reads this one
-- row instead of counting the index: count(*) over a tenant of 1,000,000 users read the whole
-- index on every `GET /Users?startIndex=1&count=100` (12 requests/s, p50 2.1 s). Triggers, not
-- application code, so that every path that adds or removes a resource row (a tenant's deletion
-- cascading, a savepoint rolled back) keeps the count exact.

CREATE TABLE resource_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind)
) STRICT, WITHOUT ROWID;

INSERT INTO resource_counts (tenant_id, kind, n)
    SELECT tenant_id, kind, count(*) FROM resources GROUP BY tenant_id, kind;

CREATE TRIGGER resources_counted_on_insert AFTER INSERT ON resources BEGIN
    INSERT OR IGNORE INTO resource_counts (tenant_id, kind, n) VALUES (NEW.tenant_id, NEW.kind, 0);
    UPDATE resource_counts SET n = n + 1 WHERE tenant_id = NEW.tenant_id AND kind = NEW.kind;
END;

CREATE TRIGGER resources_counted_on_delete AFTER DELETE ON resources BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE tenant_id = OLD.tenant_id AND kind = OLD.kind;
END;
