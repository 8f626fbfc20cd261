"""Column names in another case than the stream's, through the webhook destination and its receiver:
a lower-case catalog under an upper-case (Snowflake) config, PyAirbyte's replay of its cache (records
in lower case and without a namespace under the source's upper-case, namespaced catalog), a catalog
without columns, and two columns of one name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from destination_webhook.destination import DestinationWebhook
from tests.fakes.webhook import WebhookReceiver
from tests.harness import Run, configured_catalog, record_line, run_destination, state_line

SNOWFLAKE_MAPPING = {
    "stream": "contacts",
    "match_key": ["EMAIL"],
    "fields": {"FIRST_NAME": "first_name"},
    "field_types": {"ID": "string"},
    "templates": {"greeting": "Hello {{ record.FIRST_NAME }}"},
}


def catalog(columns: list[str], namespace: str | None = None) -> dict[str, Any]:
    raw = configured_catalog("contacts")
    stream = raw["streams"][0]["stream"]
    stream["json_schema"] = {
        "type": "object",
        "properties": {c: {"type": ["null", "string"]} for c in columns},
    }
    if namespace is not None:
        stream["namespace"] = namespace
    return raw


def write(receiver: WebhookReceiver, tmp_path: Path, catalog: dict[str, Any], lines: list[bytes]) -> Run:
    config = {"url": f"{receiver.url}/hooks", "streams": [SNOWFLAKE_MAPPING]}
    return run_destination(DestinationWebhook, tmp_path, "write", config, catalog, lines)


def lower_case_rows() -> list[bytes]:
    return [
        record_line("contacts", {"id": 1, "email": "ann@x.io", "first_name": "Ann"}),
        record_line("contacts", {"id": 2, "email": "bob@x.io", "first_name": "Bob"}),
        state_line("contacts", {"cursor": 2}),
    ]


EXPECTED = [
    {"ID": "1", "EMAIL": "ann@x.io", "first_name": "Ann", "greeting": "Hello Ann"},
    {"ID": "2", "EMAIL": "bob@x.io", "first_name": "Bob", "greeting": "Hello Bob"},
]


def test_an_upper_case_config_writes_a_lower_case_catalogs_rows(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    run = write(webhook_receiver, tmp_path, catalog(["id", "email", "first_name"]), lower_case_rows())
    assert run.code == 0, run.error
    assert webhook_receiver.received_records() == EXPECTED
    assert [line for line in run.logs if "resolved" in line] == [
        "column 'FIRST_NAME' resolved to 'first_name' in stream 'contacts' (`fields`; only the case differs)",
        "column 'FIRST_NAME' resolved to 'first_name' in stream 'contacts' (the template for 'greeting'; "
        "only the case differs)",
        "column 'ID' resolved to 'id' in stream 'contacts' (`field_types`, sent as 'ID'; only the case "
        "differs)",
        "column 'EMAIL' resolved to 'email' in stream 'contacts' (match key, sent as 'EMAIL'; only the case "
        "differs)",
    ]
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [2.0]


def test_pyairbytes_replay_lower_case_records_without_namespace_under_the_sources_catalog(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    state = {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": "contacts", "namespace": "crm"}, "stream_state": {"c": 2}},
    }
    lines = [*lower_case_rows()[:2], orjson.dumps({"type": "STATE", "state": state})]
    run = write(webhook_receiver, tmp_path, catalog(["ID", "EMAIL", "FIRST_NAME"], "crm"), lines)
    assert run.code == 0, run.error
    assert webhook_receiver.received_records() == EXPECTED
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [2.0]
    assert sum("in its first record" in line for line in run.logs) == 4


def test_a_catalog_without_columns_resolves_on_the_first_record(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    run = write(webhook_receiver, tmp_path, configured_catalog("contacts"), lower_case_rows())
    assert run.code == 0, run.error
    assert webhook_receiver.received_records() == EXPECTED


def test_two_columns_of_one_name_are_a_config_error_naming_both(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    run = write(
        webhook_receiver, tmp_path, catalog(["id", "email", "Email", "first_name"]), lower_case_rows()
    )
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert (
        "stream 'contacts': match key field 'EMAIL' matches the columns 'Email' and 'email', which differ "
        "only in case; write it exactly as one of them"
    ) in run.error["message"]
    assert webhook_receiver.requests == [] and run.states == []
