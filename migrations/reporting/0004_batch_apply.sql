-- The read models fed a batch at a time (lc_consumer's apply_batch): one
-- call per tenant and batch applies that tenant's events in seq order with
-- one statement per table, where 0001's functions took two round trips and
-- three updates of the same hot rows (tenant_state, the day's activity,
-- the project's last activity) per event. The effect equals applying the
-- events one by one with 0001's functions (tests/e2e/
-- test_reporting_oracle.py), except that the tenant's version, which only
-- keys cached answers, moves once per batch. 0001's per-event functions
-- stay for an instance of the previous release during a rolling update.
--
-- Their statements are planned at each call (force_custom_plan): the
-- consumer's connection keeps them for hours, and a plan cached while
-- the tables were small (a new deployment catching up a backlog) scans
-- them whole at every batch once they have grown.

-- One projects event as reporting/feed.c sends it (a JSON array of these).
CREATE TYPE reporting.projects_event AS (
    seq     bigint,
    type    text,
    project uuid,
    task    uuid,
    actor   uuid,
    at      timestamptz,
    data    jsonb
);

-- One users event (subject: the user or tenant that changed).
CREATE TYPE reporting.users_event AS (
    seq     bigint,
    type    text,
    subject uuid,
    actor   uuid,
    at      timestamptz,
    data    jsonb
);

CREATE FUNCTION reporting.apply_projects_events(p_events jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog
    SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    t uuid := current_setting('app.tenant_id')::uuid;
    ev reporting.projects_event[] := ARRAY(
        SELECT e FROM jsonb_populate_recordset(NULL::reporting.projects_event,
                                               p_events) e ORDER BY e.seq);
    last_seq bigint;
    last_at timestamptz;
BEGIN
    -- Activity first: a task completes when an event makes it done and
    -- the status before it (the batch's previous event of that task, or
    -- else the stored row) was not done.
    WITH k AS (
        SELECT e.seq, e.type, e.task,
               CASE WHEN e.type <> 'task.deleted'
                    THEN e.data->>'status' END AS status
          FROM unnest(ev) e
         WHERE e.type LIKE 'task.%'
    ), b AS (
        SELECT k.seq, k.type, k.status,
               lag(k.status, 1, '#stored') OVER (PARTITION BY k.task
                                                 ORDER BY k.seq) AS before,
               s.status AS stored
          FROM k LEFT JOIN reporting.tasks s
            ON s.tenant_id = t AND s.id = k.task
    ), done AS (
        SELECT b.seq FROM b
         WHERE b.status = 'done'
           AND (CASE WHEN b.before = '#stored' THEN b.stored
                     ELSE b.before END) IS DISTINCT FROM 'done'
    )
    INSERT INTO reporting.activity AS a
           (tenant_id, day, changes, tasks_created, tasks_completed)
    SELECT t, (e.at AT TIME ZONE 'UTC')::date, count(*),
           count(*) FILTER (WHERE e.type = 'task.created'),
           count(done.seq)
      FROM unnest(ev) e LEFT JOIN done ON done.seq = e.seq
     GROUP BY 2
    ON CONFLICT (tenant_id, day) DO UPDATE
       SET changes = a.changes + excluded.changes,
           tasks_created = a.tasks_created + excluded.tasks_created,
           tasks_completed = a.tasks_completed + excluded.tasks_completed;

    -- Tasks: each one's last event of the batch is its state.
    WITH last AS (
        SELECT DISTINCT ON (e.task) e.*
          FROM unnest(ev) e
         WHERE e.type LIKE 'task.%'
         ORDER BY e.task, e.seq DESC
    ), gone AS (
        DELETE FROM reporting.tasks d USING last
         WHERE last.type = 'task.deleted' AND d.tenant_id = t
           AND d.id = last.task
    )
    INSERT INTO reporting.tasks AS k
           (tenant_id, id, project_id, title, status, assignee_id, due_date,
            estimate_hours)
    SELECT t, last.task, last.project, last.data->>'title',
           last.data->>'status', (last.data->>'assignee_id')::uuid,
           (last.data->>'due_date')::date,
           (last.data->>'estimate_hours')::numeric
      FROM last
     WHERE last.type <> 'task.deleted'
    ON CONFLICT (tenant_id, id) DO UPDATE
       SET project_id = excluded.project_id, title = excluded.title,
           status = excluded.status, assignee_id = excluded.assignee_id,
           due_date = excluded.due_date,
           estimate_hours = excluded.estimate_hours;

    -- Projects: each one's last project event is its state; its last
    -- activity the latest of all its events (a task's event cannot come
    -- before its project's creation).
    INSERT INTO reporting.projects AS r
           (tenant_id, id, name, code, status, budget_cents, currency,
            deleted, last_activity_at)
    SELECT DISTINCT ON (e.project)
           t, e.project, e.data->>'name', e.data->>'code', e.data->>'status',
           (e.data->>'budget_cents')::bigint, e.data->>'currency',
           e.type = 'project.deleted', e.at
      FROM unnest(ev) e
     WHERE e.type NOT LIKE 'task.%'
     ORDER BY e.project, e.seq DESC
    ON CONFLICT (tenant_id, id) DO UPDATE
       SET name = excluded.name, code = excluded.code,
           status = excluded.status, budget_cents = excluded.budget_cents,
           currency = excluded.currency, deleted = excluded.deleted,
           last_activity_at = greatest(r.last_activity_at,
                                       excluded.last_activity_at);
    UPDATE reporting.projects r SET last_activity_at = m.at
      FROM (SELECT e.project, max(e.at) AS at FROM unnest(ev) e
             GROUP BY e.project) m
     WHERE r.tenant_id = t AND r.id = m.project AND r.last_activity_at < m.at;

    INSERT INTO reporting.audit (tenant_id, source, seq, type, actor_id,
                                 entity_type, entity_id, occurred_at, data)
    SELECT t, 'projects', e.seq, e.type, e.actor, split_part(e.type, '.', 1),
           coalesce(e.task, e.project), e.at, e.data
      FROM unnest(ev) e;

    SELECT max(e.seq), max(e.at) INTO last_seq, last_at FROM unnest(ev) e;
    IF last_seq IS NOT NULL THEN
        PERFORM reporting.state_bump('projects', last_seq, last_at);
    END IF;
END
$$;

CREATE FUNCTION reporting.apply_users_events(p_events jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog
    SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    t uuid := current_setting('app.tenant_id')::uuid;
    ev reporting.users_event[] := ARRAY(
        SELECT e FROM jsonb_populate_recordset(NULL::reporting.users_event,
                                               p_events) e ORDER BY e.seq);
    last_seq bigint;
    last_at timestamptz;
BEGIN
    -- Members: each one's last member event is its state.
    INSERT INTO reporting.members AS m
           (tenant_id, user_id, name, email, role, status)
    SELECT DISTINCT ON (e.subject)
           t, e.subject, e.data->>'name', e.data->>'email', e.data->>'role',
           e.data->>'status'
      FROM unnest(ev) e
     WHERE e.type IN ('member.joined', 'member.role_changed', 'member.removed')
     ORDER BY e.subject, e.seq DESC
    ON CONFLICT (tenant_id, user_id) DO UPDATE
       SET name = excluded.name, email = excluded.email,
           role = excluded.role, status = excluded.status;

    INSERT INTO reporting.audit (tenant_id, source, seq, type, actor_id,
                                 entity_type, entity_id, occurred_at, data)
    SELECT t, 'users', e.seq, e.type, e.actor, split_part(e.type, '.', 1),
           e.subject, e.at, e.data
      FROM unnest(ev) e;

    SELECT max(e.seq), max(e.at) INTO last_seq, last_at FROM unnest(ev) e;
    IF last_seq IS NOT NULL THEN
        PERFORM reporting.state_bump('users', last_seq, last_at);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION reporting.apply_projects_events(jsonb),
    reporting.apply_users_events(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.apply_projects_events(jsonb),
    reporting.apply_users_events(jsonb) TO lintel_reporting;
