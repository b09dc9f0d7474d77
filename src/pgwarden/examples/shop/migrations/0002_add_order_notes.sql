-- Customers can leave a note on their order. A nullable column without a default
-- only touches the catalog: safe on a big table.
set lock_timeout = '5s';
alter table orders add column notes text;
