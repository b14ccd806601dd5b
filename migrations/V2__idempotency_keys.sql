-- Idempotency keys of creates (POST with an Idempotency-Key header). A row
-- is claimed in the same transaction as the create it guards and completed
-- there with the created resource, so a key and its effect commit together
-- or not at all: a committed row always describes a create that happened,
-- and a refused create leaves no row behind.
CREATE TABLE idempotency_keys (
    -- Whose key it is ("anonymous", "staff:ops", "customer:<uuid>"): keys of
    -- different callers never meet.
    owner           text        NOT NULL,
    operation       text        NOT NULL
                    CHECK (operation IN ('purchase_order', 'customer', 'disc')),
    key             text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    -- Hex SHA-256 of the request's canonical form: a repeat with another
    -- payload is told apart without keeping the payload.
    fingerprint     text        NOT NULL CHECK (char_length(fingerprint) = 64),
    -- NULL only while the claiming transaction runs, which no other
    -- transaction can see.
    resource_id     uuid,
    response_status smallint,
    -- The resource as it was right after the create (to_jsonb of its row),
    -- which a replay answers with, whatever happened to it since.
    resource        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (owner, operation, key),
    CONSTRAINT idempotency_keys_completed_together CHECK (
        (resource_id IS NULL) = (resource IS NULL)
        AND (resource IS NULL) = (response_status IS NULL))
) WITH (
    -- Each row is inserted and then updated once in the same transaction;
    -- free space on the page lets that update stay on the page without a
    -- new index entry (a HOT update), as no indexed column changes.
    fillfactor = 70
);

-- The purge deletes expired rows in chunks, oldest first.
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
