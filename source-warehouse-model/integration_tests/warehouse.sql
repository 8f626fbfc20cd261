-- The warehouse the standard tests read: built into a temporary DuckDB file for each test session
-- (tests/source_warehouse_model/standard_plugin.py), never committed. Every column kind the
-- connector maps appears here, each with a NULL row, so the read test validates every JSON schema.
-- Two values stay inside what the suite's checks can read, not what the connector can write: the
-- HUGEINT fits 64 bits (the in-process harness parses wider integers as floats), and TIME values
-- have whole seconds (without rfc3339-validator, jsonschema checks `format: time` as %H:%M:%S).
CREATE SCHEMA crm;

CREATE TABLE crm.customers (
    id INTEGER PRIMARY KEY,
    email VARCHAR,
    lifetime_value DECIMAL(12, 2),
    score DOUBLE,
    is_active BOOLEAN,
    big_number HUGEINT,
    signed_up DATE,
    opens_at TIME,
    updated_at TIMESTAMP,
    synced_at TIMESTAMPTZ,
    precise_at TIMESTAMP_NS,
    tags VARCHAR[],
    address STRUCT(city VARCHAR, zip VARCHAR),
    attributes JSON,
    external_id UUID,
    avatar BLOB
);

INSERT INTO crm.customers VALUES
    (1, 'ada@example.com', 1234.50, 0.75, TRUE, 9223372036854775807,
     DATE '2024-01-02', TIME '09:30:00', TIMESTAMP '2024-03-01 10:00:00',
     TIMESTAMPTZ '2024-03-01 10:00:00+00', TIMESTAMP_NS '2024-03-01 10:00:00.123456789',
     ['vip', 'beta'], {'city': 'London', 'zip': 'N1'}, '{"plan": "pro", "seats": 3}',
     'b5a2c6a0-5b7e-4c1e-9a53-2f1d1c9e4a10', '\xCA\xFE'::BLOB),
    (2, 'grace@example.com', 0.00, -1.5, FALSE, 42,
     DATE '2024-02-29', TIME '23:59:59', TIMESTAMP '2024-03-02 11:30:00.25',
     TIMESTAMPTZ '2024-03-02 11:30:00+02', TIMESTAMP_NS '2024-03-02 11:30:00',
     [], {'city': NULL, 'zip': '10001'}, '[1, 2, 3]',
     '00000000-0000-0000-0000-000000000000', ''::BLOB),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE crm.orders (
    order_id BIGINT,
    customer_id INTEGER,
    amount DECIMAL(10, 2),
    ordered_at TIMESTAMP
);

INSERT INTO crm.orders
SELECT range, range % 3 + 1, range * 9.99, TIMESTAMP '2024-03-01' + range * INTERVAL 1 HOUR
FROM range(1, 26);

CREATE VIEW crm.active_customers AS SELECT id, email FROM crm.customers WHERE is_active;
