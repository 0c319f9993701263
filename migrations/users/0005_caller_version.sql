-- Versions of what decides a caller's access (libcommon/lc_caller.h): a
-- tenant's status; a member's role, status and sessions. Every change bumps
-- its version in the same transaction, whichever statement makes it, so
-- that the snapshots the users service writes to Redis are ordered: a
-- snapshot read before a change can never replace one read after it.

ALTER TABLE users.tenants ADD COLUMN caller_version bigint NOT NULL DEFAULT 1;
ALTER TABLE users.users ADD COLUMN caller_version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION users.caller_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.caller_version := OLD.caller_version + 1;
    RETURN NEW;
END $$;

CREATE TRIGGER tenants_caller_version BEFORE UPDATE ON users.tenants
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION users.caller_version_bump();

CREATE TRIGGER users_caller_version BEFORE UPDATE ON users.users
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role
                       OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION users.caller_version_bump();

-- A revoked session changes its member's version: once per statement and
-- member, however many sessions the statement revoked (logout-all).
CREATE FUNCTION users.sessions_revoked_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users.users u SET caller_version = u.caller_version + 1
      FROM (SELECT DISTINCT n.tenant_id, n.user_id
              FROM revoked_new n JOIN revoked_old o
                ON o.tenant_id = n.tenant_id AND o.id = n.id
             WHERE o.revoked_at IS NULL AND n.revoked_at IS NOT NULL) r
     WHERE u.tenant_id = r.tenant_id AND u.id = r.user_id;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_caller_version AFTER UPDATE ON users.sessions
    REFERENCING OLD TABLE AS revoked_old NEW TABLE AS revoked_new
    FOR EACH STATEMENT EXECUTE FUNCTION users.sessions_revoked_bump();
