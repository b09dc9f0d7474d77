-- about 40,000 rows of believable shop data (deterministic: setseed).
select setseed(0.42);

insert into customers (email, name, created_at)
select format('customer%s@example.com', g), format('Customer %s', g),
       now() - (random() * interval '700 days')
from generate_series(1, 2000) g;

insert into products (sku, title, price_cents)
select format('SKU-%s', lpad(g::text, 5, '0')), format('Product %s', g), (500 + random() * 20000)::int
from generate_series(1, 300) g;

insert into orders (customer_id, status, total_cents, created_at)
select 1 + (random() * 1999)::int,
       (array['pending', 'paid', 'shipped', 'cancelled'])[1 + (random() * 3)::int]::order_status,
       0, now() - (random() * interval '365 days')
from generate_series(1, 12000) g;

insert into order_items (order_id, product_id, quantity, price_cents)
select o.id, 1 + (random() * 299)::int, 1 + (random() * 3)::int, 0
from orders o, generate_series(1, 2) n;

update order_items i set price_cents = p.price_cents from products p where p.id = i.product_id;
update orders o set total_cents = s.total
from (select order_id, sum(quantity * price_cents) as total from order_items group by order_id) s
where s.order_id = o.id;
analyze;
