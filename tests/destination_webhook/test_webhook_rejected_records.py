"""destination-webhook with `rejected_records: local`: records the receiver refuses (422, its answer
quoting the body) land in JSONL files under the sync's folder, masked, named by their primary key."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from destination_webhook.destination import DestinationWebhook
from retl_shared.redaction import forms
from tests.fakes.server import Reply, Request
from tests.fakes.webhook import WebhookReceiver, records_of
from tests.harness import configured_catalog, record_line, run_destination, state_line

SECRET = "sk_live_rejected_9a8b7c6d5e"


class BlockedTierReceiver:
    """422 for a body holding a record of the blocked tier, quoting the body back as frameworks do; keeps
    the ids of the records it accepted."""

    def __init__(self) -> None:
        self.accepted: list[int] = []

    def __call__(self, request: Request) -> Reply:
        records = records_of(request.json())
        if any(record.get("tier") == "blocked" for record in records):
            return 422, {"error": f"tier blocked is not allowed: {request.text}"}
        self.accepted += [record["id"] for record in records]
        return 200, {"status": "ok"}


def test_refused_records_are_stored_masked_by_sync_and_stream_and_the_states_count_them(
    webhook_receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_JOB_ID", "77")
    monkeypatch.setenv("WORKER_JOB_ATTEMPT", "2")
    receiver = BlockedTierReceiver()
    webhook_receiver.route("POST", r"/hooks/crm", receiver)
    directory = tmp_path / "rejected"
    config = {
        "url": f"{webhook_receiver.url}/hooks/crm",
        "auth": {"auth_type": "bearer", "token": SECRET},
        "batch_size": 4,
        "max_concurrency": 2,
        "max_rejected_ratio": 0.5,
        "rejected_records": {"storage_type": "local", "path": str(directory)},
    }
    blocked = {3, 8, 9}
    lines = []
    for i in range(12):
        data: dict[str, Any] = {
            "id": i,
            "email": f"u{i}@x.com",
            "tier": "blocked" if i in blocked else "gold",
        }
        if i == 8:  # the config's secret, leaked into the warehouse plain and base64-encoded
            data["note"] = f"token={SECRET} encoded={base64.b64encode(SECRET.encode()).decode()}"
        lines.append(record_line("contacts", data))
        if i in (5, 11):
            lines.append(state_line("contacts", {"cursor": i}))

    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config,
        configured_catalog("contacts", primary_key=["id"]),
        lines,
    )

    assert run.code == 0, run.error
    assert sorted(receiver.accepted) == sorted(set(range(12)) - blocked)
    assert [s["destinationStats"]["rejectedRecordCount"] for s in run.states] == [1, 2]
    folder = directory / "job-77-attempt-2" / "_default" / "contacts"
    # a stream of fewer than 100 records has its states judged at the end: one flush, one part
    assert [p.name for p in folder.iterdir()] == ["part-0001.jsonl"]
    stored = [json.loads(line) for part in sorted(folder.iterdir()) for line in part.read_text().splitlines()]
    assert sorted(line["primary_key"]["id"] for line in stored) == [3, 8, 9]
    three = next(line for line in stored if line["primary_key"] == {"id": 3})
    assert three["stream"] == "contacts" and three["namespace"] is None and three["match_key"] == {"id": 3}
    assert three["record"] == {"id": 3, "email": "u3@x.com", "tier": "blocked"}
    assert three["reason"].startswith("HTTP 422") and "tier blocked is not allowed" in three["reason"]
    eight = next(line for line in stored if line["primary_key"] == {"id": 8})
    assert eight["record"]["note"] == "token=**** encoded=****"

    written = b"".join(part.read_bytes() for part in folder.iterdir())
    assert not [form for form in forms(SECRET) if form.encode() in written]
    assert f"rejected records go to {directory}/job-77-attempt-2/" in run.logs
    assert f"rejected records: 3 of stream 'contacts' stored in {folder}/ (1 file)" in run.logs


def test_check_says_which_directory_cannot_be_written(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    config = {
        "url": f"{webhook_receiver.url}/hooks/crm",
        "rejected_records": {"storage_type": "local", "path": str(tmp_path / "a-file" / "rejected")},
    }
    status = run_destination(DestinationWebhook, tmp_path, "check", config).of_type("CONNECTION_STATUS")[0]
    assert status["connectionStatus"]["status"] == "FAILED"
    assert (
        f"cannot write to the directory {tmp_path}/a-file/rejected" in status["connectionStatus"]["message"]
    )
    ok = {**config, "rejected_records": {"storage_type": "local", "path": str(tmp_path / "new")}}
    status = run_destination(DestinationWebhook, tmp_path, "check", ok).of_type("CONNECTION_STATUS")[0]
    assert status["connectionStatus"]["status"] == "SUCCEEDED"
    assert list((tmp_path / "new").iterdir()) == []
