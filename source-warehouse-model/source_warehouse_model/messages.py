"""An Output that buffers messages instead of printing them."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import orjson

from retl_shared.protocol import Output, now_ms
from retl_shared.redaction import Redactor

# A message, or a run of RECORD messages already serialised (one per line, without the last newline).
Messages = list[dict[str, Any] | orjson.Fragment]


class MessageBuffer(Output):
    """Keeps the messages written to it until ``drain``.

    The core yields what it buffered, so the console script prints each batch with one write and the
    CDK source hands it to the CDK; both get logs and traces built and redacted by ``Output``.
    ``record_lines``: records may come pre-serialised (``write_lines``), which orjson writes verbatim;
    the CDK source needs every message as a dict.
    """

    def __init__(self, redactor: Redactor | None = None, record_lines: bool = False) -> None:
        super().__init__(stream=io.BytesIO(), redactor=redactor)
        self.record_lines = record_lines
        self._messages: Messages = []

    def write(self, message: dict[str, Any]) -> None:
        self._messages.append(message)

    def write_many(self, messages: Iterable[dict[str, Any]]) -> None:
        self._messages.extend(messages)

    def write_lines(self, lines: orjson.Fragment) -> None:
        assert self.record_lines, "this buffer's reader takes messages as dicts"
        self._messages.append(lines)

    def analytics_trace(self, kind: str, value: dict[str, Any]) -> None:
        """An ANALYTICS trace; Airbyte's protocol types its value as text, so it carries JSON text."""
        analytics = {"type": kind, "value": orjson.dumps(value).decode()}
        self.write(
            {"type": "TRACE", "trace": {"type": "ANALYTICS", "emitted_at": now_ms(), "analytics": analytics}}
        )

    def drain(self) -> Messages:
        messages, self._messages = self._messages, []
        return messages
