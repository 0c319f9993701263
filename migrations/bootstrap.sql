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
