-- The reporting service's schema: read models fed by the events of projects
-- and users (libcommon/lc_consumer.h), and the audit log.
--
-- Nothing but the consumer of this service writes here: each event is
-- applied by one call of reporting.apply_projects_event or
-- reporting.apply_users_event, in the batch's transaction, with
-- app.tenant_id set to the event's tenant; the cursor moves in the same
-- transaction. Every tenant table follows DESIGN §6 (tenant_id first in
-- every key, forced row-level security).

-- Where each followed source stands (lc_consumer's table). No tenant data:
-- one row per source, read across tenants by the consumer alone.
CREATE TABLE reporting.consumer_cursors (
    source text   PRIMARY KEY CHECK (source IN ('projects', 'users')),
    seq    bigint NOT NULL CHECK (seq >= 0)
);

-- Per tenant: what `as_of` says (the seq of the last applied event of each
-- source, and when it happened) and the version every applied event bumps,
-- which keys the tenant's cached answers (Redis): a cached answer is never
-- older than the read model.
CREATE TABLE reporting.tenant_state (
    tenant_id    uuid        PRIMARY KEY,
    version      bigint      NOT NULL DEFAULT 0,
    projects_seq bigint      NOT NULL DEFAULT 0,
    users_seq    bigint      NOT NULL DEFAULT 0,
    applied_at   timestamptz
);
SELECT lintel.enable_tenant_rls('reporting.tenant_state');

-- A tenant's projects as their last event left them; a deleted project
-- stays (deleted = true) so that its id keeps answering 404.
CREATE TABLE reporting.projects (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    name             text        NOT NULL,
    code             text        NOT NULL,
    status           text        NOT NULL,
    budget_cents     bigint,
    currency         text,
    deleted          boolean     NOT NULL DEFAULT false,
    last_activity_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
SELECT lintel.enable_tenant_rls('reporting.projects');

-- Live tasks, with what the reports count (a deleted task is removed).
CREATE TABLE reporting.tasks (
    tenant_id      uuid          NOT NULL,
    id             uuid          NOT NULL,
    project_id     uuid          NOT NULL,
    title          text          NOT NULL,
    status         text          NOT NULL,
    assignee_id    uuid,
    due_date       date,
    estimate_hours numeric(8, 2),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tasks_project ON reporting.tasks (tenant_id, project_id);
-- The overdue list walks open tasks by due date (keyset on due_date, id).
CREATE INDEX tasks_open_due ON reporting.tasks (tenant_id, due_date, id)
    WHERE status <> 'done';
CREATE INDEX tasks_assignee ON reporting.tasks (tenant_id, assignee_id);
SELECT lintel.enable_tenant_rls('reporting.tasks');

-- Members as users' events describe them: names for the workload report.
CREATE TABLE reporting.members (
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    name      text,
    email     text,
    role      text,
    status    text,
    PRIMARY KEY (tenant_id, user_id)
);
SELECT lintel.enable_tenant_rls('reporting.members');

-- Activity per UTC day: every projects event is a change; a task created,
-- and a task that became done (created done, or updated into done).
CREATE TABLE reporting.activity (
    tenant_id       uuid    NOT NULL,
    day             date    NOT NULL,
    changes         integer NOT NULL DEFAULT 0,
    tasks_created   integer NOT NULL DEFAULT 0,
    tasks_completed integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
SELECT lintel.enable_tenant_rls('reporting.activity');

-- The audit log: every users and projects event, once (source, seq).
-- Append-only: the service's role may read and insert, never change or
-- remove (the grants below; tests/e2e/test_reporting_audit.py).
CREATE TABLE reporting.audit (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    source      text        NOT NULL CHECK (source IN ('projects', 'users')),
    seq         bigint      NOT NULL,
    type        text        NOT NULL,
    actor_id    uuid,
    entity_type text        NOT NULL,
    entity_id   uuid,
    occurred_at timestamptz NOT NULL,
    data        jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, source, seq)
);
CREATE INDEX audit_occurred ON reporting.audit (tenant_id, occurred_at, id);
SELECT lintel.enable_tenant_rls('reporting.audit');
REVOKE UPDATE, DELETE, TRUNCATE ON reporting.audit FROM lintel_reporting;

-- The tenant's state after one applied event of `source`.
CREATE FUNCTION reporting.state_bump(p_source text, p_seq bigint,
                                     p_at timestamptz)
RETURNS void LANGUAGE sql SET search_path = pg_catalog AS $$
    INSERT INTO reporting.tenant_state AS s
           (tenant_id, version, projects_seq, users_seq, applied_at)
    VALUES (current_setting('app.tenant_id')::uuid, 1,
            CASE WHEN p_source = 'projects' THEN p_seq ELSE 0 END,
            CASE WHEN p_source = 'users' THEN p_seq ELSE 0 END, p_at)
    ON CONFLICT (tenant_id) DO UPDATE
       SET version = s.version + 1,
           projects_seq = CASE WHEN p_source = 'projects' THEN p_seq
                               ELSE s.projects_seq END,
           users_seq = CASE WHEN p_source = 'users' THEN p_seq
                            ELSE s.users_seq END,
           applied_at = greatest(s.applied_at, p_at);
$$;

-- One projects event (project.* / task.*; data: the row after the change).
CREATE FUNCTION reporting.apply_projects_event(
    p_seq bigint, p_type text, p_project uuid, p_task uuid, p_actor uuid,
    p_at timestamptz, p_data jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    t uuid := current_setting('app.tenant_id')::uuid;
    old_status text;
    completed integer := 0;
BEGIN
    IF p_type LIKE 'task.%' THEN
        SELECT status INTO old_status FROM reporting.tasks
         WHERE tenant_id = t AND id = p_task;
        IF p_type = 'task.deleted' THEN
            DELETE FROM reporting.tasks WHERE tenant_id = t AND id = p_task;
        ELSE
            IF p_data->>'status' = 'done'
               AND old_status IS DISTINCT FROM 'done' THEN
                completed := 1;
            END IF;
            INSERT INTO reporting.tasks AS k
                   (tenant_id, id, project_id, title, status, assignee_id,
                    due_date, estimate_hours)
            VALUES (t, p_task, p_project, p_data->>'title', p_data->>'status',
                    (p_data->>'assignee_id')::uuid,
                    (p_data->>'due_date')::date,
                    (p_data->>'estimate_hours')::numeric)
            ON CONFLICT (tenant_id, id) DO UPDATE
               SET project_id = excluded.project_id, title = excluded.title,
                   status = excluded.status,
                   assignee_id = excluded.assignee_id,
                   due_date = excluded.due_date,
                   estimate_hours = excluded.estimate_hours;
        END IF;
        UPDATE reporting.projects
           SET last_activity_at = greatest(last_activity_at, p_at)
         WHERE tenant_id = t AND id = p_project;
    ELSE
        INSERT INTO reporting.projects AS r
               (tenant_id, id, name, code, status, budget_cents, currency,
                deleted, last_activity_at)
        VALUES (t, p_project, p_data->>'name', p_data->>'code',
                p_data->>'status', (p_data->>'budget_cents')::bigint,
                p_data->>'currency', p_type = 'project.deleted', p_at)
        ON CONFLICT (tenant_id, id) DO UPDATE
           SET name = excluded.name, code = excluded.code,
               status = excluded.status,
               budget_cents = excluded.budget_cents,
               currency = excluded.currency, deleted = excluded.deleted,
               last_activity_at = greatest(r.last_activity_at, p_at);
    END IF;
    INSERT INTO reporting.activity AS a
           (tenant_id, day, changes, tasks_created, tasks_completed)
    VALUES (t, (p_at AT TIME ZONE 'UTC')::date, 1,
            (p_type = 'task.created')::integer, completed)
    ON CONFLICT (tenant_id, day) DO UPDATE
       SET changes = a.changes + 1,
           tasks_created = a.tasks_created + excluded.tasks_created,
           tasks_completed = a.tasks_completed + excluded.tasks_completed;
    INSERT INTO reporting.audit (tenant_id, source, seq, type, actor_id,
                                 entity_type, entity_id, occurred_at, data)
    VALUES (t, 'projects', p_seq, p_type, p_actor, split_part(p_type, '.', 1),
            coalesce(p_task, p_project), p_at, p_data);
    PERFORM reporting.state_bump('projects', p_seq, p_at);
END
$$;

-- One users event (tenant.*, member.*, session.*; subject: what changed).
CREATE FUNCTION reporting.apply_users_event(
    p_seq bigint, p_type text, p_subject uuid, p_actor uuid,
    p_at timestamptz, p_data jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    t uuid := current_setting('app.tenant_id')::uuid;
BEGIN
    IF p_type IN ('member.joined', 'member.role_changed', 'member.removed') THEN
        INSERT INTO reporting.members AS m
               (tenant_id, user_id, name, email, role, status)
        VALUES (t, p_subject, p_data->>'name', p_data->>'email',
                p_data->>'role', p_data->>'status')
        ON CONFLICT (tenant_id, user_id) DO UPDATE
           SET name = excluded.name, email = excluded.email,
               role = excluded.role, status = excluded.status;
    END IF;
    INSERT INTO reporting.audit (tenant_id, source, seq, type, actor_id,
                                 entity_type, entity_id, occurred_at, data)
    VALUES (t, 'users', p_seq, p_type, p_actor, split_part(p_type, '.', 1),
            p_subject, p_at, p_data);
    PERFORM reporting.state_bump('users', p_seq, p_at);
END
$$;

-- The service runs them; nobody else does.
REVOKE ALL ON FUNCTION reporting.state_bump(text, bigint, timestamptz),
    reporting.apply_projects_event(bigint, text, uuid, uuid, uuid,
                                   timestamptz, jsonb),
    reporting.apply_users_event(bigint, text, uuid, uuid, timestamptz, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.state_bump(text, bigint, timestamptz),
    reporting.apply_projects_event(bigint, text, uuid, uuid, uuid,
                                   timestamptz, jsonb),
    reporting.apply_users_event(bigint, text, uuid, uuid, timestamptz, jsonb)
    TO lintel_reporting;
