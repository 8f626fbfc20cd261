"""Stream state: reading `--state` and the lossless cursor format.

A stream's state is ``{"cursor_field": "updated_at", "cursor": "2024-05-01T12:00:00.123456",
"cursor_type": "timestamp"}``. The cursor is always text, typed by ``cursor_type``, so that decoding
it gives back exactly the value the warehouse returned (microseconds, nanosecond text, every
decimal digit, integers beyond 64 bits) and binding it as a parameter compares exactly. Values a
backend returns as text to keep precision (DuckDB TIMESTAMP_NS) are stored as `string`; the
warehouse casts them back to the column's type when comparing.

A diff stream's state names the snapshot generation it sent (see ``DiffState``); while a sync is
under way its checkpoints also name the baseline and the last primary key sent, in the same typed
text as a cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeGuard

from retl_shared.protocol import state_stream_key
from source_warehouse_model.backends.base import Backend, Column
from source_warehouse_model.config import ConfigError, json_kind
from source_warehouse_model.errors import sync_error

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


def decode_cursor(cursor_type: str, text: str) -> Any:
    """The value ``encode_cursor`` gave (cursor_type, text) for; ValueError when it cannot be one."""
    if cursor_type not in _DECODERS:
        raise ValueError(f"unknown type {cursor_type!r}")
    return _DECODERS[cursor_type](text)


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
    def from_json(cls, state: Any, stream: str) -> CursorState | None:
        """None when the state is not a cursor state (none, a full refresh marker, a diff state).

        A state of the wrong shape is a ConfigError naming the stream: the fix is to reset it.
        """
        if state is None or (isinstance(state, dict) and "cursor_field" not in state):
            return None
        if not isinstance(state, dict):
            raise unreadable(stream, f"it is {json_kind(state)}, not an object")
        field, text, cursor_type = state["cursor_field"], state.get("cursor"), state.get("cursor_type")
        if not isinstance(field, str):
            raise unreadable(stream, '"cursor_field" must be a column name')
        if text is None:
            return cls(field, None)
        if not isinstance(text, str):
            raise unreadable(
                stream, f'"cursor" must be text, as the connector writes it, not {json_kind(text)}'
            )
        if cursor_type not in _DECODERS:
            raise unreadable(stream, f'"cursor_type" {cursor_type!r} is none of {", ".join(_DECODERS)}')
        try:
            return cls(field, decode_cursor(cursor_type, text))
        except ValueError as exc:
            raise unreadable(stream, f"the cursor {text!r} is not a {cursor_type} ({exc})") from None


def unreadable(stream: str, problem: str) -> ConfigError:
    """The error for a stream's state the connector cannot use."""
    return ConfigError(
        f"stream {stream}: the state cannot be used: {problem}. Reset the stream (clear its state) to"
        " read it from the start, or pass the state the last sync emitted"
    )


def check_bound(backend: Backend, stream: str, column: Column, value: Any, role: str) -> None:
    """Fail clearly, before reading, when a value from the state cannot be compared with its column.

    The warehouse casts the value to the column's type, as the read's queries will: a state written
    for another type of column (or edited by hand) fails here, naming the stream, not in mid-read.
    """
    try:
        backend.fetch_one(f"SELECT {backend.cursor_param(column)}", [value])
    except Exception as exc:
        error = sync_error(exc)
        if not isinstance(error, ConfigError):
            raise error from exc
        problem = f"its {role} {value!r} does not fit column {column.name!r} ({column.native_type})"
        raise unreadable(stream, f"{problem} ({error.message})") from exc


# The state the CDK writes for a stream without cursor (full refresh).
FULL_REFRESH_STATE = {"__ab_no_cursor_state_message": True}


@dataclass(frozen=True)
class DiffState:
    """Where a diff stream stands: the snapshot generation it sent, or is sending.

    Complete, ``{"change_detection": "diff", "generation": 1717171717171717, "complete": true}``: every
    change of that generation was sent, so the next sync diffs against it. In progress (a checkpoint),
    ``{"change_detection": "diff", "generation": G, "complete": false, "baseline": B, "resume_after":
    [{"column": "id", "type": "integer", "value": "17"}]}``: the changes of G against B (null: none, the
    first sync) were sent up to that primary key, in key order; a sync given it sends the rest.
    """

    generation: int
    baseline: int | None = None
    resume_after: tuple[tuple[str, Any], ...] | None = None  # (column, value) per key column

    @property
    def complete(self) -> bool:
        return self.resume_after is None

    @property
    def referenced(self) -> set[int]:
        """The generations this state needs kept."""
        return {self.generation} | (
            {self.baseline} if self.baseline is not None and not self.complete else set()
        )

    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "change_detection": "diff",
            "generation": self.generation,
            "complete": self.complete,
        }
        if self.resume_after is not None:
            state["baseline"] = self.baseline
            state["resume_after"] = [
                dict(zip(("column", "type", "value"), (column, *encode_cursor(value)), strict=True))
                for column, value in self.resume_after
            ]
        return state

    @classmethod
    def from_json(cls, state: Any, stream: str) -> DiffState | None:
        """The diff state, or None for no state or another mode's (cursor, full refresh)."""
        if state is None or state == {} or state == FULL_REFRESH_STATE:
            return None
        if isinstance(state, dict) and "cursor_field" in state and "change_detection" not in state:
            return None
        try:
            return cls._parse(state)
        except (ValueError, TypeError) as exc:
            text = repr(state)
            raise ConfigError(
                f"stream {stream}: unreadable diff state ({exc}): {text[:300]}; clear the stream's state"
                " (reset it) to send every row of the model again"
            ) from None

    @classmethod
    def _parse(cls, state: Any) -> DiffState:
        if not isinstance(state, dict) or state.get("change_detection") != "diff":
            raise ValueError('expected an object with "change_detection": "diff"')
        generation, complete = state.get("generation"), state.get("complete")
        if not _is_generation(generation):
            raise ValueError('"generation" must be a positive integer')
        if complete is True:
            return cls(generation)
        if complete is not False:
            raise ValueError('"complete" must be true or false')
        baseline, after = state.get("baseline"), state.get("resume_after")
        if baseline is not None and not _is_generation(baseline):
            raise ValueError('"baseline" must be a positive integer or null')
        if not isinstance(after, list) or not after:
            raise ValueError('"resume_after" must list the primary key columns')
        resume_after = []
        for item in after:
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("column", "type")
            ):
                raise ValueError('each "resume_after" item needs a "column", a "type" and a "value"')
            if not isinstance(item.get("value"), str):
                raise ValueError(f'the "value" of key column {item["column"]!r} must be text')
            resume_after.append((item["column"], decode_cursor(item["type"], item["value"])))
        return cls(generation, baseline, tuple(resume_after))


def _is_generation(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class PriorStates:
    """Per-stream state from `--state`: a list of AirbyteStateMessage dicts, or a legacy dict.

    Legacy states (a bare dict, or a LEGACY message's data) name streams without namespace; they
    are looked up by name only when the stream has no STREAM state.
    """

    def __init__(self, raw: Any) -> None:
        self._streams: dict[tuple[str | None, str], Any] = {}
        self._legacy: dict[str, Any] = {}
        if raw is not None and not isinstance(raw, dict | list):
            raise _unusable(f"it is {json_kind(raw)}, not a list of state messages")
        messages = [{"type": "LEGACY", "data": raw}] if isinstance(raw, dict) else raw or []
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise _unusable(f"item {index} is {json_kind(message)}, not a state message (an object)")
            key = state_stream_key(message)
            stream = message.get("stream")
            if key is not None and isinstance(stream, dict):
                self._streams[key] = stream.get("stream_state")
            elif message.get("type") == "LEGACY" and isinstance(message.get("data"), dict):
                self._legacy.update(message["data"])

    def get(self, namespace: str | None, name: str) -> Any:
        return (
            self._streams[(namespace, name)] if (namespace, name) in self._streams else self._legacy.get(name)
        )


def _unusable(problem: str) -> ConfigError:
    return ConfigError(
        f"The state cannot be used: {problem}. Pass the state the last sync emitted, or reset the"
        " connection (clear its state) to read every stream from the start"
    )
