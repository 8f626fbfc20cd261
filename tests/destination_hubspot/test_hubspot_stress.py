"""destination-hubspot under stress: the final records in the fake are exactly the last values read.

Keys repeat within and across batches and windows (emails in varying case, which HubSpot compares
case-insensitively), 8 workers, 10 % 429s, 5 % 5xx and 2 % resets of which half after HubSpot
applied the batch, then a kill -9 and a resumed sync. Creates by retl_source_key go through the same.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from destination_hubspot.destination import DestinationHubSpot
from tests.destination_hubspot.test_hubspot_write import TOKEN, seed_contact_properties
from tests.fakes.hubspot import HubSpotFake
from tests.harness import configured_catalog, run_destination
from tests.stress import CHAOS, Workload, last_window, sometimes_null, workload, write_killed

TIERS = ["bronze", "silver", "gold"]
PROPERTIES = ("total_orders", "customer_tier", "lifetime_value")


def contacts_by_email(fake: HubSpotFake) -> Workload:
    def make(rng: random.Random, email: Any, seq: int) -> dict[str, Any]:
        return {
            "email": email.upper() if rng.random() < 0.3 else email,
            "total_orders": sometimes_null(rng, seq),
            "customer_tier": sometimes_null(rng, rng.choice(TIERS)),
            "lifetime_value": sometimes_null(rng, rng.randrange(10_000)),
        }

    return workload("contacts", [f"user{i}@x.com" for i in range(300)], make, records=3000, per_window=500)


def contacts_by_id(fake: HubSpotFake) -> Workload:
    ids = [fake.add_record("contacts", {"email": f"known{i}@x.com"}) for i in range(200)]

    def make(rng: random.Random, record_id: Any, seq: int) -> dict[str, Any]:
        return {
            "hs_object_id": record_id,
            "total_orders": sometimes_null(rng, seq),
            "customer_tier": sometimes_null(rng, rng.choice(TIERS)),
        }

    return workload("contacts", ids, make, records=2000, per_window=400)


MAPPINGS = {
    "email": {"stream": "contacts", "object": "contacts", "operation": "upsert", "match_key": ["email"]},
    "hs_object_id": {
        "stream": "contacts",
        "object": "contacts",
        "operation": "update",
        "match_key": ["hs_object_id"],
    },
}
WORKLOADS = {"email": contacts_by_email, "hs_object_id": contacts_by_id}


def stress_config(fake: HubSpotFake, key: str) -> dict[str, Any]:
    return {
        "credentials": {"auth_type": "private_app", "access_token": TOKEN},
        "api_base_url": fake.url,
        "streams": [MAPPINGS[key]],
        "rate_limit_per_10s": 190,
        "max_concurrency": 8,
    }


def assert_final_data(fake: HubSpotFake, work: Workload, key: str) -> None:
    for value, fields in work.expected.items():
        if key == "email":
            [record] = fake.find_all("contacts", "email", value)  # exactly one contact per email
        else:
            record = fake.record("contacts", value)
            assert record is not None
        wanted = {name: str(fields[name]) for name in PROPERTIES if name in fields}
        held = {name: record.properties.get(name) for name in wanted}
        assert held == wanted, f"contact {value}"
    if key == "email":
        assert len(fake.objects("contacts")) == len(work.expected)


@pytest.mark.parametrize("key", ["email", "hs_object_id"])
def test_the_last_value_read_wins_under_concurrency_and_faults(
    hubspot_fake: HubSpotFake, tmp_path: Path, key: str
) -> None:
    seed_contact_properties(hubspot_fake)
    work = WORKLOADS[key](hubspot_fake)
    hubspot_fake.chaos(**CHAOS, path_regex=r".*/batch/(upsert|update)", seed=11)
    run = run_destination(
        DestinationHubSpot,
        tmp_path,
        "write",
        stress_config(hubspot_fake, key),
        configured_catalog("contacts"),
        work.lines(),
    )
    assert run.code == 0, run.error
    assert [s["stream"]["stream_state"]["window"] for s in run.states] == list(range(len(work.windows)))
    faults = {r.fault for r in hubspot_fake.requests if r.fault}
    assert "inject" in faults and faults & {"inject_after", "reset_after"}  # the faults really happened
    assert_final_data(hubspot_fake, work, key)


def test_a_killed_sync_resumed_from_its_last_state_ends_with_the_last_values(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    seed_contact_properties(hubspot_fake)
    work = contacts_by_email(hubspot_fake)
    hubspot_fake.chaos(**CHAOS, path_regex=r".*/batch/upsert", seed=5)
    config, catalog = stress_config(hubspot_fake, "email"), configured_catalog("contacts")
    states = write_killed(
        "destination-hubspot", tmp_path, config, catalog, work.lines(), hubspot_fake, after_requests=20
    )
    resumed = run_destination(
        DestinationHubSpot, tmp_path, "write", config, catalog, work.lines(after_window=last_window(states))
    )
    assert resumed.code == 0, resumed.error
    assert_final_data(hubspot_fake, work, "email")


def deals_by_order(fake: HubSpotFake) -> Workload:
    def make(rng: random.Random, order: Any, seq: int) -> dict[str, Any]:
        return {"order_id": order, "dealname": f"Order {order}", "amount": sometimes_null(rng, seq)}

    return workload("new_deals", list(range(400)), make, records=2000, per_window=400)


def test_creates_by_source_key_end_with_one_deal_per_key_under_faults(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    work = deals_by_order(hubspot_fake)
    hubspot_fake.chaos(**CHAOS, path_regex=r".*/deals/batch/(create|upsert)", seed=3)
    mapping = {
        "stream": "new_deals",
        "object": "deals",
        "operation": "create",
        "unmapped_columns": "pass_through",
    }
    config = {**stress_config(hubspot_fake, "email"), "streams": [mapping], "create_missing_properties": True}
    catalog = configured_catalog("new_deals", sync_mode="append", primary_key=["order_id"])
    run = run_destination(DestinationHubSpot, tmp_path, "write", config, catalog, work.lines())
    assert run.code == 0, run.error
    assert {r.fault for r in hubspot_fake.requests if r.fault} & {"inject_after", "reset_after"}
    deals = {p["dealname"]: p for p in hubspot_fake.objects("deals").values()}
    assert len(deals) == len(hubspot_fake.objects("deals")) == len(work.expected)
    for order, fields in work.expected.items():
        wanted = str(fields["amount"]) if "amount" in fields else None
        assert deals[f"Order {order}"].get("amount") == wanted, f"order {order}"
