-- Fresh planner statistics for the read models while a backlog is applied
-- (issue 12, the event application's slow runs). The statistics of
-- reporting.tasks come from its last ANALYZE: taken when every row was
-- another tenant's, they make a new tenant's tasks look like one row, and
-- apply_projects_events (0004) then looks each batch's tasks up by
-- scanning all of that tenant's tasks, until autovacuum analyzes, which
-- it checks once a minute at best. The consumer (services/reporting/
-- feed.c) calls this after its batches commit, at most once a second.
--
-- Only the owner analyzes (PostgreSQL 15; the service's role gets a
-- warning and nothing happens), so the function runs as its owner, the
-- migrator, with its search_path pinned; it takes no argument, so the
-- service can make it do nothing but ANALYZE the read models that the
-- apply functions and the reports look up by tenant (tasks, projects,
-- members, activity), each when enough of it changed since its last
-- ANALYZE: more than 500 rows plus 5 % of it (autovacuum's formula, 50
-- rows plus 10 %, checked at every call rather than every minute; the
-- table's size is reltuples, -1 when never analyzed). Not the audit log:
-- only appended to and read along its keys, and the costliest to analyze
-- (its jsonb column): with it, the bench's catch-up spent 105 µs of
-- PostgreSQL per event, 66 without; nor tenant_state, read by its key.
-- The row counts come from the statistics system, up to a second late.
-- SKIP_LOCKED: a table that autovacuum or the other consumer is analyzing
-- is skipped, not waited for. ANALYZE takes a SHARE UPDATE EXCLUSIVE
-- lock, which the batches' writes do not conflict with, until the
-- caller's transaction ends. Returns the tables it analyzed.
CREATE FUNCTION reporting.analyze_read_models()
RETURNS SETOF regclass LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT s.relid::regclass
          FROM pg_stat_user_tables s
          JOIN pg_class c ON c.oid = s.relid
         WHERE s.relid IN ('reporting.projects'::regclass,
                           'reporting.tasks'::regclass,
                           'reporting.members'::regclass,
                           'reporting.activity'::regclass)
           AND s.n_mod_since_analyze > 500 + 0.05 * greatest(c.reltuples, 0)
         ORDER BY s.relid
    LOOP
        EXECUTE format('ANALYZE (SKIP_LOCKED) %s', t);
        RETURN NEXT t;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION reporting.analyze_read_models() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.analyze_read_models() TO lintel_reporting;
