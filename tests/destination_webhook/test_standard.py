"""The CDK standard destination tests for destination-webhook, in-process, against the local receiver."""

from __future__ import annotations

from pathlib import Path

import orjson
from airbyte_cdk.models import AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer

from destination_webhook.destination import DestinationWebhook
from retl_shared.cdk import cdk_destination
from tests.destination_standard import DestinationStandardSuite, _started
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, record_line, state_line

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


class TestStandardWebhook(DestinationStandardSuite):
    connector = cdk_destination(DestinationWebhook)
    connector_folder = "destination-webhook"
    fake_class = WebhookReceiver


def test_the_cdk_adapter_writes_and_echoes_states(tmp_path: Path) -> None:
    receiver = _started(WebhookReceiver)
    before = len(receiver.received_records())
    messages = [
        AirbyteMessageSerializer.load(orjson.loads(line))
        for line in (record_line("s", {"id": 1}), record_line("s", {"id": 2}), state_line("s", {"n": 2}))
    ]
    catalog = ConfiguredAirbyteCatalogSerializer.load(configured_catalog("s"))
    out = list(cdk_destination(DestinationWebhook)().write({"url": receiver.url}, catalog, messages))
    states = [m for m in out if m.state is not None]
    assert len(states) == 1 and states[0].state.destinationStats.recordCount == 2.0  # type: ignore[union-attr]
    assert [r["id"] for r in receiver.received_records()[before:]] == [1, 2]
