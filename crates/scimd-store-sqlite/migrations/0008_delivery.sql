-- Event delivery (docs/events.md, "Delivery"): the endpoints a tenant registers (webhooks and NATS
-- sinks) and one row per event to deliver to each, the outbox the delivery workers claim from.
--
-- `secret` is the endpoint's signing key (Standard Webhooks `whsec_…`). Unlike a token it cannot
-- be stored as a digest: every delivery is signed with the key itself, as the server's JWT keys
-- in `signing_keys` are. It is shown once, redacted in logs, and never returned by a listing.
-- `cursor` is the highest seq of the tenant's log already fanned out into `deliveries`.
-- Scheduling times are Unix milliseconds: compared on every claim, never shown as text.

CREATE TABLE delivery_endpoints (
    id                TEXT PRIMARY KEY,         -- UUIDv7
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,            -- webhook | nats
    url               TEXT NOT NULL,
    format            TEXT NOT NULL,            -- standard | set (webhooks), json (nats)
    subject           TEXT,                     -- nats: the subject template
    audience          TEXT,                     -- set: the `aud` claim
    types             TEXT NOT NULL,            -- type patterns, space-separated; empty: every type
    secret            TEXT,
    previous_secret   TEXT,                     -- still signing until previous_until (rotation)
    previous_until    INTEGER,
    enabled           INTEGER NOT NULL,
    disabled_reason   TEXT,
    failing_since     INTEGER,                  -- first failure since the last success
    cursor            INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX delivery_endpoints_by_tenant ON delivery_endpoints (tenant_id, id);

-- One event (or a `test` ping, seq 0 with its own body) to send to one endpoint. `resource_id`
-- orders deliveries: of one endpoint and one resource, only the lowest pending seq may be sent.
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,         -- UUIDv7
    endpoint_id       TEXT NOT NULL REFERENCES delivery_endpoints(id) ON DELETE CASCADE,
    tenant_id         TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    event_id          TEXT NOT NULL,            -- webhook-id, Nats-Msg-Id: stable across retries
    resource_id       TEXT NOT NULL,
    body              TEXT,                     -- only for pings: events are read from `events`
    state             TEXT NOT NULL,            -- pending | delivered | dead
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    lease_until       INTEGER,
    last_status       INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER
) STRICT;

-- The head of each (endpoint, resource) queue, and what is due.
CREATE INDEX deliveries_queue ON deliveries (endpoint_id, resource_id, seq) WHERE state = 'pending';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
-- Listing an endpoint's deliveries, newest first.
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, created_at);
-- Dead letters, counted per endpoint for the metrics.
CREATE INDEX deliveries_dead ON deliveries (endpoint_id) WHERE state = 'dead';
-- Pruning what was delivered long ago.
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE state = 'delivered';
