-- Durable jobs (libcommon/lc_jobs.h): the runner's table, and the mail
-- sender moved onto it. A mail is a job of kind "mail.send" whose payload
-- names its message; the message itself stays in users.mail_outbox, under
-- row-level security, and its delivery attempts are counted by the job.
--
-- Cross-tenant on purpose (tests/e2e/test_rls.py lists it): every runner
-- finds the due jobs of every tenant, and caps each tenant's running ones.
-- So a job holds references, states and times only, never a tenant's data:
-- the handler reads that in a transaction of the job's tenant, under RLS.
-- Only the users service's own role can read the table at all.
CREATE TABLE users.jobs (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid,       -- NULL: a platform job, outside tenant caps
    kind         text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload      jsonb       NOT NULL DEFAULT '{}',
    status       text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'failed', 'dead',
                                   'done')),
    attempts     integer     NOT NULL DEFAULT 0,
    max_attempts integer     NOT NULL CHECK (max_attempts BETWEEN 1 AND 1000),
    run_at       timestamptz NOT NULL DEFAULT now(),
    lease_id     uuid,       -- drawn per claim: fences a late outcome
    leased_by    text,       -- host:pid of the runner
    lease_until  timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK ((status = 'running') = (lease_id IS NOT NULL
                                   AND lease_until IS NOT NULL))
);
-- Due jobs, in order; running jobs per tenant (the cap) and by lease end
-- (expiry); finished ones by age (purge); the newest first (jobs list).
CREATE INDEX jobs_due ON users.jobs (run_at) WHERE status IN ('queued', 'failed');
CREATE INDEX jobs_running ON users.jobs (tenant_id) WHERE status = 'running';
CREATE INDEX jobs_lease ON users.jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_done ON users.jobs (finished_at) WHERE status = 'done';
CREATE INDEX jobs_created ON users.jobs (created_at DESC, id);

-- Mail still waiting for delivery becomes a job, with the attempts it
-- already had; mail given up becomes a dead job. The migrator reads every
-- tenant's outbox for that, so the table's forced RLS is lifted for the
-- owner for this one statement of this transaction, and put back.
ALTER TABLE users.mail_outbox NO FORCE ROW LEVEL SECURITY;
INSERT INTO users.jobs (tenant_id, kind, payload, status, attempts,
                        max_attempts, run_at, last_error, finished_at)
SELECT o.tenant_id, 'mail.send', jsonb_build_object('outbox_id', o.id),
       CASE WHEN o.failed_at IS NOT NULL THEN 'dead'
            WHEN o.attempts > 0 THEN 'failed' ELSE 'queued' END,
       o.attempts, greatest(o.attempts, 8),
       coalesce(q.next_attempt_at, o.created_at), o.last_error, o.failed_at
  FROM users.mail_outbox o
  LEFT JOIN users.mail_queue q
    ON q.tenant_id = o.tenant_id AND q.outbox_id = o.id
 WHERE o.sent_at IS NULL AND (q.outbox_id IS NOT NULL OR o.failed_at IS NOT NULL);
ALTER TABLE users.mail_outbox FORCE ROW LEVEL SECURITY;

-- The job counts attempts and keeps the last error now.
DROP TABLE users.mail_queue;
ALTER TABLE users.mail_outbox DROP COLUMN attempts,
                              DROP COLUMN failed_at,
                              DROP COLUMN last_error;
