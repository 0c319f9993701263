-- Lintel database bootstrap (DESIGN §6). Run once per database, as a
-- superuser, before any service migrates; safe to run again.
--
--   psql -v ON_ERROR_STOP=1 -v migrator_password=… -v users_password=… \
--        -v projects_password=… -v reporting_password=… \
--        -v billing_password=… -f migrations/bootstrap.sql
--
-- lintel_migrator owns every schema and table and runs the migrations. Each
-- service logs in as its own role, with DML on its own schema only: it
-- cannot read another service's tables, and (not being the owner, nor a
-- superuser, nor BYPASSRLS) it is always subject to row-level security.

SELECT format('CREATE ROLE lintel_migrator LOGIN PASSWORD %L',
              :'migrator_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lintel_migrator')
\gexec
-- The passwords given now are the ones that count: a database kept from an
-- earlier run follows the secrets it is bootstrapped with.
SELECT format('ALTER ROLE lintel_migrator NOSUPERUSER NOBYPASSRLS NOCREATEROLE'
              ' NOCREATEDB PASSWORD %L', :'migrator_password')
\gexec

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', 'lintel_' || svc, pw)
  FROM (VALUES ('users', :'users_password'),
               ('projects', :'projects_password'),
               ('reporting', :'reporting_password'),
               ('billing', :'billing_password')) AS s(svc, pw)
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lintel_' || svc)
\gexec

SELECT format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB'
              ' PASSWORD %L', 'lintel_' || svc, pw)
  FROM (VALUES ('users', :'users_password'),
               ('projects', :'projects_password'),
               ('reporting', :'reporting_password'),
               ('billing', :'billing_password')) AS s(svc, pw)
\gexec

-- Nothing in public for anyone; each service's objects live in its schema.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION lintel_migrator',
              svc)
  FROM unnest(ARRAY['users', 'projects', 'reporting', 'billing']) AS svc
\gexec

SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', svc)
  FROM unnest(ARRAY['users', 'projects', 'reporting', 'billing']) AS svc
\gexec

SELECT format('GRANT USAGE ON SCHEMA %1$I TO %2$I', svc, 'lintel_' || svc)
  FROM unnest(ARRAY['users', 'projects', 'reporting', 'billing']) AS svc
\gexec

-- Tables the migrator creates later are usable by the schema's service.
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE lintel_migrator IN SCHEMA %1$I'
              ' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %2$I',
              svc, 'lintel_' || svc)
  FROM unnest(ARRAY['users', 'projects', 'reporting', 'billing']) AS svc
\gexec

SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE lintel_migrator IN SCHEMA %1$I'
              ' GRANT USAGE, SELECT ON SEQUENCES TO %2$I',
              svc, 'lintel_' || svc)
  FROM unnest(ARRAY['users', 'projects', 'reporting', 'billing']) AS svc
\gexec

-- One way to put a tenant table under row-level security (DESIGN §6), for
-- every migration from now on: `SELECT lintel.enable_tenant_rls(
-- 'billing.invoices');` after the CREATE TABLE. It enables and forces RLS
-- (the owner is subject to it too) and adds the policy every tenant table
-- has: the row's tenant_id must be app.tenant_id, which each transaction
-- sets with set_config(..., true); unset, the uuid cast fails closed.
-- Migrations applied before it exists spell the same three statements out
-- (an applied migration cannot change: its checksum is recorded), and
-- tests/e2e/test_rls.py checks every table of every schema either way.
CREATE SCHEMA IF NOT EXISTS lintel AUTHORIZATION lintel_migrator;
REVOKE ALL ON SCHEMA lintel FROM PUBLIC;

CREATE OR REPLACE FUNCTION lintel.enable_tenant_rls(t regclass)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    IF NOT EXISTS (SELECT FROM pg_policy
                    WHERE polrelid = t AND polname = 'tenant_isolation') THEN
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %s'
            ' USING (tenant_id = (SELECT current_setting(''app.tenant_id'')::uuid))'
            ' WITH CHECK (tenant_id = (SELECT current_setting(''app.tenant_id'')::uuid))',
            t);
    END IF;
END
$$;
ALTER FUNCTION lintel.enable_tenant_rls(regclass) OWNER TO lintel_migrator;
REVOKE ALL ON FUNCTION lintel.enable_tenant_rls(regclass) FROM PUBLIC;
