-- A small DuckDB warehouse for the examples: five customers, their orders, and the model every
-- example syncs, contacts_enriched. Names are lower_snake_case throughout (DuckDB keeps names as
-- written; on Snowflake, unquoted names are upper case: see docs/snowflake.md).
-- Built by `uv run python examples/make_warehouse.py` into examples/warehouse.duckdb.

CREATE TABLE customers (
    customer_id        INTEGER PRIMARY KEY,
    hubspot_contact_id BIGINT,      -- the contact's id in HubSpot (examples/seeds/hubspot.json)
    email              VARCHAR NOT NULL,
    firstname          VARCHAR,
    lastname           VARCHAR,
    updated_at         TIMESTAMP NOT NULL
);

INSERT INTO customers VALUES
    (1, 1001, 'ada@example.com',     'Ada',     'Lovelace', TIMESTAMP '2026-11-01 09:00:00'),
    (2, 1002, 'grace@example.com',   'Grace',   'Hopper',   TIMESTAMP '2026-11-01 09:05:00'),
    (3, 1003, 'alan@example.com',    'Alan',    'Turing',   TIMESTAMP '2026-11-01 09:10:00'),
    (4, 1004, 'edsger@example.com',  'Edsger',  'Dijkstra', TIMESTAMP '2026-11-01 09:15:00'),
    (5, 1005, 'barbara@example.com', 'Barbara', 'Liskov',   TIMESTAMP '2026-11-01 09:20:00');

CREATE TABLE orders (
    order_id    INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    amount_usd  DECIMAL(12, 2) NOT NULL,
    ordered_at  TIMESTAMP NOT NULL
);

INSERT INTO orders VALUES
    (101, 1, 120.00, TIMESTAMP '2026-11-02 10:00:00'),
    (102, 1, 980.50, TIMESTAMP '2026-11-03 11:30:00'),
    (103, 2, 45.99,  TIMESTAMP '2026-11-02 12:00:00'),
    (104, 3, 510.00, TIMESTAMP '2026-11-04 08:45:00'),
    (105, 3, 15.00,  TIMESTAMP '2026-11-05 16:20:00'),
    (106, 5, 250.00, TIMESTAMP '2026-11-05 17:00:00');

-- One row per customer; updated_at grows whenever the customer or one of their orders changes,
-- so it is the model's cursor.
CREATE VIEW contacts_enriched AS
SELECT c.hubspot_contact_id,
       c.email,
       c.firstname,
       c.lastname,
       COUNT(o.order_id)               AS total_orders,
       COALESCE(SUM(o.amount_usd), 0)  AS lifetime_value_usd,
       CASE WHEN COALESCE(SUM(o.amount_usd), 0) >= 1000 THEN 'gold'
            WHEN COALESCE(SUM(o.amount_usd), 0) >= 500  THEN 'silver'
            ELSE 'bronze' END          AS customer_tier,
       GREATEST(c.updated_at, COALESCE(MAX(o.ordered_at), c.updated_at)) AS updated_at
FROM customers c
LEFT JOIN orders o USING (customer_id)
GROUP BY c.hubspot_contact_id, c.email, c.firstname, c.lastname, c.updated_at;
