-- POST /api/reports/exports with an Idempotency-Key (API.md): the table of
-- libcommon/lc_idem.h, as migrations/projects/ has it.
CREATE TABLE reporting.idempotency_keys (
    tenant_id         uuid        NOT NULL,
    user_id           uuid        NOT NULL,
    route             text        NOT NULL CHECK (length(route) <= 300),
    key               text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash      text        NOT NULL CHECK (length(request_hash) = 64),
    state             text        NOT NULL DEFAULT 'running'
                      CHECK (state IN ('running', 'done')),
    response_status   integer,
    response_body     text,
    response_etag     text,
    response_location text        CHECK (length(response_location) <= 200),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, route, key)
);
CREATE INDEX idempotency_keys_tenant_created
    ON reporting.idempotency_keys (tenant_id, created_at);
SELECT lintel.enable_tenant_rls('reporting.idempotency_keys');
