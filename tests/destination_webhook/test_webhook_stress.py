"""destination-webhook under stress: a receiver applying deliveries in order ends with the last values.

Keys repeat within and across batches and windows, 8 workers, 10 % 429s, 5 % 5xx and 2 % resets of
which half after the receiver took the delivery (so it sees it twice), then a kill -9 and a resume.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from destination_webhook.destination import DestinationWebhook
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, run_destination
from tests.stress import CHAOS, Workload, last_window, sometimes_null, workload, write_killed


def accounts() -> Workload:
    def make(rng: random.Random, account: Any, seq: int) -> dict[str, Any]:
        return {
            "account_id": account,
            "tier": sometimes_null(rng, rng.choice(["free", "pro", "enterprise"])),
            "active_users": sometimes_null(rng, seq),
        }

    return workload("accounts", list(range(300)), make, records=3000, per_window=500)


def config(receiver: WebhookReceiver) -> dict[str, Any]:
    return {
        "url": f"{receiver.url}/hooks/accounts",
        "batch_size": 50,
        "max_concurrency": 8,
        "streams": [{"stream": "accounts", "match_key": ["account_id"]}],
    }


def assert_final_data(receiver: WebhookReceiver, work: Workload) -> None:
    """The receiver applies each delivered record as an upsert of its fields, in arrival order."""
    held: dict[Any, dict[str, Any]] = {}
    for record in receiver.received_records():
        held[record["account_id"]] = {**held.get(record["account_id"], {}), **record}
    assert held == work.expected


def test_the_last_value_read_wins_under_concurrency_and_faults(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    work = accounts()
    webhook_receiver.chaos(**CHAOS, path_regex="/hooks/accounts", seed=2)
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config(webhook_receiver),
        configured_catalog("accounts"),
        work.lines(),
    )
    assert run.code == 0, run.error
    assert [s["stream"]["stream_state"]["window"] for s in run.states] == list(range(len(work.windows)))
    faults = {r.fault for r in webhook_receiver.requests if r.fault}
    assert "inject" in faults and faults & {"inject_after", "reset_after"}
    assert_final_data(webhook_receiver, work)


def test_a_killed_sync_resumed_from_its_last_state_ends_with_the_last_values(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    work = accounts()
    webhook_receiver.chaos(**CHAOS, path_regex="/hooks/accounts", seed=9)
    cfg, catalog = config(webhook_receiver), configured_catalog("accounts")
    states = write_killed(
        "destination-webhook", tmp_path, cfg, catalog, work.lines(), webhook_receiver, after_requests=25
    )
    resumed = run_destination(
        DestinationWebhook, tmp_path, "write", cfg, catalog, work.lines(after_window=last_window(states))
    )
    assert resumed.code == 0, resumed.error
    assert_final_data(webhook_receiver, work)
