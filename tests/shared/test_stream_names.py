"""Which configured stream a record or state is about when it carries no namespace (PyAirbyte replays
its cache's records that way, under a catalog that keeps the source's namespaces)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from retl_shared.config import StreamMapping
from retl_shared.errors import SyncError
from retl_shared.mapping import Mapper
from retl_shared.sink import BatchLimits
from retl_shared.writer import Route, StreamKey, WriteLoop
from tests.shared.test_writer import RecordingSink, SnapshotOutput


def message(kind: str, name: str, namespace: str | None, i: int) -> bytes:
    if kind == "RECORD":
        body: dict[str, Any] = {"stream": name, "data": {"id": i}, "emitted_at": 0}
        if namespace is not None:
            body["namespace"] = namespace
        return orjson.dumps({"type": "RECORD", "record": body})
    descriptor = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    stream = {"stream_descriptor": descriptor, "stream_state": {"n": i}}
    return orjson.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": stream}})


def loop(streams: list[StreamKey]) -> tuple[WriteLoop, dict[StreamKey, RecordingSink], SnapshotOutput]:
    sinks = {key: RecordingSink(BatchLimits(max_records=100)) for key in streams}
    routes = {
        key: Route(key, Mapper(StreamMapping(stream=key[1]), match_key=["id"]), sink)
        for key, sink in sinks.items()
    }
    output = SnapshotOutput()
    return WriteLoop(routes, output, sleep=lambda seconds: None), sinks, output


def emitted_states(output: SnapshotOutput) -> list[dict[str, Any]]:
    return [m["state"] for m in output.messages if m["type"] == "STATE"]


def test_records_and_states_without_namespace_reach_the_only_stream_of_their_name() -> None:
    write, sinks, output = loop([("crm", "contacts"), ("crm", "orders")])
    write.run(
        [
            message("RECORD", "contacts", None, 1),
            message("RECORD", "contacts", None, 2),
            message("STATE", "contacts", "crm", 0),  # PyAirbyte: records without, states with
            message("RECORD", "orders", None, 7),
            message("STATE", "orders", None, 1),
        ]
    )
    assert sinks[("crm", "contacts")].resolved == {1, 2}
    assert sinks[("crm", "orders")].resolved == {7}
    states = emitted_states(output)
    assert [s["stream"]["stream_descriptor"] for s in states] == [
        {"name": "contacts", "namespace": "crm"},
        {"name": "orders"},  # passed on as it came
    ]
    assert [s["destinationStats"]["recordCount"] for s in states] == [2.0, 1.0]


def test_a_stream_without_namespace_keeps_its_messages_beside_a_namespaced_one_of_that_name() -> None:
    write, sinks, _ = loop([(None, "contacts"), ("crm", "contacts")])
    write.run(
        [
            message("RECORD", "contacts", None, 1),
            message("RECORD", "contacts", "crm", 2),
            message("RECORD", "contacts", "other", 3),  # an unknown namespace: the one without
        ]
    )
    assert sinks[(None, "contacts")].resolved == {1, 3}
    assert sinks[("crm", "contacts")].resolved == {2}


@pytest.mark.parametrize("kind", ["RECORD", "STATE"])
def test_a_message_without_namespace_for_a_name_in_several_namespaces_says_which(kind: str) -> None:
    write, sinks, _ = loop([("sales", "contacts"), ("crm", "contacts")])
    lines = [message("RECORD", "contacts", "crm", 1), message(kind, "contacts", None, 2)]
    with pytest.raises(SyncError, match="line 2 .*'contacts' has no namespace.* namespaces crm, sales"):
        write.run(lines)
    assert sinks[("crm", "contacts")].resolved == {1}
    assert not sinks[("sales", "contacts")].resolved
