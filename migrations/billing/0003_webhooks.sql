-- Events of payment providers (POST /api/billing/webhooks/{provider}),
-- stored when their signature is valid and before they are processed (the
-- job webhook.process), once per provider's event id: a provider that
-- retries, or a replay, stores nothing twice and has one effect.
--
-- Platform data: an event names its tenant and invoice in its payload,
-- which only the processing job reads, and applies in a transaction of
-- that tenant; only this service's role can reach the schema.
CREATE TABLE billing.webhook_events (
    provider     text        NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_-]{0,31}$'),
    event_id     text        NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    type         text        NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    payload      jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome      text        CHECK (length(outcome) <= 300),
    flagged      boolean     NOT NULL DEFAULT false, -- for an operator's look
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX webhook_events_flagged ON billing.webhook_events (received_at)
    WHERE flagged;

-- Dunning (services/billing/dunning.c): a failed payment is retried after
-- 1, 3 and 7 days; still unpaid after the last, billing suspends the
-- tenant (users.SetTenantStatus) and remembers it did, so that a later
-- payment reactivates exactly the tenants billing suspended.
ALTER TABLE billing.subscriptions
    ADD COLUMN dunning_step integer NOT NULL DEFAULT 0
        CHECK (dunning_step BETWEEN 0 AND 3),
    ADD COLUMN suspended_by_billing boolean NOT NULL DEFAULT false;
