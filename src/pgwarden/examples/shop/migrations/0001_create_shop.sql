-- The shop as it runs in production today.
create type order_status as enum ('pending', 'paid', 'shipped', 'cancelled');

create table customers (
    id bigserial primary key,
    email text not null unique,
    name text not null,
    created_at timestamptz not null default now()
);

create table products (
    id bigserial primary key,
    sku text not null unique,
    title text not null,
    price_cents integer not null check (price_cents >= 0)
);

create table orders (
    id bigserial primary key,
    customer_id bigint not null references customers (id),
    status order_status not null default 'pending',
    total_cents integer not null,
    created_at timestamptz not null default now()
);

create table order_items (
    id bigserial primary key,
    order_id bigint not null references orders (id) on delete cascade,
    product_id bigint not null references products (id),
    quantity integer not null check (quantity > 0),
    price_cents integer not null
);
