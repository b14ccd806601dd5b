-- The whole schema the v1 contract needs. The application validates every
-- field before it gets here; these constraints are the last line of defence,
-- so a bug can fail a request but never store an impossible row.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE discs (
    id              uuid        PRIMARY KEY,
    name            text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    artist          text        NOT NULL CHECK (char_length(artist) BETWEEN 1 AND 200),
    year_of_release integer     NOT NULL CHECK (year_of_release >= 1877),
    genre           text        NOT NULL CHECK (char_length(genre) BETWEEN 1 AND 200),
    -- bigint: cancellations may return units on top of a maximal restock.
    quantity        bigint      NOT NULL CHECK (quantity >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: a deleted disc leaves the catalog but its orders keep
    -- pointing at it, so history is never cascaded away.
    deleted_at      timestamptz
);

-- The catalog listing walks this index in order and stops after one page.
CREATE INDEX discs_catalog_order_idx ON discs (name, id) WHERE deleted_at IS NULL;
-- Case-insensitive substring filters (ILIKE '%…%') on a large catalog.
CREATE INDEX discs_name_trgm_idx   ON discs USING gin (name gin_trgm_ops)   WHERE deleted_at IS NULL;
CREATE INDEX discs_artist_trgm_idx ON discs USING gin (artist gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX discs_genre_trgm_idx  ON discs USING gin (genre gin_trgm_ops)  WHERE deleted_at IS NULL;
CREATE INDEX discs_year_idx        ON discs (year_of_release)               WHERE deleted_at IS NULL;

-- Every change of a disc's stock other than a sale or a cancellation: its
-- initial stock and each restock, as the delta it applied. With it the
-- invariant "stock + confirmed units = initial + restocks" can be checked
-- from the database alone.
CREATE TABLE stock_adjustments (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    disc_id     uuid        NOT NULL REFERENCES discs (id) ON DELETE RESTRICT,
    delta       bigint      NOT NULL,
    reason      text        NOT NULL CHECK (reason IN ('initial', 'restock')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_adjustments_disc_idx ON stock_adjustments (disc_id);

CREATE TABLE customers (
    id          uuid        PRIMARY KEY,
    document    text        NOT NULL CHECK (char_length(document) BETWEEN 1 AND 32),
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    birth_date  date        NOT NULL CHECK (birth_date >= DATE '1900-01-01'),
    email       text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    phone       text        NOT NULL CHECK (char_length(phone) BETWEEN 3 AND 32),
    is_active   boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_document_key UNIQUE (document)
);
-- Emails are unique regardless of case; the adapter maps a violation of
-- either unique index to `customer_exists`.
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));
CREATE INDEX customers_name_trgm_idx ON customers USING gin (name gin_trgm_ops);
-- The customer listing walks this index in order and stops after one page.
CREATE INDEX customers_name_order_idx ON customers (name, id);

CREATE TABLE purchase_orders (
    id                uuid        PRIMARY KEY,
    customer_id       uuid        NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    disc_id           uuid        NOT NULL REFERENCES discs (id) ON DELETE RESTRICT,
    quantity          integer     NOT NULL CHECK (quantity > 0),
    status            text        NOT NULL CHECK (status IN ('confirmed', 'canceled')),
    -- Customer and disc as they were when the order was placed (the disc
    -- with its stock right after this sale), so later edits never rewrite
    -- what was bought.
    customer_snapshot jsonb       NOT NULL,
    disc_snapshot     jsonb       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    canceled_at       timestamptz,
    CONSTRAINT purchase_orders_canceled_at_matches_status
        CHECK ((status = 'canceled') = (canceled_at IS NOT NULL))
);
-- Listing is newest first, optionally by customer or by disc.
CREATE INDEX purchase_orders_created_idx          ON purchase_orders (created_at DESC, id DESC);
CREATE INDEX purchase_orders_customer_created_idx ON purchase_orders (customer_id, created_at DESC, id DESC);
CREATE INDEX purchase_orders_disc_created_idx     ON purchase_orders (disc_id, created_at DESC, id DESC);
