-- The order lifecycle (pending → confirmed | rejected, confirmed → canceled)
-- and its history, which is also the transactional outbox the event relay
-- publishes from.
--
-- The synchronous strategies insert orders as `confirmed`, as before; only
-- the queued intake inserts `pending` orders, which an allocation worker
-- later confirms or rejects.

ALTER TABLE purchase_orders DROP CONSTRAINT purchase_orders_status_check;
ALTER TABLE purchase_orders
    ADD CONSTRAINT purchase_orders_status_check
        CHECK (status IN ('pending', 'confirmed', 'rejected', 'canceled')),
    -- Why a pending order was rejected; `allocation_failed` is the dead
    -- letter: allocation kept failing for a reason that is not a rule.
    ADD COLUMN rejection_reason text
        CHECK (rejection_reason IN ('customer_not_found', 'customer_inactive', 'disc_not_found',
                                    'out_of_stock', 'allocation_failed')),
    ADD CONSTRAINT purchase_orders_rejection_matches_status
        CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL)),
    -- When the order left `pending` (confirmed or rejected). The default
    -- serves the synchronous strategies, whose orders are decided when they
    -- are inserted; the queued intake inserts NULL.
    ADD COLUMN decided_at timestamptz DEFAULT now(),
    -- Arrival order for the allocation workers: a pending order is served
    -- before every pending order of the same disc that arrived after it.
    ADD COLUMN arrival bigint GENERATED ALWAYS AS IDENTITY,
    -- Allocation attempts of a pending order that failed unexpectedly; past
    -- the workers' bound the order is rejected as `allocation_failed`.
    ADD COLUMN allocation_failures integer NOT NULL DEFAULT 0;

UPDATE purchase_orders SET decided_at = created_at;
ALTER TABLE purchase_orders
    ADD CONSTRAINT purchase_orders_decided_at_matches_status
        CHECK ((status = 'pending') = (decided_at IS NULL));

-- What the workers scan: the pending orders of a disc, oldest first. Small,
-- since orders leave it as they are decided.
CREATE INDEX purchase_orders_pending_idx ON purchase_orders (disc_id, arrival)
    WHERE status = 'pending';

-- Every status change of every order, appended in the transaction that made
-- it (by the triggers below, so no unit of work can forget it). The relay
-- sets `published_at` once the broker has confirmed the event.
CREATE TABLE order_events (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id     uuid        NOT NULL REFERENCES purchase_orders (id) ON DELETE RESTRICT,
    type         text        NOT NULL
        CHECK (type IN ('order.pending', 'order.confirmed', 'order.rejected', 'order.canceled')),
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    data         jsonb       NOT NULL,
    published_at timestamptz
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);
-- The relay's backlog, oldest first.
CREATE INDEX order_events_unpublished_idx ON order_events (id) WHERE published_at IS NULL;

-- What an event carries: the order's state after the change.
CREATE FUNCTION order_event_data(o purchase_orders) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'status', o.status,
        'customer_id', o.customer_id,
        'disc_id', o.disc_id,
        'quantity', o.quantity,
        'rejection_reason', o.rejection_reason))
$$;

-- Statement-level with transition tables: a batch of 64 orders appends its
-- 64 events with one INSERT, not 64 trigger calls.
CREATE FUNCTION record_placed_orders() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, type, data)
    SELECT placed.id, 'order.' || placed.status, order_event_data(placed)
    FROM placed
    ORDER BY placed.arrival;
    RETURN NULL;
END
$$;

CREATE FUNCTION record_status_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, type, data)
    SELECT after.id, 'order.' || after.status, order_event_data(after)
    FROM after JOIN before ON before.id = after.id
    WHERE after.status <> before.status
    ORDER BY after.arrival;
    RETURN NULL;
END
$$;

CREATE TRIGGER purchase_orders_placed_events
    AFTER INSERT ON purchase_orders
    REFERENCING NEW TABLE AS placed
    FOR EACH STATEMENT EXECUTE FUNCTION record_placed_orders();

CREATE TRIGGER purchase_orders_status_events
    AFTER UPDATE ON purchase_orders
    REFERENCING OLD TABLE AS before NEW TABLE AS after
    FOR EACH STATEMENT EXECUTE FUNCTION record_status_changes();

-- The history of orders placed before this migration, as it would have been
-- recorded; already published, since it happened before there was a relay.
INSERT INTO order_events (order_id, type, occurred_at, data, published_at)
SELECT o.id, 'order.confirmed', o.created_at,
       order_event_data(o) || jsonb_build_object('status', 'confirmed'), now()
FROM purchase_orders o;
INSERT INTO order_events (order_id, type, occurred_at, data, published_at)
SELECT o.id, 'order.canceled', o.canceled_at, order_event_data(o), now()
FROM purchase_orders o
WHERE o.status = 'canceled';
