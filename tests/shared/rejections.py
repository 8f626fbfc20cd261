"""A write loop with a sink that rejects what a verdict names, for the rejected-records store's tests."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import orjson

from retl_shared.config import StreamMapping
from retl_shared.mapping import Mapper
from retl_shared.protocol import Output
from retl_shared.redaction import Redactor
from retl_shared.rejected import RejectedStore
from retl_shared.sink import ACCEPTED, BatchLimits, ObjectSpec, Outcome, Record, Sink, Target
from retl_shared.writer import Route, StreamKey, WriteLoop

OBJECT = ObjectSpec("things", {"upsert": "append_dedup"})


class JudgingSink(Sink):
    """Rejects the records a verdict names, quoting each one back in its reason as APIs do."""

    def __init__(self, stream: str, rejects: Callable[[dict[str, Any]], bool], max_records: int = 3) -> None:
        super().__init__(Target(OBJECT, "upsert", StreamMapping(stream=stream), ["id"], primary_key=["row"]))
        self.limits = BatchLimits(max_records=max_records)
        self.rejects = rejects

    def send(self, batch: list[Record]) -> list[Outcome]:
        return [
            Outcome.rejected(f"HTTP 422: refused {json.dumps(r.data)}", "email")
            if self.rejects(r.data)
            else ACCEPTED
            for r in batch
        ]


class StateHook(Output):
    """Calls ``on_state`` with each STATE as it is written."""

    def __init__(
        self, redactor: Redactor, on_state: Callable[[dict[str, Any]], None] = lambda s: None
    ) -> None:
        super().__init__(io.BytesIO(), redactor)
        self.on_state = on_state
        self.states: list[dict[str, Any]] = []

    def write(self, message: dict[str, Any]) -> None:
        if message["type"] == "STATE":
            self.on_state(message["state"])
            self.states.append(message["state"])
        super().write(message)


def loop(output: Output, store: RejectedStore, sinks: dict[StreamKey, Sink], **kwargs: Any) -> WriteLoop:
    routes = {
        key: Route(key, Mapper(StreamMapping(stream=key[1]), match_key=["id"]), sink)
        for key, sink in sinks.items()
    }
    return WriteLoop(
        routes, output, rejected_store=store, max_rejected_ratio=1.0, sleep=lambda s: None, **kwargs
    )


def record(stream: str, data: dict[str, Any], namespace: str | None = None) -> bytes:
    body = {
        "stream": stream,
        "data": data,
        "emitted_at": 0,
        **({"namespace": namespace} if namespace else {}),
    }
    return orjson.dumps({"type": "RECORD", "record": body})


def state(stream: str, n: int, namespace: str | None = None) -> bytes:
    descriptor = {"name": stream, **({"namespace": namespace} if namespace else {})}
    stream_state = {"stream_descriptor": descriptor, "stream_state": {"n": n}}
    return orjson.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": stream_state}})


def windows(count: int, size: int = 100) -> list[bytes]:
    """``count`` states of stream s, each after ``size`` records {"id": i, "row": i}."""
    lines: list[bytes] = []
    for n in range(count):
        lines += [record("s", {"id": i, "row": i}) for i in range(size * n, size * (n + 1))]
        lines.append(state("s", n))
    return lines
