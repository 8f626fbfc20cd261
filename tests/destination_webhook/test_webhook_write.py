"""destination-webhook end to end against the real receiver on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airbyte_protocol_dataclasses.models import DestinationCatalog
from serpyco_rs import Serializer

from destination_webhook.destination import DestinationWebhook
from tests.fakes.tls import make_certificates
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, record_line, run_destination, state_line

SECRET_TOKEN = "sk_live_do_not_print_9f8e7d"


def config_for(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {"url": f"{receiver.url}/hooks/crm", "max_concurrency": 2, **extra}


def contacts(n: int, start: int = 0) -> list[bytes]:
    return [
        record_line("contacts", {"id": i, "email": f"u{i}@x.com", "tier": None})
        for i in range(start, start + n)
    ]


def test_batches_arrive_as_json_arrays_with_states_after_them(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    lines = [
        *contacts(5),
        state_line("contacts", {"cursor": 5}),
        *contacts(3, 5),
        state_line("contacts", {"cursor": 8}),
    ]
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver, batch_size=2),
        configured_catalog("contacts", primary_key=["id"]),
        lines,
    )
    assert run.code == 0, run.error
    assert sorted(r["id"] for r in webhook_receiver.received_records()) == list(range(8))
    assert all(isinstance(d.parsed, list) and len(d.parsed) <= 2 for d in webhook_receiver.deliveries)
    assert [s["stream"]["stream_state"] for s in run.states] == [{"cursor": 5}, {"cursor": 8}]
    assert [s["destinationStats"] for s in run.states] == [
        {"recordCount": 5.0, "rejectedRecordCount": 0},
        {"recordCount": 3.0, "rejectedRecordCount": 0},
    ]
    first = next(r for r in webhook_receiver.received_records() if r["id"] == 0)
    assert first == {"id": 0, "email": "u0@x.com"}  # the null tier was skipped


def test_batch_size_one_sends_single_objects(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver, batch_size=1),
        configured_catalog("contacts"),
        contacts(3),
    )
    assert run.code == 0
    assert sorted(d.parsed["id"] for d in webhook_receiver.deliveries) == [0, 1, 2]


def test_mapping_renames_statics_templates_and_drop(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    mapping = {
        "stream": "contacts",
        "fields": {"email": "email_address", "ltv": "lifetime_value"},
        "static_values": {"source": "warehouse"},
        "templates": {"label": "{{ record.email }} ({{ record.tier }})"},
        "field_types": {"lifetime_value": "decimal", "updated": "datetime"},
        "unmapped_columns": "drop",
        "nulls": "clear",
    }
    line = record_line(
        "contacts", {"email": "a@x.com", "ltv": 1234.5, "tier": "gold", "other": 1, "note": None}
    )
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver, streams=[mapping]),
        configured_catalog("contacts"),
        [line],
    )
    assert run.code == 0, run.error
    assert webhook_receiver.received_records() == [
        {
            "email_address": "a@x.com",
            "lifetime_value": "1234.5",
            "label": "a@x.com (gold)",
            "source": "warehouse",
        }
    ]


def test_retries_honour_retry_after_then_deliver_once(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    webhook_receiver.inject(status=503, headers={"Retry-After": "1"}, times=1)
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver, batch_size=10),
        configured_catalog("contacts"),
        [*contacts(3), state_line("contacts", 1)],
    )
    assert run.code == 0
    statuses = [r.status for r in webhook_receiver.requests]
    assert statuses == [503, 200]
    gap = webhook_receiver.requests[1].timestamp - webhook_receiver.requests[0].timestamp
    assert gap >= 0.9  # Retry-After: 1 was honoured (a lower bound, not a timing benchmark)
    assert any("retry 1/" in line for line in run.logs)
    assert len(run.states) == 1


def test_client_errors_split_the_batch_until_each_refused_record_is_rejected_alone(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    # the first batch of two is refused, then each of its records on its own; the second batch passes
    webhook_receiver.inject(status=422, body={"error": "unknown field tier"}, times=3)
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver, batch_size=2, max_rejected_ratio=0.9, max_concurrency=1),
        configured_catalog("contacts", primary_key=["id"]),
        [*contacts(4), state_line("contacts", 1)],
    )
    assert run.code == 0, run.error
    assert run.states[0]["destinationStats"] == {"recordCount": 4.0, "rejectedRecordCount": 2}
    rejected = [line for line in run.logs if line.startswith("rejected contacts record")]
    assert len(rejected) == 2 and "HTTP 422" in rejected[0] and "unknown field tier" in rejected[0]
    assert "id=" in rejected[0]
    assert [len(r.json()) if isinstance(r.json(), list) else 1 for r in webhook_receiver.requests] == [
        2,
        1,
        1,
        2,
    ]


def test_exhausted_retries_fail_transient_without_later_states(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    lines = [*contacts(2), state_line("contacts", 1), *contacts(2, 2), state_line("contacts", 2)]
    config = config_for(webhook_receiver, batch_size=10, max_concurrency=1)
    first = run_destination(
        DestinationWebhook, tmp_path, "write", config, configured_catalog("contacts"), lines[:3]
    )
    assert first.code == 0
    webhook_receiver.inject(status=502, headers={"Retry-After": "0"}, times=100)
    run = run_destination(
        DestinationWebhook, tmp_path, "write", config, configured_catalog("contacts"), lines
    )
    assert run.code == 1
    assert run.error is not None and run.error["failure_type"] == "transient_error"
    assert "Gave up after 7 attempts" in run.error["message"]
    assert run.states == []  # the first window's batch failed too: no state is safe


def test_gone_endpoint_is_a_config_error(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    webhook_receiver.inject(status=410, times=1)
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver),
        configured_catalog("contacts"),
        contacts(1),
    )
    assert run.code == 1 and run.error is not None
    assert (
        run.error["failure_type"] == "config_error"
        and "HTTP 410 (the endpoint is gone" in run.error["message"]
    )


def test_dry_run_writes_nothing_and_reports(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    bad = record_line("contacts", {"email": "x@x.com", "ltv": "n/a"})
    mapping = {"stream": "contacts", "field_types": {"ltv": "number"}}
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver, dry_run=True, streams=[mapping], max_rejected_ratio=1),
        configured_catalog("contacts"),
        [*contacts(3), bad, state_line("contacts", 1)],
    )
    assert run.code == 0, run.error
    assert webhook_receiver.requests == []
    assert run.states == []
    assert any("would write 3" in line and "rejected 1" in line and "send 3" in line for line in run.logs)
    assert any("ltv: 'n/a' is not a number" in line for line in run.logs)


def test_secrets_never_reach_output(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    """The receiver echoes the Authorization header into its error body; it must come out masked."""

    def echo_auth(request: Any) -> tuple[int, Any]:
        return 400, {"error": f"bad request with {request.headers.get('Authorization')}"}

    webhook_receiver.route("POST", "/echo", echo_auth)
    config = {
        "url": f"{webhook_receiver.url}/echo",
        "auth": {"auth_type": "bearer", "token": SECRET_TOKEN},
        "headers": {"X-Extra": "hdr-secret-value"},
        "max_rejected_ratio": 0.1,
    }
    run = run_destination(
        DestinationWebhook, tmp_path, "write", config, configured_catalog("contacts"), contacts(2)
    )
    assert run.code == 1
    assert SECRET_TOKEN.encode() not in run.raw
    assert b"****" in run.raw  # the echoed token was there, masked
    assert webhook_receiver.requests[0].headers["Authorization"] == f"Bearer {SECRET_TOKEN}"
    spec = run_destination(DestinationWebhook, tmp_path, "check", {**config, "url": "not a url"})
    assert SECRET_TOKEN.encode() not in spec.raw


def test_spec_marks_secrets_and_check_reports_reachability(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    spec = DestinationWebhook().spec()["connectionSpecification"]
    auth_options = spec["properties"]["auth"]["oneOf"]
    bearer = next(o for o in auth_options if o["properties"]["auth_type"].get("const") == "bearer")
    assert bearer["properties"]["token"]["airbyte_secret"] is True
    ok = run_destination(DestinationWebhook, tmp_path, "check", config_for(webhook_receiver))
    assert ok.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"
    down = run_destination(DestinationWebhook, tmp_path, "check", {"url": "http://127.0.0.1:9/nothing"})
    status = down.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "Cannot reach" in status["message"]


def test_discover_prints_a_destination_catalog(tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    run = run_destination(DestinationWebhook, tmp_path, "discover", config_for(webhook_receiver))
    (message,) = run.of_type("DESTINATION_CATALOG")
    catalog = Serializer(DestinationCatalog).load(message["destination_catalog"])  # protocol 0.16 shape
    assert catalog.operations[0].matching_keys == []
    operations = message["destination_catalog"]["operations"]
    assert [(o["object_name"], o["sync_mode"]) for o in operations] == [("endpoint", "append")]


@pytest.mark.slow
def test_console_script_writes_over_stdin(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(f'{{"url": "{webhook_receiver.url}/x"}}')
    catalog = tmp_path / "catalog.json"
    catalog.write_text(__import__("json").dumps(configured_catalog("contacts")))
    stdin = b"\n".join([*contacts(3), state_line("contacts", 3)]) + b"\n"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "destination_webhook.run",
            "write",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ],
        input=stdin,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert b'"type":"STATE"' in result.stdout
    assert len(webhook_receiver.received_records()) == 3


def test_a_bad_line_fails_after_the_states_before_it(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    lines = [*contacts(2), state_line("contacts", 1), b'{"type": "RECORD", "record": ', *contacts(2, 2)]
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(webhook_receiver),
        configured_catalog("contacts"),
        lines,
    )
    assert run.code == 1 and run.error is not None
    assert run.error["failure_type"] == "system_error"
    assert "line 4 is not a valid Airbyte message" in run.error["message"]
    assert [s["stream"]["stream_state"] for s in run.states] == [1]
    assert sorted(r["id"] for r in webhook_receiver.received_records()) == [0, 1]
    assert run.messages.index(run.of_type("STATE")[0]) < run.messages.index(run.of_type("TRACE")[-1])


# --- request-level refusals are never record rejections --------------------------------------------


def test_a_413_splits_the_body_until_it_fits_and_rejects_only_a_record_too_large_alone(
    make_webhook_receiver: Any, tmp_path: Path
) -> None:
    receiver = make_webhook_receiver(max_body_bytes=700)
    lines = [record_line("contacts", {"id": i, "note": "x" * 40}) for i in range(40)]
    lines.append(record_line("contacts", {"id": 99, "note": "y" * 2000}))  # never fits on its own
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config_for(receiver, batch_size=50, max_rejected_ratio=0.1),
        configured_catalog("contacts", primary_key=["id"]),
        [*lines, state_line("contacts", 1)],
    )
    assert run.code == 0, run.error
    assert sorted(r["id"] for r in receiver.received_records()) == list(range(40))
    assert run.states[0]["destinationStats"] == {"recordCount": 41.0, "rejectedRecordCount": 1}
    [rejected] = [line for line in run.logs if line.startswith("rejected contacts record")]
    assert "id=99" in rejected and "too large (HTTP 413" in rejected


@pytest.mark.parametrize(("path", "status"), [("/wrong", 404), ("/readonly", 405)])
def test_a_wrong_path_or_method_is_a_config_error_with_no_state_past_the_records(
    webhook_receiver: WebhookReceiver, tmp_path: Path, path: str, status: int
) -> None:
    webhook_receiver.route("POST", path, lambda request: (status, {"error": "nope"}))
    config = {**config_for(webhook_receiver), "url": f"{webhook_receiver.url}{path}"}
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        config,
        configured_catalog("contacts"),
        [*contacts(3), state_line("contacts", 1)],
    )
    assert run.code == 1 and run.states == []
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert f"{path} answered HTTP {status}" in run.error["message"]
    assert len(webhook_receiver.requests) == 1  # not retried, not split, nothing rejected record by record


def test_a_certificate_the_destination_does_not_trust_is_a_config_error(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    receiver.tls = make_certificates(self_signed=True).context
    with receiver:
        run = run_destination(
            DestinationWebhook,
            tmp_path,
            "write",
            {"url": f"{receiver.url}/hooks"},
            configured_catalog("contacts"),
            [*contacts(2), state_line("contacts", 1)],
        )
    assert run.code == 1 and run.states == []
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "certificate verify failed: self-signed certificate" in run.error["message"]
