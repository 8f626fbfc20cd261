"""Stream state: reading `--state` and the lossless cursor format.

A stream's state is ``{"cursor_field": "updated_at", "cursor": "2024-05-01T12:00:00.123456",
"cursor_type": "timestamp"}``. The cursor is always text, typed by ``cursor_type``, so that decoding
it gives back exactly the value the warehouse returned (microseconds, nanosecond text, every
decimal digit, integers beyond 64 bits) and binding it as a parameter compares exactly. Values a
backend returns as text to keep precision (DuckDB TIMESTAMP_NS) are stored as `string`; the
warehouse casts them back to the column's type when comparing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from retl_shared.protocol import state_stream_key
from source_warehouse_model.config import ConfigError

_DECODERS: dict[str, Callable[[str], Any]] = {
    "timestamp": datetime.fromisoformat,
    "timestamp_tz": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "integer": int,
    "decimal": Decimal,
    "number": float,
    "string": str,
}


def encode_cursor(value: Any) -> tuple[str, str]:
    """(cursor_type, text) for a cursor value as the backend returned it."""
    if isinstance(value, datetime):  # before date: datetime is a date
        return ("timestamp_tz" if value.tzinfo is not None else "timestamp"), value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    if isinstance(value, time):
        return "time", value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return "integer", str(value)
    if isinstance(value, Decimal):
        return "decimal", str(value)
    if isinstance(value, float):
        return "number", repr(value)  # repr round-trips every float exactly
    if isinstance(value, str):
        return "string", value
    raise TypeError(f"unsupported cursor value {value!r} ({type(value).__name__})")


@dataclass(frozen=True)
class CursorState:
    field: str
    value: Any  # None until a row has been read

    def to_json(self) -> dict[str, Any]:
        if self.value is None:
            return {"cursor_field": self.field, "cursor": None, "cursor_type": None}
        cursor_type, text = encode_cursor(self.value)
        return {"cursor_field": self.field, "cursor": text, "cursor_type": cursor_type}

    @classmethod
    def from_json(cls, state: Any) -> CursorState | None:
        """None when the state is not one of ours (e.g. a full refresh marker)."""
        if not isinstance(state, dict) or not isinstance(state.get("cursor_field"), str):
            return None
        text, cursor_type = state.get("cursor"), state.get("cursor_type")
        if text is None:
            return cls(state["cursor_field"], None)
        if cursor_type not in _DECODERS:
            raise ConfigError(f"unreadable state {state!r}: unknown cursor_type; reset the stream")
        return cls(state["cursor_field"], _DECODERS[cursor_type](text))


class PriorStates:
    """Per-stream state from `--state`: a list of AirbyteStateMessage dicts, or a legacy dict.

    Legacy states (a bare dict, or a LEGACY message's data) name streams without namespace; they
    are looked up by name only when the stream has no STREAM state.
    """

    def __init__(self, raw: Any) -> None:
        self._streams: dict[tuple[str | None, str], Any] = {}
        self._legacy: dict[str, Any] = {}
        messages: list[dict[str, Any]] = (
            [{"type": "LEGACY", "data": raw}] if isinstance(raw, dict) else raw or []
        )
        for message in messages:
            key = state_stream_key(message)
            if key is not None:
                self._streams[key] = (message.get("stream") or {}).get("stream_state")
            elif message.get("type") == "LEGACY" and isinstance(message.get("data"), dict):
                self._legacy.update(message["data"])

    def get(self, namespace: str | None, name: str) -> Any:
        return (
            self._streams[(namespace, name)] if (namespace, name) in self._streams else self._legacy.get(name)
        )
