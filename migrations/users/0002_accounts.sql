-- Accounts: platform admins, login sessions and their refresh tokens,
-- invitations, password resets and the mail outbox.
--
-- Every tenant table follows DESIGN §6: tenant_id NOT NULL, (tenant_id, id)
-- keys, foreign keys that include tenant_id (FK checks bypass RLS, so a
-- single-column FK would let tenant A point at tenant B's row), indexes
-- leading with tenant_id, ENABLE + FORCE row-level security with the same
-- policy as users.users.

-- Platform admins are not members of any tenant: no tenant_id, no RLS.
-- Only the users service's role can read the table.
CREATE TABLE users.platform_admins (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX platform_admins_email_key
    ON users.platform_admins (lower(email));

-- Paging the members of a tenant in creation order (keyset).
CREATE INDEX users_tenant_created ON users.users (tenant_id, created_at, id);

-- One login: every refresh token it ever had belongs to it, so revoking
-- the session revokes them all.
CREATE TABLE users.sessions (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text,
    user_agent     text        CHECK (length(user_agent) <= 512),
    client_ip      text        CHECK (length(client_ip) <= 64),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.users (tenant_id, id)
);
CREATE INDEX sessions_user ON users.sessions (tenant_id, user_id);

-- Refresh tokens, stored as SHA-256 only. A rotated token keeps its row
-- (used_at set) so that its reuse can be recognised; its child records the
-- salt that, with the parent token, derives the child again for a racing
-- client within the grace window, and the access token's jti and iat so
-- that the same access token can be signed again.
CREATE TABLE users.refresh_tokens (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    session_id  uuid        NOT NULL,
    token_hash  text        NOT NULL CHECK (length(token_hash) = 64),
    parent_id   uuid,
    derive_salt text,
    access_jti  uuid        NOT NULL,
    access_iat  bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, session_id)
        REFERENCES users.sessions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, parent_id)
        REFERENCES users.refresh_tokens (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_session ON users.refresh_tokens (tenant_id, session_id);
CREATE INDEX refresh_tokens_parent ON users.refresh_tokens (tenant_id, parent_id);

CREATE TABLE users.invitations (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    email            text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role             text        NOT NULL
                     CHECK (role IN ('owner', 'admin', 'manager', 'member',
                                     'viewer')),
    token_hash       text        NOT NULL CHECK (length(token_hash) = 64),
    invited_by       uuid        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    accepted_at      timestamptz,
    accepted_user_id uuid,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, invited_by) REFERENCES users.users (tenant_id, id),
    FOREIGN KEY (tenant_id, accepted_user_id)
        REFERENCES users.users (tenant_id, id)
);

CREATE TABLE users.password_resets (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL,
    token_hash text        NOT NULL CHECK (length(token_hash) = 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users.users (tenant_id, id)
);
CREATE INDEX password_resets_user ON users.password_resets (tenant_id, user_id);

-- Mail to send: written in the same transaction as the change that causes
-- it (an invitation, a reset), delivered by the service's sender thread.
CREATE TABLE users.mail_outbox (
    tenant_id  uuid        NOT NULL REFERENCES users.tenants (id),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    to_addr    text        NOT NULL CHECK (length(to_addr) BETWEEN 3 AND 254),
    subject    text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer     NOT NULL DEFAULT 0,
    sent_at    timestamptz,
    failed_at  timestamptz,
    last_error text,
    PRIMARY KEY (tenant_id, id)
);

-- The sender must find due mail across tenants, but requests must never
-- read another tenant's rows. So the due list is a table of its own that
-- holds no tenant data beyond ids and times (no RLS: there is nothing in it
-- to isolate), while the messages stay in users.mail_outbox under RLS; the
-- sender reads each message in a transaction of its tenant. This keeps RLS
-- intact for every request, unlike a SECURITY DEFINER escape hatch.
CREATE TABLE users.mail_queue (
    tenant_id       uuid        NOT NULL,
    outbox_id       uuid        NOT NULL,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, outbox_id),
    FOREIGN KEY (tenant_id, outbox_id)
        REFERENCES users.mail_outbox (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mail_queue_due ON users.mail_queue (next_attempt_at);

ALTER TABLE users.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE users.sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users.sessions
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

ALTER TABLE users.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE users.refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users.refresh_tokens
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

ALTER TABLE users.invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE users.invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users.invitations
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

ALTER TABLE users.password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE users.password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users.password_resets
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));

ALTER TABLE users.mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE users.mail_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users.mail_outbox
    USING (tenant_id = (SELECT current_setting('app.tenant_id')::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id')::uuid));
