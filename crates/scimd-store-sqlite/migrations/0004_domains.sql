-- Verified domains (issue 5): a tenant claims a domain, publishes the token in a DNS TXT record,
-- and once verified only users in its verified domains are accepted.
CREATE TABLE tenant_domains (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    domain      TEXT NOT NULL,                  -- lower-case
    token       TEXT NOT NULL,
    created     TEXT NOT NULL,
    verified    TEXT,
    PRIMARY KEY (tenant_id, domain)
) STRICT;
