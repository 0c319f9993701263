-- The platform's view of every subscription (GET /api/admin/billing/
-- subscriptions): plan, state, seats billed and monthly recurring revenue
-- per tenant. Cross-tenant on purpose (tests/e2e/test_rls.py lists it):
-- the platform admin reads every tenant's row, and billing.subscriptions
-- stays under row-level security; a trigger keeps this copy in step with
-- it, in the same transaction.

-- Seats billed: counted by users at each plan change and each invoice.
ALTER TABLE billing.subscriptions
    ADD COLUMN seats integer NOT NULL DEFAULT 1 CHECK (seats >= 0);

CREATE TABLE billing.subscription_directory (
    tenant_id    uuid        PRIMARY KEY,
    plan_code    text        NOT NULL,
    plan_version integer     NOT NULL,
    state        text        NOT NULL,
    seats        integer     NOT NULL,
    -- what the tenant pays a month now: its plan's seat price times its
    -- seats; nothing during a trial or once canceled
    mrr_minor    bigint      NOT NULL,
    currency     text        NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE FUNCTION billing.subscriptions_directory() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO billing.subscription_directory AS d
    SELECT NEW.tenant_id, NEW.plan_code, NEW.plan_version, NEW.state,
           NEW.seats,
           CASE WHEN NEW.state IN ('active', 'past_due')
                THEN p.seat_price_minor * NEW.seats ELSE 0 END,
           p.currency, NEW.updated_at
      FROM billing.plans p
     WHERE (p.code, p.version) = (NEW.plan_code, NEW.plan_version)
    ON CONFLICT (tenant_id) DO UPDATE
       SET plan_code = EXCLUDED.plan_code, plan_version = EXCLUDED.plan_version,
           state = EXCLUDED.state, seats = EXCLUDED.seats,
           mrr_minor = EXCLUDED.mrr_minor, currency = EXCLUDED.currency,
           updated_at = EXCLUDED.updated_at;
    RETURN NULL;
END
$$;
ALTER FUNCTION billing.subscriptions_directory() OWNER TO lintel_migrator;
CREATE TRIGGER subscriptions_directory
    AFTER INSERT OR UPDATE ON billing.subscriptions
    FOR EACH ROW EXECUTE FUNCTION billing.subscriptions_directory();

-- The subscriptions made before the directory existed (the migrator reads
-- every tenant's: forced RLS lifted for this statement, and put back).
ALTER TABLE billing.subscriptions NO FORCE ROW LEVEL SECURITY;
UPDATE billing.subscriptions SET seats = seats; -- fires the trigger
ALTER TABLE billing.subscriptions FORCE ROW LEVEL SECURITY;
