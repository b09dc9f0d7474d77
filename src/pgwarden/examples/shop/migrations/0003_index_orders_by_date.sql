-- The admin "orders by day" page needs an index on created_at.
-- Risky on purpose: without CONCURRENTLY this blocks every write to orders while it builds.
create index orders_created_at_idx on orders (created_at);
