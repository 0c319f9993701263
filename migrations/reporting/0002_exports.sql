-- Asynchronous CSV exports (issue 12, point 3): the job runner's table
-- (libcommon/lc_jobs.h), each export's state, and its file, stored here in
-- chunks under row-level security so that any instance of the service can
-- serve a download.

-- Cross-tenant on purpose (tests/e2e/test_rls.py lists it), as users.jobs:
-- every runner finds the due jobs of every tenant and caps each tenant's
-- running ones. A job holds an export's id, never a tenant's data.
CREATE TABLE reporting.jobs (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid,
    kind         text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload      jsonb       NOT NULL DEFAULT '{}',
    status       text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'failed', 'dead',
                                   'done')),
    attempts     integer     NOT NULL DEFAULT 0,
    max_attempts integer     NOT NULL CHECK (max_attempts BETWEEN 1 AND 1000),
    run_at       timestamptz NOT NULL DEFAULT now(),
    lease_id     uuid,
    leased_by    text,
    lease_until  timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK ((status = 'running') = (lease_id IS NOT NULL
                                   AND lease_until IS NOT NULL))
);
CREATE INDEX jobs_due ON reporting.jobs (run_at) WHERE status IN ('queued', 'failed');
CREATE INDEX jobs_running ON reporting.jobs (tenant_id) WHERE status = 'running';
CREATE INDEX jobs_lease ON reporting.jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_done ON reporting.jobs (finished_at) WHERE status = 'done';
CREATE INDEX jobs_created ON reporting.jobs (created_at DESC, id);

-- One export: what was asked, by whom, and how far it got. `expired` is
-- not stored: an export past expires_at is expired, its chunks purged.
CREATE TABLE reporting.exports (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind         text        NOT NULL
                 CHECK (kind IN ('projects', 'tasks', 'activity', 'audit')),
    format       text        NOT NULL CHECK (format = 'csv'),
    filters      jsonb       NOT NULL DEFAULT '{}',
    requested_by uuid        NOT NULL,
    status       text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress     integer     NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    row_count    bigint      NOT NULL DEFAULT 0,
    total_rows   bigint,
    bytes        bigint      NOT NULL DEFAULT 0,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX exports_expires ON reporting.exports (tenant_id, expires_at);
SELECT lintel.enable_tenant_rls('reporting.exports');

-- The file: chunk 0 is the header row, then the rows in key order.
CREATE TABLE reporting.export_chunks (
    tenant_id uuid    NOT NULL,
    export_id uuid    NOT NULL,
    n         integer NOT NULL CHECK (n >= 0),
    data      text    NOT NULL,
    PRIMARY KEY (tenant_id, export_id, n),
    FOREIGN KEY (tenant_id, export_id)
        REFERENCES reporting.exports (tenant_id, id) ON DELETE CASCADE
);
SELECT lintel.enable_tenant_rls('reporting.export_chunks');

-- One CSV cell (RFC 4180): NULL is empty; text is quoted, its quotes
-- doubled; a cell that a spreadsheet would take for a formula (it begins
-- with =, +, -, @, tab or CR) is prefixed with a quote ('), which makes it
-- text (OWASP, "CSV injection"). No SET search_path: a function with one
-- is never inlined, and a call per cell would cost most of an export; the
-- names are schema-qualified instead.
CREATE FUNCTION reporting.csv_cell(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN ''
                ELSE '"' OPERATOR(pg_catalog.||) pg_catalog.replace(
                         CASE WHEN v OPERATOR(pg_catalog.~) '^[-=+@\t\r]'
                              THEN '''' OPERATOR(pg_catalog.||) v ELSE v END,
                         '"', '""') OPERATOR(pg_catalog.||) '"' END;
$$;
REVOKE ALL ON FUNCTION reporting.csv_cell(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.csv_cell(text) TO lintel_reporting;
