-- Daily usage snapshots (the job usage.snapshot): seats and active
-- projects per tenant as users and projects count them, and whether they
-- were over the plan's limits then (an entitlement check skipped during a
-- billing outage shows up here; the next invoice bills the seats).
CREATE TABLE billing.usage_snapshots (
    tenant_id     uuid        NOT NULL,
    day           date        NOT NULL,
    seats         integer     NOT NULL CHECK (seats >= 0),
    projects      integer     NOT NULL CHECK (projects >= 0),
    plan_code     text        NOT NULL,
    over_seats    boolean     NOT NULL,
    over_projects boolean     NOT NULL,
    taken_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);
SELECT lintel.enable_tenant_rls('billing.usage_snapshots');

-- At most one snapshot run waits at a time, whichever replica enqueues it.
CREATE UNIQUE INDEX jobs_one_usage_snapshot ON billing.jobs (kind)
    WHERE kind = 'usage.snapshot' AND status IN ('queued', 'failed');
