-- The projects service's schema: construction projects and their tasks,
-- idempotency keys of POST requests, and the domain-event outbox.
--
-- Every tenant table follows DESIGN §6: tenant_id NOT NULL, (tenant_id, id)
-- keys, foreign keys that include tenant_id (FK checks bypass RLS, so a
-- single-column FK would let tenant A point at tenant B's row), indexes
-- leading with tenant_id, ENABLE + FORCE row-level security. Users live in
-- the users service's schema, which this service cannot read: created_by,
-- updated_by and assignee_id are plain uuids, checked over RPC.

CREATE TABLE projects.projects (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    code         text        NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
    status       text        NOT NULL DEFAULT 'planned'
                 CHECK (status IN ('planned', 'active', 'on_hold', 'completed',
                                   'cancelled')),
    start_date   date,
    end_date     date,
    budget_cents bigint      CHECK (budget_cents >= 0),
    currency     text        CHECK (currency ~ '^[A-Z]{3}$'),
    address      text        CHECK (length(address) <= 500),
    description  text        CHECK (length(description) <= 10000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid        NOT NULL,
    updated_by   uuid        NOT NULL,
    version      integer     NOT NULL DEFAULT 1,
    deleted_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_dates_ordered
        CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date),
    CONSTRAINT projects_budget_currency
        CHECK ((budget_cents IS NULL) = (currency IS NULL))
);

-- A code is unique among a tenant's live projects, case-insensitively; a
-- deleted project frees its code.
CREATE UNIQUE INDEX projects_tenant_code_key
    ON projects.projects (tenant_id, lower(code)) WHERE deleted_at IS NULL;
-- Keyset paging, one index per sort key (ties broken by id).
CREATE INDEX projects_tenant_created ON projects.projects (tenant_id, created_at, id);
CREATE INDEX projects_tenant_updated ON projects.projects (tenant_id, updated_at, id);
CREATE INDEX projects_tenant_name ON projects.projects (tenant_id, name, id);
CREATE INDEX projects_tenant_code ON projects.projects (tenant_id, code, id);
CREATE INDEX projects_tenant_start
    ON projects.projects (tenant_id, (coalesce(start_date, 'infinity'::date)), id);
CREATE INDEX projects_tenant_end
    ON projects.projects (tenant_id, (coalesce(end_date, 'infinity'::date)), id);

CREATE TABLE projects.tasks (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    project_id     uuid        NOT NULL,
    title          text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description    text        CHECK (length(description) <= 10000),
    status         text        NOT NULL DEFAULT 'todo'
                   CHECK (status IN ('todo', 'in_progress', 'blocked', 'done')),
    priority       text        NOT NULL DEFAULT 'normal'
                   CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id    uuid,
    due_date       date,
    estimate_hours numeric(8, 2) CHECK (estimate_hours >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid        NOT NULL,
    updated_by     uuid        NOT NULL,
    version        integer     NOT NULL DEFAULT 1,
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects.projects (tenant_id, id)
);
CREATE INDEX tasks_project_created ON projects.tasks (tenant_id, project_id, created_at, id);
CREATE INDEX tasks_project_due
    ON projects.tasks (tenant_id, project_id, (coalesce(due_date, 'infinity'::date)), id);
CREATE INDEX tasks_assignee ON projects.tasks (tenant_id, assignee_id);

-- POST requests with an Idempotency-Key (API.md): the first request claims
-- the key (state 'running'), its transaction stores the response it gave
-- (state 'done'). Scoped by tenant, user and route; a key older than 24 h
-- is treated as unused.
CREATE TABLE projects.idempotency_keys (
    tenant_id       uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    route           text        NOT NULL CHECK (length(route) <= 300),
    key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    text        NOT NULL CHECK (length(request_hash) = 64),
    state           text        NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'done')),
    response_status integer,
    response_body   text,
    response_etag   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, route, key)
);
CREATE INDEX idempotency_keys_created ON projects.idempotency_keys (created_at);

-- Tenant isolation in the database: FORCE applies the policy to the table
-- owner too; an unset or empty app.tenant_id fails the uuid cast, so a
-- transaction that forgot its tenant sees an error, never every row.
ALTER TABLE projects.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects.projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects.projects
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

ALTER TABLE projects.tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects.tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects.tasks
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

ALTER TABLE projects.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects.idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects.idempotency_keys
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

-- The outbox (DESIGN §8). It is read across tenants by EventsSince (the
-- reporting consumer follows every tenant), so it has no row-level
-- security: tenant tables keep theirs on every request path, and only this
-- service's own role (and the migrator) can reach the schema at all, so no
-- other service reads it except through the RPC. Request paths only ever
-- INSERT here.
--
-- Ordering: a sequence or identity column can commit out of order (seq 11
-- visible before 10), and a consumer reading "seq > cursor" would then skip
-- 10 for ever. Instead every writing transaction takes its numbers from the
-- single row of event_counter, as its last statement: the row lock is held
-- until COMMIT, so the next writer gets its number only after this one has
-- committed, and whoever can see seq n can see every seq below it. A
-- rolled-back transaction rolls its numbers back: no gaps. The price is that
-- writers of every tenant take turns for the few microseconds between their
-- last statement and COMMIT.
CREATE TABLE projects.event_counter (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint  NOT NULL
);
INSERT INTO projects.event_counter (seq) VALUES (0);

CREATE TABLE projects.events (
    seq         bigint      PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    type        text        NOT NULL
                CHECK (type IN ('project.created', 'project.updated',
                                'project.deleted', 'task.created',
                                'task.updated', 'task.deleted')),
    project_id  uuid        NOT NULL,
    task_id     uuid,
    actor_id    uuid        NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    data        jsonb       NOT NULL
);
CREATE INDEX events_tenant ON projects.events (tenant_id, seq);
