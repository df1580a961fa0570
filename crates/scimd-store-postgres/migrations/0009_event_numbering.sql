-- Event numbers given after the commit (replaces the numbering 0007 describes; see
-- src/sequencer.rs and docs/events.md, "Guarantees, and how they are kept").
--
-- 0007 numbered a write's events from the tenant's `event_heads` row as its last statement, and
-- the row's lock, held until the COMMIT had flushed, queued every writer of a tenant on every
-- replica behind the one before it: with two replicas, creates fell from 1,273 to 534 per second.
--
-- Now a write inserts its events with placeholder numbers, the negation of values of this
-- sequence (taken in the write's order), and commits without touching `event_heads`. Whoever
-- reads the log first numbers what waits, with `number_events` below: a read of the events or of
-- the head, the delivery worker before it fans out, and every replica's sweep each second. One
-- short transaction locks the `event_heads` row, gives the placeholders the next numbers in
-- placeholder order, writes `"seq"` into each body and raises the head: every write since the
-- last read in one transaction. A reader reads `seq > N` with N >= 0, so it never sees a
-- placeholder, and a numbering commits its numbers at once: a reader that has seen N has seen
-- every event at or below N. Two writes of one resource are ordered by the resource row's lock,
-- and the later takes its placeholders after the earlier committed: their events keep that order.
CREATE SEQUENCE event_placeholders;

-- The placeholders still waiting: what a numbering looks for. Small, since every read and every
-- second's sweep empties it.
CREATE INDEX events_placeholders ON events (tenant_id) WHERE seq < 0;

-- Numbers at most `most` of `tenant`'s placeholders; returns how many. One call is one round trip
-- and, called alone, one transaction, which writes nothing when nothing waits. VOLATILE, so each statement below takes a fresh snapshot
-- (PostgreSQL, "Function Volatility Categories"): the numbering statement runs after the row lock
-- was granted and sees every number the previous holder committed, so it numbers exactly the
-- placeholders still left, without a hole.
CREATE FUNCTION number_events(tenant TEXT, most BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head BIGINT;
    numbered BIGINT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = tenant AND e.seq < 0) THEN
        RETURN 0;
    END IF;
    SELECT h.seq INTO head FROM event_heads h WHERE h.tenant_id = tenant FOR UPDATE;
    IF NOT FOUND THEN
        -- The tenant's first events: the row is created, and locked by creating it.
        INSERT INTO event_heads AS h (tenant_id, seq) VALUES (tenant, 0)
            ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq RETURNING h.seq INTO head;
    END IF;
    -- Placeholder order is `seq` descending (-1 before -2); the body gains `"seq"` as its first
    -- member (it was rendered without: `{` then the rest).
    WITH waiting AS (
        SELECT e.seq AS held, head + row_number() OVER (ORDER BY e.seq DESC) AS seq
        FROM events e WHERE e.tenant_id = tenant AND e.seq < 0 ORDER BY e.seq DESC LIMIT most
    ), done AS (
        UPDATE events e SET seq = w.seq, body = '{"seq":"' || w.seq || '",' || substr(e.body, 2)
        FROM waiting w WHERE e.tenant_id = tenant AND e.seq = w.held RETURNING 1
    )
    SELECT count(*) INTO numbered FROM done;
    IF numbered > 0 THEN
        UPDATE event_heads SET seq = head + numbered WHERE tenant_id = tenant;
    END IF;
    RETURN numbered;
END
$$;
