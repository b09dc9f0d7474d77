-- A new table for the loyalty programme: new objects are empty, so the index
-- and foreign key on them lock nothing anyone else uses.
create table loyalty_points (
    customer_id bigint primary key references customers (id),
    points integer not null default 0,
    updated_at timestamptz not null default now()
);
create index loyalty_points_updated_at_idx on loyalty_points (updated_at);
