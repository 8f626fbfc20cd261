"""`make demo`: embedded DuckDB warehouse → source-warehouse-model → destination-webhook → local receiver.

Builds the seed's CONTACTS_ENRICHED view, runs a full sync with `retl run` (the real console
scripts, piped the way Airbyte pipes them), changes a few rows, runs an incremental sync that
sends only those, and prints what arrived.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from tests.fakes.webhook import WebhookReceiver

DEMO_DIR = Path(".demo")
BIN = Path(sys.executable).parent
CONTACTS = 200

WAREHOUSE_SQL = f"""
CREATE TABLE customers AS
SELECT i AS customer_id,
       100000 + i AS hubspot_contact_id,
       'customer' || i || '@example.com' AS email,
       ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara'][1 + i % 5] AS firstname,
       ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov'][1 + i % 5] AS lastname,
       TIMESTAMP '2026-11-01 09:00:00' + INTERVAL (i) MINUTE AS updated_at
FROM range(1, {CONTACTS + 1}) t(i);

CREATE TABLE orders AS
SELECT o AS order_id,
       1 + (o * 7) % {CONTACTS} AS customer_id,
       CAST(10 + (o * 37) % 490 AS DECIMAL(12, 2)) + 0.99 AS amount_usd,
       TIMESTAMP '2026-11-02 00:00:00' + INTERVAL (o) MINUTE AS ordered_at
FROM range(1, {CONTACTS * 3}) t(o);

CREATE VIEW CONTACTS_ENRICHED AS
SELECT c.hubspot_contact_id,
       c.email,
       c.firstname,
       c.lastname,
       COUNT(o.order_id) AS total_orders,
       COALESCE(SUM(o.amount_usd), 0) AS lifetime_value_usd,
       CASE WHEN COALESCE(SUM(o.amount_usd), 0) >= 1000 THEN 'gold'
            WHEN COALESCE(SUM(o.amount_usd), 0) >= 500 THEN 'silver'
            ELSE 'bronze' END AS customer_tier,
       GREATEST(c.updated_at, COALESCE(MAX(o.ordered_at), c.updated_at)) AS updated_at
FROM customers c LEFT JOIN orders o USING (customer_id)
GROUP BY c.hubspot_contact_id, c.email, c.firstname, c.lastname, c.updated_at;
"""

CHANGES_SQL = """
UPDATE customers SET lastname = 'Hamilton', updated_at = TIMESTAMP '2026-11-20 12:00:00'
WHERE customer_id = 3;
INSERT INTO orders VALUES (100001, 7, 2500.00, TIMESTAMP '2026-11-20 12:05:00'),
                          (100002, 11, 45.50, TIMESTAMP '2026-11-20 12:06:00');
"""


def write_json(name: str, value: Any) -> Path:
    path = DEMO_DIR / name
    path.write_text(json.dumps(value, indent=2))
    return path


def build_warehouse() -> Path:
    path = DEMO_DIR / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(WAREHOUSE_SQL)
    return path


def sync(label: str, receiver: WebhookReceiver, files: dict[str, Path]) -> None:
    print(f"\n=== {label} ===", flush=True)
    before = len(receiver.received_records())
    command = [
        str(BIN / "retl"),
        "run",
        "--source",
        str(BIN / "source-warehouse-model"),
        "--source-config",
        str(files["source"]),
        "--destination",
        str(BIN / "destination-webhook"),
        "--destination-config",
        str(files["destination"]),
        "--catalog",
        str(files["catalog"]),
        "--state-file",
        str(files["state"]),
        "--quiet",
    ]
    subprocess.run(command, check=True)
    arrived = receiver.received_records()[before:]
    print(f"\nThe receiver got {len(arrived)} records in {len(receiver.deliveries)} requests so far.")
    for record in arrived[:3] if len(arrived) > 5 else arrived:
        print("  ", json.dumps(record))
    if len(arrived) > 5:
        print(f"   … and {len(arrived) - 3} more")


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir()
    warehouse = build_warehouse()
    print(f"Built {warehouse}: CONTACTS_ENRICHED over {CONTACTS} customers and their orders.")
    model = {
        "name": "contacts_enriched",
        "relation": "CONTACTS_ENRICHED",
        "primary_key": ["hubspot_contact_id"],
        "cursor_field": "updated_at",
    }
    files = {
        "source": write_json(
            "source.json", {"warehouse": {"type": "duckdb", "path": str(warehouse)}, "models": [model]}
        ),
        "catalog": write_json(
            "catalog.json",
            {
                "streams": [
                    {
                        "stream": {
                            "name": "contacts_enriched",
                            "json_schema": {"type": "object"},
                            "supported_sync_modes": ["full_refresh", "incremental"],
                        },
                        "sync_mode": "incremental",
                        "cursor_field": ["updated_at"],
                        "destination_sync_mode": "append_dedup",
                        "primary_key": [["hubspot_contact_id"]],
                    }
                ]
            },
        ),
        "state": DEMO_DIR / "state.json",
    }
    with WebhookReceiver() as receiver:
        files["destination"] = write_json(
            "webhook.json",
            {
                "url": f"{receiver.url}/hooks/contacts",
                "batch_size": 50,
                "streams": [
                    {
                        "stream": "contacts_enriched",
                        "fields": {"lifetime_value_usd": "lifetime_value"},
                        "field_types": {"lifetime_value": "decimal", "updated_at": "datetime"},
                        "templates": {"full_name": "{{ record.firstname }} {{ record.lastname }}"},
                    }
                ],
            },
        )
        print(f"Webhook receiver listening on {receiver.url}")
        sync("Full sync (first run: no state yet)", receiver, files)
        with duckdb.connect(str(warehouse)) as connection:
            connection.execute(CHANGES_SQL)
        print("\nChanged the warehouse: one contact renamed, two contacts placed new orders.")
        print(
            "The next sync reads from the stored cursor inclusively, so the last row of the first sync is "
            "sent again along with the three changed ones: the destination upserts, so that is harmless, "
            "and a row committed later with the same cursor value is never missed."
        )
        sync("Incremental sync (from the confirmed state)", receiver, files)
        print(f"\nConfirmed state kept for the next run ({files['state']}):")
        print(files["state"].read_text())


if __name__ == "__main__":
    main()
