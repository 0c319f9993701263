-- Invoices: one per subscription period, numbered per tenant without gaps
-- when finalised, and immutable once final (corrections are credit notes,
-- never edits). The monthly invoicing run (services/billing/invoices.c,
-- `lintel-billing invoice --as-of`, job invoice.run) makes them.

-- The last number given to each tenant's invoices. Finalisation takes the
-- next one from this row in the finalising transaction (not a sequence,
-- whose numbers are lost on rollback): the row lock makes concurrent
-- finalisations of one tenant take turns, and a rolled-back one gives its
-- number back. So a tenant's final invoices are numbered 1..n, no gap.
CREATE TABLE billing.invoice_counters (
    tenant_id   uuid    PRIMARY KEY,
    last_number integer NOT NULL CHECK (last_number >= 0)
);
SELECT lintel.enable_tenant_rls('billing.invoice_counters');

CREATE TABLE billing.invoices (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    number        integer     CHECK (number >= 1),  -- NULL while a draft
    status        text        NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'open', 'paid')),
    plan_code     text        NOT NULL,
    plan_version  integer     NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL,
    currency      text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor   bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finalized_at  timestamptz,
    paid_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (plan_code, plan_version) REFERENCES billing.plans (code, version),
    -- one invoice per period: an invoicing run made twice makes no second
    CONSTRAINT invoices_tenant_period_key UNIQUE (tenant_id, period_start),
    CONSTRAINT invoices_tenant_number_key UNIQUE (tenant_id, number),
    CONSTRAINT invoices_final_numbered
        CHECK ((status = 'draft') = (number IS NULL)
               AND (status = 'draft') = (finalized_at IS NULL)),
    CONSTRAINT invoices_period_ordered CHECK (period_end > period_start)
);
-- Keyset paging, newest first (number, then created for drafts).
CREATE INDEX invoices_tenant_created ON billing.invoices (tenant_id, created_at, id);
SELECT lintel.enable_tenant_rls('billing.invoices');

CREATE TABLE billing.invoice_lines (
    tenant_id        uuid   NOT NULL,
    invoice_id       uuid   NOT NULL,
    position         integer NOT NULL CHECK (position >= 1),
    description      text   NOT NULL CHECK (length(description) BETWEEN 1 AND 300),
    quantity         integer NOT NULL CHECK (quantity >= 0),
    unit_price_minor bigint NOT NULL,
    amount_minor     bigint NOT NULL,
    period_start     date   NOT NULL,
    period_end       date   NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, position),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing.invoices (tenant_id, id)
);
SELECT lintel.enable_tenant_rls('billing.invoice_lines');

-- A pending charge belongs to the invoice that bills it. Checking the new
-- foreign key reads every tenant's rows, as the owner: the table's forced
-- RLS is lifted for this transaction's statement, and put back.
ALTER TABLE billing.pending_charges ADD COLUMN invoice_id uuid;
ALTER TABLE billing.pending_charges NO FORCE ROW LEVEL SECURITY;
ALTER TABLE billing.pending_charges ADD CONSTRAINT pending_charges_invoice_fkey
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing.invoices (tenant_id, id);
ALTER TABLE billing.pending_charges FORCE ROW LEVEL SECURITY;
CREATE INDEX pending_charges_open ON billing.pending_charges (tenant_id)
    WHERE invoice_id IS NULL;

-- Finalises a draft: the tenant's next number, in the caller's
-- transaction. Returns the number (the one it had, for an invoice already
-- final). Runs under the caller's row-level security (SECURITY INVOKER).
CREATE FUNCTION billing.finalize_invoice(invoice uuid) RETURNS integer
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog AS $$
DECLARE
    t uuid := current_setting('app.tenant_id')::uuid;
    n integer;
    st text;
BEGIN
    SELECT status, number INTO st, n FROM billing.invoices
     WHERE tenant_id = t AND id = invoice FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such invoice' USING ERRCODE = 'no_data_found';
    END IF;
    IF st <> 'draft' THEN
        RETURN n;
    END IF;
    INSERT INTO billing.invoice_counters AS c (tenant_id, last_number)
    VALUES (t, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING last_number INTO n;
    UPDATE billing.invoices SET status = 'open', number = n,
           finalized_at = now(),
           total_minor = (SELECT coalesce(sum(amount_minor), 0)
                            FROM billing.invoice_lines
                           WHERE tenant_id = t AND invoice_id = invoice)
     WHERE tenant_id = t AND id = invoice;
    RETURN n;
END
$$;
ALTER FUNCTION billing.finalize_invoice(uuid) OWNER TO lintel_migrator;
GRANT EXECUTE ON FUNCTION billing.finalize_invoice(uuid) TO lintel_billing;

-- A final invoice and its lines are immutable: only its payment may be
-- recorded (open → paid, with paid_at). Refused with SQLSTATE 55000
-- (object_not_in_prerequisite_state), whoever tries, the owner included.
CREATE FUNCTION billing.invoices_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is final: it cannot be deleted', OLD.number
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND NOT (
        OLD.status = 'open' AND NEW.status = 'paid' AND NEW.paid_at IS NOT NULL
        AND (NEW.tenant_id, NEW.id, NEW.number, NEW.plan_code, NEW.plan_version,
             NEW.period_start, NEW.period_end, NEW.currency, NEW.total_minor,
             NEW.created_at, NEW.finalized_at)
        IS NOT DISTINCT FROM
            (OLD.tenant_id, OLD.id, OLD.number, OLD.plan_code, OLD.plan_version,
             OLD.period_start, OLD.period_end, OLD.currency, OLD.total_minor,
             OLD.created_at, OLD.finalized_at)) THEN
        RAISE EXCEPTION 'invoice % is final: it cannot be changed', OLD.number
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;
ALTER FUNCTION billing.invoices_immutable() OWNER TO lintel_migrator;
CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON billing.invoices
    FOR EACH ROW EXECUTE FUNCTION billing.invoices_immutable();

-- Lines may only be written while their invoice is a draft (checked for
-- the invoice a line leaves and the one it joins).
CREATE FUNCTION billing.invoice_lines_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF EXISTS (SELECT FROM billing.invoices i
                WHERE i.status <> 'draft'
                  AND ((TG_OP <> 'INSERT' AND i.tenant_id = OLD.tenant_id
                        AND i.id = OLD.invoice_id)
                    OR (TG_OP <> 'DELETE' AND i.tenant_id = NEW.tenant_id
                        AND i.id = NEW.invoice_id))) THEN
        RAISE EXCEPTION 'the lines of a final invoice cannot be changed'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
ALTER FUNCTION billing.invoice_lines_immutable() OWNER TO lintel_migrator;
CREATE TRIGGER invoice_lines_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON billing.invoice_lines
    FOR EACH ROW EXECUTE FUNCTION billing.invoice_lines_immutable();

-- When each tenant's current period ends: the invoicing run's work list.
-- Cross-tenant on purpose (tests/e2e/test_rls.py lists it), like the jobs
-- table: the run finds the due tenants of every tenant, so it holds a
-- reference and a date only; the subscription itself stays under RLS and
-- is read in a transaction of its tenant. Kept by a trigger of
-- billing.subscriptions, so it cannot drift from the periods.
CREATE TABLE billing.invoice_schedule (
    tenant_id uuid PRIMARY KEY,
    due_on    date NOT NULL
);
CREATE INDEX invoice_schedule_due ON billing.invoice_schedule (due_on);

CREATE FUNCTION billing.subscriptions_schedule() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.state = 'canceled' THEN
        DELETE FROM billing.invoice_schedule WHERE tenant_id = NEW.tenant_id;
    ELSE
        INSERT INTO billing.invoice_schedule AS s (tenant_id, due_on)
        VALUES (NEW.tenant_id, NEW.period_end)
        ON CONFLICT (tenant_id) DO UPDATE SET due_on = EXCLUDED.due_on
        WHERE s.due_on IS DISTINCT FROM EXCLUDED.due_on;
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION billing.subscriptions_schedule() OWNER TO lintel_migrator;
CREATE TRIGGER subscriptions_schedule
    AFTER INSERT OR UPDATE OF period_end, state ON billing.subscriptions
    FOR EACH ROW EXECUTE FUNCTION billing.subscriptions_schedule();

-- The subscriptions made before the schedule existed. The migrator reads
-- every tenant's for that, so the table's forced RLS is lifted for the
-- owner for this one statement of this transaction, and put back.
ALTER TABLE billing.subscriptions NO FORCE ROW LEVEL SECURITY;
INSERT INTO billing.invoice_schedule (tenant_id, due_on)
SELECT tenant_id, period_end FROM billing.subscriptions WHERE state <> 'canceled';
ALTER TABLE billing.subscriptions FORCE ROW LEVEL SECURITY;

-- Durable jobs (libcommon/lc_jobs.h; the model is users' 0003_jobs.sql):
-- the monthly invoicing run is the job invoice.run. Cross-tenant on
-- purpose, as there: references, states and times only.
CREATE TABLE billing.jobs (
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
CREATE INDEX jobs_due ON billing.jobs (run_at) WHERE status IN ('queued', 'failed');
CREATE INDEX jobs_running ON billing.jobs (tenant_id) WHERE status = 'running';
CREATE INDEX jobs_lease ON billing.jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_done ON billing.jobs (finished_at) WHERE status = 'done';
CREATE INDEX jobs_created ON billing.jobs (created_at DESC, id);
-- At most one invoicing run waits at a time, whichever replica enqueues it.
CREATE UNIQUE INDEX jobs_one_invoice_run ON billing.jobs (kind)
    WHERE kind = 'invoice.run' AND status IN ('queued', 'failed');
