-- Changes for a second, incremental sync: Alan is renamed and Grace places an order, so their
-- contacts_enriched rows get a newer updated_at. Applied by
-- `uv run python examples/make_warehouse.py examples/changes.sql`.
UPDATE customers SET lastname = 'Mathison-Turing', updated_at = TIMESTAMP '2026-11-20 12:00:00'
WHERE customer_id = 3;
INSERT INTO orders VALUES (107, 2, 600.00, TIMESTAMP '2026-11-20 12:05:00');
