-- Expired idempotency keys are purged per tenant, a few at a time, each
-- time that tenant claims a new key (services/projects/idempotency.c): the
-- purge runs in the tenant's own transaction, under its row-level
-- security, so no cross-tenant job needs to see every tenant's keys. This
-- index makes that purge, and the search for nothing to purge, cheap.
DROP INDEX projects.idempotency_keys_created;
CREATE INDEX idempotency_keys_tenant_created
    ON projects.idempotency_keys (tenant_id, created_at);
