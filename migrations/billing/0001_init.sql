-- The billing service's schema: the plan catalog, each tenant's
-- subscription, the charges a plan change leaves for the next invoice,
-- idempotency keys of POST requests and the consumer cursor of users'
-- events.
--
-- Money is an integer count of minor units with its ISO 4217 currency,
-- never a floating-point number. Tenant tables follow DESIGN §6 (tenant_id
-- NOT NULL, keys and foreign keys that include it, forced row-level
-- security through lintel.enable_tenant_rls).

-- The catalog is the platform's, not a tenant's: no tenant_id, no RLS.
-- A price or limit change is a new version of the plan; the version it
-- replaces is retired (no new subscription takes it) but stays, and the
-- subscriptions on it keep it until they change plan.
CREATE TABLE billing.plans (
    code             text        NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    version          integer     NOT NULL CHECK (version >= 1),
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- per seat (an active member) per month
    seat_price_minor bigint      NOT NULL CHECK (seat_price_minor >= 0),
    max_seats        integer     CHECK (max_seats >= 1),    -- NULL: unlimited
    max_projects     integer     CHECK (max_projects >= 0), -- NULL: unlimited
    rank             integer     NOT NULL, -- free < team < business: up or down
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz,
    PRIMARY KEY (code, version)
);
-- One current version per plan.
CREATE UNIQUE INDEX plans_current ON billing.plans (code) WHERE retired_at IS NULL;

INSERT INTO billing.plans (code, version, name, currency, seat_price_minor,
                           max_seats, max_projects, rank)
VALUES ('free', 1, 'Free', 'USD', 0, 3, 2, 0),
       ('team', 1, 'Team', 'USD', 1200, NULL, 50, 1),
       ('business', 1, 'Business', 'USD', 2500, NULL, NULL, 2);

-- One subscription per tenant, made from users' tenant.created event (a
-- 14-day team trial). The current period is [period_start, period_end),
-- whole days in UTC; a plan change inside it is prorated by the day
-- (services/billing/proration.c).
CREATE TABLE billing.subscriptions (
    tenant_id     uuid        PRIMARY KEY,
    plan_code     text        NOT NULL,
    plan_version  integer     NOT NULL,
    state         text        NOT NULL
                  CHECK (state IN ('trialing', 'active', 'past_due', 'canceled')),
    trial_ends_at timestamptz,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer     NOT NULL DEFAULT 1,
    FOREIGN KEY (plan_code, plan_version) REFERENCES billing.plans (code, version),
    CONSTRAINT subscriptions_period_ordered CHECK (period_end > period_start),
    CONSTRAINT subscriptions_trial_has_end
        CHECK (state <> 'trialing' OR trial_ends_at IS NOT NULL)
);
SELECT lintel.enable_tenant_rls('billing.subscriptions');

-- What a plan change mid-period leaves to the next invoice: the credit for
-- the unused days of the old plan (negative) and the charge for the rest of
-- the period on the new one, exactly as the preview showed them.
CREATE TABLE billing.pending_charges (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    description  text        NOT NULL CHECK (length(description) BETWEEN 1 AND 300),
    amount_minor bigint      NOT NULL,
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    period_start date        NOT NULL,
    period_end   date        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id) REFERENCES billing.subscriptions (tenant_id)
);
CREATE INDEX pending_charges_created ON billing.pending_charges (tenant_id, created_at);
SELECT lintel.enable_tenant_rls('billing.pending_charges');

-- POST requests with an Idempotency-Key (libcommon/lc_idem.h).
CREATE TABLE billing.idempotency_keys (
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
    ON billing.idempotency_keys (tenant_id, created_at);
SELECT lintel.enable_tenant_rls('billing.idempotency_keys');

-- How far this service has applied users' events (libcommon/lc_consumer.h).
CREATE TABLE billing.consumer_cursors (
    source text   PRIMARY KEY,
    seq    bigint NOT NULL
);
