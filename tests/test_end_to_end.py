"""DuckDB warehouse → source-warehouse-model → retl run → destination → fake API, as the platform runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from tests.fakes.hubspot import HubSpotFake
from tests.harness import SEED_CONTACTS_TO_HUBSPOT, incremental_catalog, retl_run

pytestmark = pytest.mark.slow

CONTACTS_SQL = """
CREATE TABLE contacts_enriched (
    hubspot_contact_id BIGINT, email VARCHAR, firstname VARCHAR, lastname VARCHAR, total_orders INTEGER,
    lifetime_value_usd DECIMAL(12, 2), customer_tier VARCHAR, updated_at TIMESTAMP);
CREATE TABLE deal_usage (deal_id BIGINT, active_users INTEGER, usage_score DOUBLE, updated_at TIMESTAMP);
"""


def hubspot_config(fake: HubSpotFake) -> dict[str, Any]:
    return {
        "credentials": {"auth_type": "private_app", "access_token": "pat-good"},
        "api_base_url": fake.url,
        "rate_limit_per_10s": 250,
        "streams": [
            SEED_CONTACTS_TO_HUBSPOT,
            {
                "stream": "deal_usage",
                "object": "deals",
                "operation": "update",
                "match_key": ["hs_object_id"],
                "fields": {
                    "deal_id": "hs_object_id",
                    "active_users": "active_users",
                    "usage_score": "usage_score",
                },
                "unmapped_columns": "drop",
            },
        ],
    }


def model_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_warehouse_models_into_hubspot_full_then_incremental(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    fake = hubspot_fake
    fake.add_property("contacts", "total_orders", "number")
    fake.add_property("contacts", "lifetime_value", "number")
    fake.add_property("contacts", "customer_tier", "enumeration", options=["bronze", "silver", "gold"])
    fake.add_property("deals", "active_users", "number")
    fake.add_property("deals", "usage_score", "number")
    contact_ids = [fake.add_record("contacts", {"email": f"c{i}@x.com"}) for i in range(150)]
    deal_ids = [fake.add_record("deals", {"dealname": f"Deal {i}"}) for i in range(40)]
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(CONTACTS_SQL)
        connection.executemany(
            "INSERT INTO contacts_enriched VALUES "
            "(?, ?, 'F', 'L', ?, ?, ?, TIMESTAMP '2026-11-01' + to_minutes(?))",
            [
                (int(cid), f"c{i}@x.com", i, i * 10.5, ["bronze", "silver", "gold"][i % 3], i)
                for i, cid in enumerate(contact_ids)
            ],
        )
        connection.executemany(
            "INSERT INTO deal_usage VALUES (?, ?, ?, TIMESTAMP '2026-11-01' + to_minutes(?))",
            [(int(did), i * 3, i / 7, i) for i, did in enumerate(deal_ids)],
        )
    source = {
        "warehouse": {"type": "duckdb", "path": str(warehouse)},
        "models": [
            {
                "name": "contacts_enriched",
                "relation": "contacts_enriched",
                "primary_key": ["hubspot_contact_id"],
                "cursor_field": "updated_at",
            },
            {
                "name": "deal_usage",
                "relation": "deal_usage",
                "primary_key": ["deal_id"],
                "cursor_field": "updated_at",
            },
        ],
    }
    catalog = incremental_catalog(
        {"contacts_enriched": ("hubspot_contact_id", "updated_at"), "deal_usage": ("deal_id", "updated_at")},
        sync_mode="update",
    )
    retl_run(tmp_path, "destination-hubspot", source, hubspot_config(fake), catalog)
    assert_hubspot_matches_model(fake, warehouse)
    first_updates = fake.call_count("objects.batch/update")

    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "UPDATE contacts_enriched SET customer_tier = 'gold', total_orders = 99, "
            "updated_at = TIMESTAMP '2026-11-20' WHERE hubspot_contact_id IN (?, ?)",
            [int(contact_ids[3]), int(contact_ids[4])],
        )
        connection.execute(
            "UPDATE deal_usage SET active_users = 500, updated_at = TIMESTAMP '2026-11-20' WHERE deal_id = ?",
            [int(deal_ids[0])],
        )
    fake.clear_requests()
    retl_run(tmp_path, "destination-hubspot", source, hubspot_config(fake), catalog)
    assert_hubspot_matches_model(fake, warehouse)
    sent = [
        item["id"]
        for request in fake.requests
        if request.path.endswith("/batch/update")
        for item in orjson.loads(request.body)["inputs"]
    ]
    # The changed rows, plus each stream's last row of the first run (the inclusive cursor re-sends it).
    assert sorted(sent) == sorted(
        [contact_ids[3], contact_ids[4], contact_ids[149], deal_ids[0], deal_ids[39]]
    )
    assert fake.call_count("objects.batch/update") == first_updates + 2
    state = orjson.loads((tmp_path / "destination-hubspot.state.json").read_bytes())
    assert {s["stream"]["stream_descriptor"]["name"] for s in state} == {"contacts_enriched", "deal_usage"}


def assert_hubspot_matches_model(fake: HubSpotFake, warehouse: Path) -> None:
    contacts = fake.objects("contacts")
    for cid, orders, value, tier in model_rows(
        warehouse,
        "SELECT hubspot_contact_id, total_orders, lifetime_value_usd, customer_tier FROM contacts_enriched",
    ):
        props = contacts[str(cid)]
        assert (props["total_orders"], props["lifetime_value"], props["customer_tier"]) == (
            str(orders),
            format(value.normalize(), "f"),
            tier,
        ), cid
    deals = fake.objects("deals")
    for did, users, score in model_rows(
        warehouse, "SELECT deal_id, active_users, usage_score FROM deal_usage"
    ):
        props = deals[str(did)]
        assert props["active_users"] == str(users) and float(props["usage_score"]) == score, did


def test_a_broken_mapping_confirms_nothing_and_the_fixed_sync_resends_everything(
    make_webhook_receiver: Any, tmp_path: Path
) -> None:
    """200 rows, all rejected by a mapping mistake: the state file is unchanged; after the fix, all 200 go."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("CREATE TABLE accounts (id INTEGER, tier VARCHAR, updated_at TIMESTAMP)")
        connection.execute(
            "INSERT INTO accounts SELECT i, 'gold', TIMESTAMP '2026-11-01' + to_minutes(i::INTEGER)"
            " FROM range(200) t(i)"
        )
    source = {
        "warehouse": {"type": "duckdb", "path": str(warehouse)},
        "models": [
            {"name": "accounts", "relation": "accounts", "primary_key": ["id"], "cursor_field": "updated_at"}
        ],
        "checkpoint_every_records": 50,
    }
    receiver = make_webhook_receiver()
    broken = {
        "url": f"{receiver.url}/hooks",
        "streams": [{"stream": "accounts", "match_key": ["id"], "field_types": {"tier": "integer"}}],
    }
    catalog = incremental_catalog({"accounts": ("id", "updated_at")})
    state_file = tmp_path / "destination-webhook.state.json"
    state_file.write_text("[]")
    first = retl_run(tmp_path, "destination-webhook", source, broken, catalog, check=False)
    assert first.returncode == 1
    assert "100 of 100 records of stream 'accounts' (100.0%) were rejected" in first.stderr  # judged at 100
    assert "tier: 'gold' is not a number" in first.stderr
    assert orjson.loads(state_file.read_bytes()) == []  # nothing confirmed
    assert receiver.received_records() == []

    fixed = {**broken, "streams": [{"stream": "accounts", "match_key": ["id"]}]}
    second = retl_run(tmp_path, "destination-webhook", source, fixed, catalog)
    assert second.returncode == 0, second.stderr
    assert sorted(r["id"] for r in receiver.received_records()) == list(range(200))
    [state] = orjson.loads(state_file.read_bytes())
    assert state["stream"]["stream_state"]["cursor"] == "2026-11-01T03:19:00"
