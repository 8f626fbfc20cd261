-- The warehouse the Snowflake standard tests read, created in a fakesnow server for each test
-- session (tests/source_warehouse_model/test_standard_snowflake.py). fakesnow runs DuckDB under
-- Snowflake's SQL: it describes OBJECT and ARRAY as VARIANT and lists no views, so none are here.
CREATE SCHEMA CRM;

CREATE TABLE CRM.CUSTOMERS (
    ID NUMBER(38, 0),
    EMAIL TEXT,
    LIFETIME_VALUE NUMBER(12, 2),
    SCORE FLOAT,
    IS_ACTIVE BOOLEAN,
    SIGNED_UP DATE,
    OPENS_AT TIME,
    UPDATED_AT TIMESTAMP_NTZ(9),
    SYNCED_AT TIMESTAMP_TZ(9),
    ATTRIBUTES VARIANT,
    AVATAR BINARY
);

INSERT INTO CRM.CUSTOMERS SELECT
    1, 'ada@example.com', 1234.50, 0.75, TRUE, '2024-01-02', '09:30:00', '2024-03-01 10:00:00',
    '2024-03-01 10:00:00+00:00', PARSE_JSON('{"plan": "pro", "seats": 3}'), TO_BINARY('CAFE', 'HEX');

INSERT INTO CRM.CUSTOMERS SELECT
    2, 'grace@example.com', 0, -1.5, FALSE, '2024-02-29', '23:59:59', '2024-03-02 11:30:00.25',
    '2024-03-02 11:30:00+02:00', PARSE_JSON('[1, 2, 3]'), TO_BINARY('', 'HEX');

INSERT INTO CRM.CUSTOMERS (ID) VALUES (3);

CREATE TABLE CRM.ORDERS (ORDER_ID NUMBER(38, 0), CUSTOMER_ID NUMBER(38, 0), AMOUNT NUMBER(10, 2), ORDERED_AT TIMESTAMP_NTZ);

INSERT INTO CRM.ORDERS VALUES
    (1, 1, 9.99, '2024-03-01 01:00:00'),
    (2, 2, 19.98, '2024-03-01 02:00:00'),
    (3, 3, 29.97, '2024-03-01 03:00:00'),
    (4, 1, 39.96, '2024-03-01 04:00:00');
