-- The allocation workers look for the next disc to decide among the oldest
-- pending orders of all discs (the head of the queue), not among every
-- pending order: with a backlog of tens of thousands spread over many discs,
-- grouping the whole backlog for each disc decided cost more than deciding.
CREATE INDEX purchase_orders_pending_arrival_idx ON purchase_orders (arrival)
    WHERE status = 'pending';
