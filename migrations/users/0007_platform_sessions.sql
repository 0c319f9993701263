-- Platform admins' logins become sessions with rotating refresh tokens, as
-- a tenant member's are (0002_accounts.sql), so that they can be revoked:
-- logout and logout-all end them, and every platform-admin request checks
-- its session here (lc_caller_platform_admin). No tenant_id and no RLS,
-- like users.platform_admins: only the users service's role reads them.
CREATE TABLE users.platform_sessions (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    admin_id       uuid        NOT NULL REFERENCES users.platform_admins (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text,
    user_agent     text        CHECK (length(user_agent) <= 512),
    client_ip      text        CHECK (length(client_ip) <= 64)
);
CREATE INDEX platform_sessions_admin ON users.platform_sessions (admin_id);

CREATE TABLE users.platform_refresh_tokens (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id  uuid        NOT NULL
                REFERENCES users.platform_sessions (id) ON DELETE CASCADE,
    token_hash  text        NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    parent_id   uuid        REFERENCES users.platform_refresh_tokens (id)
                ON DELETE CASCADE,
    derive_salt text,
    access_jti  uuid        NOT NULL,
    access_iat  bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX platform_refresh_tokens_session
    ON users.platform_refresh_tokens (session_id);
CREATE INDEX platform_refresh_tokens_parent
    ON users.platform_refresh_tokens (parent_id);
