-- The users service's domain-event outbox (DESIGN §8; libcommon/lc_outbox.h
-- says how it is written and read): tenant.created, tenant.updated,
-- member.invited, member.joined, member.role_changed, member.removed and
-- session.revoked, each appended in the transaction of its change, served
-- to billing and the audit log by users.EventsSince.
--
-- Like projects.events, the outbox is read across tenants by EventsSince
-- (a consumer follows every tenant), so it has no row-level security: only
-- this service's role (and the migrator) can reach the schema, request
-- paths only ever INSERT here, and tests/e2e/test_rls.py lists it as a
-- table read across tenants on purpose.
--
-- Ordering: every writing transaction takes its seq from the single row of
-- event_counter as its last statement; the row lock is held until COMMIT,
-- so seqs become visible in order and a rollback leaves no gap.
CREATE TABLE users.event_counter (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint  NOT NULL
);
INSERT INTO users.event_counter (seq) VALUES (0);

CREATE TABLE users.events (
    seq         bigint      PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    type        text        NOT NULL
                CHECK (type IN ('tenant.created', 'tenant.updated',
                                'member.invited', 'member.joined',
                                'member.role_changed', 'member.removed',
                                'session.revoked')),
    -- what changed: the tenant, the member (user), the invitation or the
    -- session, by type
    subject_id  uuid        NOT NULL,
    -- the user (or platform admin) who made the change; NULL when the
    -- platform did (a refresh token's reuse revokes its session)
    actor_id    uuid,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    data        jsonb       NOT NULL
);
CREATE INDEX events_tenant ON users.events (tenant_id, seq);
