"""`make demo`: an embedded DuckDB warehouse synced to a local webhook receiver and a local HubSpot fake.

Builds the seed's CONTACTS_ENRICHED view, runs a full sync to each destination with `retl run`
(the real console scripts, piped the way Airbyte pipes them), changes a few rows, runs an
incremental sync that sends only those, and prints what arrived. Then a model without a cursor (an
aggregate of trial usage per deal) is synced by diff onto HubSpot deals: the second sync sends exactly
the deals whose aggregates changed, and archives the deal whose trial left the model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb

from tests.fakes.hubspot import HubSpotFake
from tests.fakes.webhook import WebhookReceiver
from tests.harness import SEED_CONTACTS_TO_HUBSPOT, configured_stream, incremental_catalog, retl_run

DEMO_DIR = Path(".demo")
CONTACTS = 200
FIRST_CONTACT_ID = 1001  # the HubSpot fake numbers records from here; the seed's contact ids match

WAREHOUSE_SQL = f"""
CREATE TABLE customers AS
SELECT i AS customer_id,
       {FIRST_CONTACT_ID - 1} + i AS hubspot_contact_id,
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

TRIALS = 12
FIRST_DEAL_ID = FIRST_CONTACT_ID + CONTACTS  # the fake numbers the deals after the contacts

TRIAL_SQL = f"""
CREATE TABLE trial_events AS
SELECT e AS event_id,
       1 + e % {TRIALS} AS trial_id,
       ['Rhine', 'Danube', 'Elbe', 'Loire'][1 + e % 4] AS river,
       'run-' || (e % 7) AS run,
       ['api', 'ui', 'sdk'][1 + e % 3] AS source,
       FALSE AS converted
FROM range(1, {TRIALS * 5}) t(e);

-- No column says which trials changed: synced by diff.
CREATE VIEW TRIAL_USAGE AS
SELECT {FIRST_DEAL_ID - 1} + trial_id AS hubspot_deal_id,
       COUNT(DISTINCT river) AS rivers,
       COUNT(DISTINCT run) AS runs,
       COUNT(DISTINCT source) AS sources
FROM trial_events
GROUP BY trial_id
HAVING NOT bool_or(converted);
"""

# Two trials gain usage; trial 9 converts and leaves the model.
TRIAL_CHANGES_SQL = """
INSERT INTO trial_events VALUES (1001, 2, 'Seine', 'run-99', 'api', FALSE),
                                (1002, 5, 'Rhine', 'run-98', 'api', FALSE);
UPDATE trial_events SET converted = TRUE WHERE trial_id = 9;
"""

TRIAL_MODEL = {
    "name": "trial_usage",
    "relation": "TRIAL_USAGE",
    "primary_key": ["hubspot_deal_id"],
    "change_detection": "diff",
}
TRIAL_TO_DEALS = {
    "stream": "trial_usage",
    "object": "deals",
    "operation": "update",
    "match_key": ["hs_object_id"],
    "fields": {"hubspot_deal_id": "hs_object_id", "rivers": "rivers", "runs": "runs", "sources": "sources"},
    "unmapped_columns": "drop",
    "on_delete": "archive",
}

MODEL = {
    "name": "contacts_enriched",
    "relation": "CONTACTS_ENRICHED",
    "primary_key": ["hubspot_contact_id"],
    "cursor_field": "updated_at",
}


def webhook_config(receiver: WebhookReceiver) -> dict[str, Any]:
    return {
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
    }


def hubspot_config(fake: HubSpotFake) -> dict[str, Any]:
    """The seed's use case: lead scores and tiers onto contacts, keyed by the HubSpot contact id."""
    return {
        "credentials": {"auth_type": "private_app", "access_token": "pat-good"},
        "api_base_url": fake.url,
        "streams": [SEED_CONTACTS_TO_HUBSPOT],
    }


def start_hubspot() -> HubSpotFake:
    fake = HubSpotFake().start()
    fake.add_property("contacts", "total_orders", "number")
    fake.add_property("contacts", "lifetime_value", "number")
    fake.add_property("contacts", "customer_tier", "enumeration", options=["bronze", "silver", "gold"])
    for i in range(1, CONTACTS + 1):
        record_id = fake.add_record("contacts", {"email": f"customer{i}@example.com"})
        assert int(record_id) == FIRST_CONTACT_ID - 1 + i
    for name in ("rivers", "runs", "sources"):
        fake.add_property("deals", name, "number")
    for i in range(1, TRIALS + 1):
        record_id = fake.add_record("deals", {"dealname": f"Trial {i}"})
        assert int(record_id) == FIRST_DEAL_ID - 1 + i
    return fake


def sync_trials(label: str, hubspot: HubSpotFake, source: dict[str, Any]) -> None:
    """The aggregate model onto HubSpot deals, by diff: only what changed goes."""
    print(f"\n=== {label} ===\n--- destination-hubspot (trial usage onto deals, by diff)", flush=True)
    hubspot.clear_requests()
    config = {**hubspot_config(hubspot), "streams": [TRIAL_TO_DEALS]}
    catalog = {"streams": [configured_stream("trial_usage", "update", ["hubspot_deal_id"])]}
    retl_run(DEMO_DIR, "destination-hubspot", source, config, catalog, capture=False)
    updated, archived = sent_ids(hubspot, "/batch/update"), sent_ids(hubspot, "/batch/archive")
    gone = ", ".join(archived) or "none"
    print(f"HubSpot got {len(updated)} deal updates ({', '.join(updated)}) and archived {gone}.")


def sent_ids(hubspot: HubSpotFake, path: str) -> list[str]:
    requests = [r for r in hubspot.requests if r.path.endswith(path)]
    return sorted(str(item["id"]) for r in requests for item in json.loads(r.body)["inputs"])


def sync_all(label: str, receiver: WebhookReceiver, hubspot: HubSpotFake, source: dict[str, Any]) -> None:
    print(f"\n=== {label} ===", flush=True)
    before = len(receiver.received_records())
    print("\n--- destination-webhook", flush=True)
    retl_run(
        DEMO_DIR,
        "destination-webhook",
        source,
        webhook_config(receiver),
        incremental_catalog({"contacts_enriched": ("hubspot_contact_id", "updated_at")}),
        capture=False,
    )
    arrived = receiver.received_records()[before:]
    print(f"The receiver got {len(arrived)} records.")
    for record in arrived[:2] if len(arrived) > 4 else arrived:
        print("  ", json.dumps(record))
    if len(arrived) > 4:
        print(f"   … and {len(arrived) - 2} more")

    print("\n--- destination-hubspot", flush=True)
    hubspot.clear_requests()
    retl_run(
        DEMO_DIR,
        "destination-hubspot",
        source,
        hubspot_config(hubspot),
        incremental_catalog({"contacts_enriched": ("hubspot_contact_id", "updated_at")}, sync_mode="update"),
        capture=False,
    )
    updates = [r for r in hubspot.requests if r.path.endswith("/batch/update")]
    sent = sum(len(json.loads(r.body)["inputs"]) for r in updates)
    print(f"HubSpot got {sent} contact updates in {len(updates)} batch requests.")
    for contact_id in ("1003", "1007"):
        props = hubspot.objects("contacts")[contact_id]
        shown = {k: props.get(k) for k in ("email", "total_orders", "lifetime_value", "customer_tier")}
        print(f"   contact {contact_id}: {json.dumps(shown)}")


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir()
    warehouse = DEMO_DIR / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(WAREHOUSE_SQL)
        connection.execute(TRIAL_SQL)
    print(
        f"Built {warehouse}: CONTACTS_ENRICHED over {CONTACTS} customers and their orders, and "
        f"TRIAL_USAGE, an aggregate of {TRIALS} trials' usage with no cursor."
    )
    source = {"warehouse": {"type": "duckdb", "path": str(warehouse)}, "models": [MODEL]}
    bookkeeping = str(DEMO_DIR / "bookkeeping.duckdb")  # the diff's snapshots; the warehouse stays read-only
    trials = {
        "warehouse": {"type": "duckdb", "path": str(warehouse), "bookkeeping_path": bookkeeping},
        "models": [TRIAL_MODEL],
    }
    with WebhookReceiver() as receiver, start_hubspot() as hubspot:
        print(f"Webhook receiver on {receiver.url}; HubSpot fake on {hubspot.url} with {CONTACTS} contacts.")
        sync_all("Full sync (first run: no state yet)", receiver, hubspot, source)
        with duckdb.connect(str(warehouse)) as connection:
            connection.execute(CHANGES_SQL)
        print("\nChanged the warehouse: contact 1003 renamed; contacts 1007 and 1011 placed new orders.")
        print(
            "The next sync reads from the stored cursor inclusively, so the last row of the first sync is "
            "sent again with the three changed ones: the destinations upsert or update, so that is "
            "harmless, and a row committed later with the same cursor value is never missed."
        )
        sync_all("Incremental sync (from the confirmed state)", receiver, hubspot, source)
        sync_trials("Trial usage, first diff sync (every deal is added)", hubspot, trials)
        with duckdb.connect(str(warehouse)) as connection:
            connection.execute(TRIAL_CHANGES_SQL)
        print(
            f"\nChanged the trials: deals {FIRST_DEAL_ID + 1} and {FIRST_DEAL_ID + 4} gained usage; the "
            f"trial of deal {FIRST_DEAL_ID + 8} converted and left the model."
        )
        sync_trials("Trial usage, second diff sync (against the confirmed snapshot)", hubspot, trials)
    for state_file in sorted(DEMO_DIR.glob("*.state.json")):
        print(f"\nConfirmed state kept for the next run ({state_file}):")
        print(state_file.read_text())


if __name__ == "__main__":
    main()
