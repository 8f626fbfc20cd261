"""An Output that buffers messages instead of printing them."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from retl_shared.protocol import Output
from retl_shared.redaction import Redactor

Messages = list[dict[str, Any]]


class MessageBuffer(Output):
    """Keeps the messages written to it until ``drain``.

    The core yields what it buffered, so the console script prints each batch with one write and the
    CDK source hands it to the CDK; both get logs and traces built and redacted by ``Output``.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__(stream=io.BytesIO(), redactor=redactor)
        self._messages: Messages = []

    def write(self, message: dict[str, Any]) -> None:
        self._messages.append(message)

    def write_many(self, messages: Iterable[dict[str, Any]]) -> None:
        self._messages.extend(messages)

    def drain(self) -> Messages:
        messages, self._messages = self._messages, []
        return messages
