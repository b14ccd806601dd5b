-- The sales report (GET /reports/sales) sums orders by when they were
-- placed and by when they were canceled. These indexes hold what the sums
-- read, so a window is an index range scan that never visits the table
-- (an index-only scan once autovacuum has marked the pages visible).
CREATE INDEX purchase_orders_sales_idx
    ON purchase_orders (created_at) INCLUDE (disc_id, quantity);
CREATE INDEX purchase_orders_cancellations_idx
    ON purchase_orders (canceled_at) INCLUDE (disc_id, quantity)
    WHERE canceled_at IS NOT NULL;
