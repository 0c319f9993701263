-- A replayed create answers exactly as the first one did: 201 with its
-- Location as well as its body and ETag (API.md), so the Location is kept
-- with the stored response. Keys stored before this have none.
ALTER TABLE projects.idempotency_keys ADD COLUMN response_location text
    CHECK (length(response_location) <= 200);
