"""destination-customerio under stress: people and objects in the fake hold exactly the last values read.

Keys repeat within and across batches and windows, 8 workers, 10 % 429s, 5 % 5xx and 2 % resets of
which half after Customer.io applied the batch, then a kill -9 and a resumed sync.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from destination_customerio.destination import DestinationCustomerIo
from tests.destination_customerio.test_customerio_write import config
from tests.fakes.customerio import CustomerIoFake
from tests.harness import configured_catalog, run_destination
from tests.stress import CHAOS, Workload, last_window, sometimes_null, workload, write_killed

PEOPLE = {"stream": "users", "object": "person", "fields": {"user_id": "id"}}
ACCOUNTS = {"stream": "users", "object": "object", "object_type_id": "1", "fields": {"user_id": "object_id"}}


def users(records: int = 3000) -> Workload:
    def make(rng: random.Random, user_id: Any, seq: int) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "plan": sometimes_null(rng, rng.choice(["free", "pro", "enterprise"])),
            "seats": sometimes_null(rng, seq),
            "region": sometimes_null(rng, rng.choice(["eu", "us"])),
        }

    return workload("users", [f"u{i}" for i in range(400)], make, records=records, per_window=500)


def held(fake: CustomerIoFake, mapping: dict[str, Any], key: str) -> dict[str, Any] | None:
    if mapping["object"] == "person":
        person = fake.person(id=key)
        return None if person is None else person.attributes
    found = fake.object("1", key)
    return None if found is None else found.attributes


def assert_final_data(fake: CustomerIoFake, mapping: dict[str, Any], work: Workload) -> None:
    for key, fields in work.expected.items():
        wanted = {name: value for name, value in fields.items() if name != "user_id"}
        assert held(fake, mapping, key) == wanted, f"{mapping['object']} {key}"


@pytest.mark.parametrize("mapping", [PEOPLE, ACCOUNTS], ids=["people", "objects"])
def test_the_last_value_read_wins_under_concurrency_and_faults(
    customerio_fake: CustomerIoFake, tmp_path: Path, mapping: dict[str, Any]
) -> None:
    work = users()
    customerio_fake.chaos(**CHAOS, path_regex=r"/api/v2/batch", seed=3)
    run = run_destination(
        DestinationCustomerIo,
        tmp_path,
        "write",
        config(customerio_fake, mapping, max_concurrency=8),
        configured_catalog("users"),
        work.lines(),
    )
    assert run.code == 0, run.error
    assert [s["stream"]["stream_state"]["window"] for s in run.states] == list(range(len(work.windows)))
    faults = {r.fault for r in customerio_fake.requests if r.fault}
    assert "inject" in faults and faults & {"inject_after", "reset_after"}
    assert_final_data(customerio_fake, mapping, work)


def test_a_killed_sync_resumed_from_its_last_state_ends_with_the_last_values(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    work = users()
    customerio_fake.chaos(**CHAOS, path_regex=r"/api/v2/batch", seed=8)
    cfg, catalog = config(customerio_fake, PEOPLE, max_concurrency=8), configured_catalog("users")
    states = write_killed(
        "destination-customerio", tmp_path, cfg, catalog, work.lines(), customerio_fake, after_requests=12
    )
    resumed = run_destination(
        DestinationCustomerIo, tmp_path, "write", cfg, catalog, work.lines(after_window=last_window(states))
    )
    assert resumed.code == 0, resumed.error
    assert_final_data(customerio_fake, PEOPLE, work)
