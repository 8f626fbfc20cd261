"""What cannot work fails at write start, before anything is sent (kernel checks, through the webhook)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destination_webhook.destination import DestinationWebhook
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, record_line, run_destination, state_line

COLUMNS = {"ID": {"type": "integer"}, "EMAIL": {"type": "string"}, "UPDATED_AT": {"type": "string"}}


def catalog_with_columns() -> dict[str, Any]:
    catalog = configured_catalog("contacts")
    catalog["streams"][0]["stream"]["json_schema"] = {"type": "object", "properties": COLUMNS}
    return catalog


def write(receiver: WebhookReceiver, tmp_path: Path, mapping: dict[str, Any]) -> Any:
    config = {"url": f"{receiver.url}/hooks", "streams": [{"stream": "contacts", **mapping}]}
    lines = [record_line("contacts", {"ID": 1, "EMAIL": "a@x.com"}), state_line("contacts", 1)]
    return run_destination(DestinationWebhook, tmp_path, "write", config, catalog_with_columns(), lines)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"fields": {"EMAL": "email"}},
            "`fields` names column 'EMAL', which the stream does not have (closest: EMAIL",
        ),
        (
            {"match_key": ["user_id"], "unmapped_columns": "drop", "fields": {"ID": "id"}},
            "match key 'user_id' is not a field this mapping produces (it has: id)",
        ),
        (
            {"match_key": ["ID"], "unmapped_columns": "drop", "fields": {"ID": "id"}},
            "match key 'ID' is not a field this mapping produces (did you mean 'id'? a field's name must "
            "match exactly)",
        ),
        (
            {"templates": {"name": "{{ record.EMAIL "}},
            "the template for 'name' is not a valid Jinja template",
        ),
    ],
    ids=["column-typo", "key-missing", "key-case-of-a-renamed-field", "template"],
)
def test_a_mapping_that_cannot_work_is_a_config_error_before_anything_is_sent(
    webhook_receiver: WebhookReceiver, tmp_path: Path, mapping: dict[str, Any], message: str
) -> None:
    run = write(webhook_receiver, tmp_path, mapping)
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert message in run.error["message"]
    assert webhook_receiver.requests == [] and run.states == []


def test_a_mapping_that_works_with_the_columns_is_accepted(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    run = write(webhook_receiver, tmp_path, {"fields": {"EMAIL": "email"}, "match_key": ["email"]})
    assert run.code == 0, run.error
    assert webhook_receiver.received_records() == [{"ID": 1, "email": "a@x.com"}]


def test_check_compiles_the_templates(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    config = {
        "url": f"{webhook_receiver.url}/hooks",
        "streams": [{"stream": "contacts", "templates": {"name": "{% if %}"}}],
    }
    run = run_destination(DestinationWebhook, tmp_path, "check", config)
    status = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert "stream 'contacts': the template for 'name' is not a valid Jinja template" in status["message"]
