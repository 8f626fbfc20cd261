"""destination-clarify under stress: people and companies in the fake hold exactly the last values read.

Keys repeat within and across batches and windows (emails and domains in varying case), 8 workers,
10 % 429s, 5 % 5xx and 2 % resets of which half after Clarify applied the bulk request, then a
kill -9 and a resumed sync.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from destination_clarify.destination import DestinationClarify
from tests.destination_clarify.test_clarify_write import COMPANIES, PEOPLE, config
from tests.fakes.clarify import ClarifyFake
from tests.harness import configured_catalog, run_destination
from tests.stress import CHAOS, Workload, last_window, sometimes_null, workload, write_killed

STAGES = ["Lead", "Qualified", "Customer"]
CASES = {
    "people": (PEOPLE, "person", "email", "email_addresses", [f"p{i}@x.com" for i in range(150)]),
    "companies": (COMPANIES, "company", "domain", "domains", [f"c{i}.example" for i in range(150)]),
}


def records(case: str) -> Workload:
    mapping, _, column, _, keys = CASES[case]

    def make(rng: random.Random, key: Any, seq: int) -> dict[str, Any]:
        data: dict[str, Any] = {column: key.upper() if rng.random() < 0.3 else key}
        if case == "people":
            data["stage"] = sometimes_null(rng, rng.choice(STAGES))
            data["title"] = sometimes_null(rng, f"title {seq}")
        else:
            data["name"] = sometimes_null(rng, f"name {seq}")
        return data

    return workload(mapping["stream"], keys, make, records=900, per_window=200)


def assert_final_data(fake: ClarifyFake, case: str, work: Workload) -> None:
    _, object_name, column, field, _ = CASES[case]
    for key, fields in work.expected.items():
        [record] = fake.find_all(object_name, field, key)  # exactly one record per email or domain
        wanted = {name: value for name, value in fields.items() if name != column}
        assert {name: record.get(name) for name in wanted} == wanted, f"{object_name} {key}"
    assert len(fake.records(object_name)) == len(work.expected)


@pytest.mark.parametrize("case", ["people", "companies"])
def test_the_last_value_read_wins_under_concurrency_and_faults(
    clarify_fake: ClarifyFake, tmp_path: Path, case: str
) -> None:
    work = records(case)
    clarify_fake.chaos(**CHAOS, path_regex=r".*/records(/bulk)?", seed=23)
    mapping = CASES[case][0]
    run = run_destination(
        DestinationClarify,
        tmp_path,
        "write",
        config(clarify_fake, mapping, max_concurrency=8),
        configured_catalog(mapping["stream"]),
        work.lines(),
    )
    assert run.code == 0, run.error
    assert [s["stream"]["stream_state"]["window"] for s in run.states] == list(range(len(work.windows)))
    faults = {r.fault for r in clarify_fake.requests if r.fault}
    assert "inject" in faults and faults & {"inject_after", "reset_after"}
    assert_final_data(clarify_fake, case, work)


def test_a_killed_sync_resumed_from_its_last_state_ends_with_the_last_values(
    clarify_fake: ClarifyFake, tmp_path: Path
) -> None:
    work = records("people")
    clarify_fake.chaos(**CHAOS, path_regex=r".*/records(/bulk)?", seed=4)
    cfg, catalog = config(clarify_fake, PEOPLE, max_concurrency=8), configured_catalog("people")
    states = write_killed(
        "destination-clarify", tmp_path, cfg, catalog, work.lines(), clarify_fake, after_requests=15
    )
    resumed = run_destination(
        DestinationClarify, tmp_path, "write", cfg, catalog, work.lines(after_window=last_window(states))
    )
    assert resumed.code == 0, resumed.error
    assert_final_data(clarify_fake, "people", work)
