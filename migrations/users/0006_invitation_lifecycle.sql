-- Issue 16: invitations that can be listed, revoked and resent, and
-- password-reset requests that do the same work for every address.

-- A revoked invitation keeps its row (who revoked it and why is history);
-- only pending ones (not accepted, not revoked, not expired) are redeemable.
ALTER TABLE users.invitations ADD COLUMN revoked_at timestamptz;
ALTER TABLE users.invitations ADD COLUMN revoked_reason text
    CHECK (revoked_reason IN ('revoked', 'inviter_deactivated',
                              'inviter_demoted'));
ALTER TABLE users.invitations ADD COLUMN sent_at timestamptz NOT NULL
    DEFAULT now();

-- The admin's list (newest first, keyset) and the cascade from an inviter.
CREATE INDEX invitations_tenant_created
    ON users.invitations (tenant_id, created_at, id);
CREATE INDEX invitations_inviter ON users.invitations (tenant_id, invited_by)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- A password-reset request as it was asked, whether or not the address has
-- an account: the request stores it and queues a job, the same work for a
-- known and an unknown address, and the job looks the account up later.
-- Under RLS like every tenant table; the job deletes it once handled.
CREATE TABLE users.password_reset_requests (
    tenant_id  uuid        NOT NULL REFERENCES users.tenants (id),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    email      text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

SELECT lintel.enable_tenant_rls('users.password_reset_requests');

-- A revoked invitation is an event (subject: the invitation), like its
-- invitation was.
ALTER TABLE users.events DROP CONSTRAINT events_type_check;
ALTER TABLE users.events ADD CONSTRAINT events_type_check
    CHECK (type IN ('tenant.created', 'tenant.updated',
                    'member.invited', 'member.joined',
                    'member.role_changed', 'member.removed',
                    'member.invitation_revoked', 'session.revoked'));
