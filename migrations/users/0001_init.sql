-- The users service's schema: the tenant registry and tenant members.

-- The registry is platform scope: the edge resolves a tenant before any
-- tenant is known, so this table has no row-level security. Only the
-- users service's role can read it.
CREATE TABLE users.tenants (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text        NOT NULL UNIQUE
                CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{1,38})[a-z0-9]$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text        NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users.users (
    tenant_id     uuid        NOT NULL REFERENCES users.tenants (id),
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text        NOT NULL
                  CHECK (role IN ('owner', 'admin', 'manager', 'member',
                                  'viewer')),
    status        text        NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'deactivated')),
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Emails are unique per tenant, case-insensitively.
CREATE UNIQUE INDEX users_tenant_email_key ON users.users (tenant_id, lower(email));

-- Tenant isolation in the database: FORCE applies the policy to the table
-- owner too; an unset or empty app.tenant_id fails the uuid cast, so a
-- transaction that forgot its tenant sees an error, never every row.
ALTER TABLE users.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users.users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users.users
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));
