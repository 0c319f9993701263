-- Credit notes: the corrections of final invoices, which never change.
-- A credit note refers to one invoice of its tenant, has its own lines and
-- a negative total (what it takes off the invoice), and its own number
-- series per tenant, 1, 2, 3… without gaps, given from a counter row in
-- the issuing transaction as invoices' are. Once issued it is immutable:
-- a trigger refuses UPDATE and DELETE, and its lines must add up to its
-- total when the issuing transaction commits (a line added later breaks
-- that and is refused). services/billing/credit_notes.c issues them.

CREATE TABLE billing.credit_note_counters (
    tenant_id   uuid    PRIMARY KEY,
    last_number integer NOT NULL CHECK (last_number >= 0)
);
SELECT lintel.enable_tenant_rls('billing.credit_note_counters');

CREATE TABLE billing.credit_notes (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    number      integer     NOT NULL CHECK (number >= 1),
    invoice_id  uuid        NOT NULL,
    reason      text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 300),
    currency    text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor bigint      NOT NULL CHECK (total_minor < 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing.invoices (tenant_id, id),
    CONSTRAINT credit_notes_tenant_number_key UNIQUE (tenant_id, number)
);
CREATE INDEX credit_notes_tenant_created ON billing.credit_notes (tenant_id, created_at, id);
CREATE INDEX credit_notes_tenant_invoice ON billing.credit_notes (tenant_id, invoice_id);
SELECT lintel.enable_tenant_rls('billing.credit_notes');

CREATE TABLE billing.credit_note_lines (
    tenant_id      uuid    NOT NULL,
    credit_note_id uuid    NOT NULL,
    position       integer NOT NULL CHECK (position >= 1),
    description    text    NOT NULL CHECK (length(description) BETWEEN 1 AND 300),
    amount_minor   bigint  NOT NULL CHECK (amount_minor < 0),
    PRIMARY KEY (tenant_id, credit_note_id, position),
    FOREIGN KEY (tenant_id, credit_note_id) REFERENCES billing.credit_notes (tenant_id, id)
);
SELECT lintel.enable_tenant_rls('billing.credit_note_lines');

-- Refused with SQLSTATE 55000 (object_not_in_prerequisite_state), whoever
-- tries, the owner included.
CREATE FUNCTION billing.credit_notes_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'a credit note is final: it cannot be changed or deleted'
        USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
ALTER FUNCTION billing.credit_notes_immutable() OWNER TO lintel_migrator;
CREATE TRIGGER credit_notes_immutable BEFORE UPDATE OR DELETE ON billing.credit_notes
    FOR EACH ROW EXECUTE FUNCTION billing.credit_notes_immutable();
CREATE TRIGGER credit_note_lines_immutable
    BEFORE UPDATE OR DELETE ON billing.credit_note_lines
    FOR EACH ROW EXECUTE FUNCTION billing.credit_notes_immutable();

-- At commit: the note's lines add up to its total.
CREATE FUNCTION billing.credit_note_balanced() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF (SELECT n.total_minor FROM billing.credit_notes n
         WHERE n.tenant_id = NEW.tenant_id AND n.id = NEW.credit_note_id)
       IS DISTINCT FROM
       (SELECT sum(l.amount_minor) FROM billing.credit_note_lines l
         WHERE l.tenant_id = NEW.tenant_id
           AND l.credit_note_id = NEW.credit_note_id) THEN
        RAISE EXCEPTION 'a credit note''s lines must add up to its total'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION billing.credit_note_balanced() OWNER TO lintel_migrator;
CREATE CONSTRAINT TRIGGER credit_note_balanced
    AFTER INSERT ON billing.credit_note_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing.credit_note_balanced();
