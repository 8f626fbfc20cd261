"""Airbyte protocol lines on stdin/stdout, fast.

Messages are plain dicts serialised with orjson: the CDK's dataclass models cost several
microseconds per message, which dominates a million-record sync. The CDK models are still
used where shape matters more than speed (catalog parsing, spec, destination catalog).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

from retl_shared.redaction import Redactor

FAILURE_TYPES = ("config_error", "system_error", "transient_error")
# ANALYTICS traces `retl run` reads: a destination's per-stream counts at the end of a write, and the
# source's added/updated/deleted/unmodified counts of a diff stream.
WRITE_SUMMARY = "retl_write_summary"
CHANGE_COUNTS = "retl_change_counts"


class BadLine(Exception):
    """A stdin line that is not an Airbyte message; carries its 1-based line number."""

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number} is not a valid Airbyte message: {reason}")
        self.line_number = line_number


def read_messages(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, message) for each non-blank line; raise BadLine on the first bad one."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BadLine(number, f"invalid JSON ({exc})") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise BadLine(number, 'expected a JSON object with a "type" field')
        yield number, message


def now_ms() -> int:
    return int(time.time() * 1000)


class Output:
    """Thread-safe writer of protocol messages to stdout; log and trace text passes the redactor."""

    def __init__(self, stream: IO[bytes] | None = None, redactor: Redactor | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._lock = threading.Lock()
        self.redactor = redactor or Redactor()

    def write(self, message: dict[str, Any]) -> None:
        line = orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def write_many(self, messages: Iterable[dict[str, Any]]) -> None:
        """Write a run of messages with one flush (the source's hot path)."""
        data = b"".join(orjson.dumps(m, option=orjson.OPT_APPEND_NEWLINE) for m in messages)
        with self._lock:
            self._stream.write(data)
            self._stream.flush()

    def log(self, message: str, level: str = "INFO") -> None:
        self.write({"type": "LOG", "log": {"level": level, "message": self.redactor.redact(message)}})

    def error_trace(self, message: str, failure_type: str, internal_message: str | None = None) -> None:
        assert failure_type in FAILURE_TYPES, failure_type
        error: dict[str, Any] = {"message": self.redactor.redact(message), "failure_type": failure_type}
        if internal_message:
            error["internal_message"] = self.redactor.redact(internal_message)
        self.write({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}})

    def analytics_trace(self, kind: str, value: dict[str, Any]) -> None:
        """A machine-readable fact for `retl run` (the platform ignores it): ``value`` travels as JSON text,
        as the protocol's ANALYTICS trace carries a string."""
        analytics = {"type": kind, "value": self.redactor.redact(orjson.dumps(value).decode())}
        self.write(
            {"type": "TRACE", "trace": {"type": "ANALYTICS", "emitted_at": now_ms(), "analytics": analytics}}
        )

    def estimate_trace(self, stream: str, namespace: str | None, row_estimate: int) -> None:
        estimate = {"name": stream, "type": "STREAM", "row_estimate": row_estimate}
        if namespace:
            estimate["namespace"] = namespace
        self.write(
            {"type": "TRACE", "trace": {"type": "ESTIMATE", "emitted_at": now_ms(), "estimate": estimate}}
        )

    def stream_status(self, stream: str, namespace: str | None, status: str) -> None:
        descriptor: dict[str, Any] = {"name": stream}
        if namespace:
            descriptor["namespace"] = namespace
        self.write(
            {
                "type": "TRACE",
                "trace": {
                    "type": "STREAM_STATUS",
                    "emitted_at": now_ms(),
                    "stream_status": {"stream_descriptor": descriptor, "status": status},
                },
            }
        )


def record_message(stream: str, data: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": now_ms()}
    if namespace:
        record["namespace"] = namespace
    return {"type": "RECORD", "record": record}


def stream_state_message(stream: str, namespace: str | None, state: Any) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": stream}
    if namespace:
        descriptor["namespace"] = namespace
    return {
        "type": "STATE",
        "state": {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": state}},
    }


def state_stream_key(state: dict[str, Any]) -> tuple[str | None, str] | None:
    """(namespace, name) a STREAM state is about; None for GLOBAL and LEGACY states (and shapeless ones)."""
    if state.get("type") != "STREAM":
        return None
    stream = state.get("stream")
    descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
    if not isinstance(descriptor, dict):
        return None, ""
    namespace, name = descriptor.get("namespace"), descriptor.get("name", "")
    return (namespace if isinstance(namespace, str) else None), (name if isinstance(name, str) else "")
