-- Verified domains (issue 5): a tenant claims a domain, publishes the token in a DNS TXT record,
-- and once verified only users in its verified domains are accepted. As scimd-store-sqlite's 0004.
CREATE TABLE tenant_domains (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    domain      TEXT COLLATE "C" NOT NULL,      -- lower-case
    token       TEXT NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    verified    TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, domain)
);
