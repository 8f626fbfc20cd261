"""How warehouse values become JSON: the schema of each column kind and the per-value converters.

Dates and timestamps stay Python objects: orjson writes them as ISO 8601 itself, faster than calling
isoformat() per value (aware timestamps keep their +00:00 offset). Kinds whose values orjson cannot
write, or would write lossily, get a converter: times among them, as orjson 3.13 drops the leading
zero of a time's microseconds from 10000 to 99999 (01:02:03.052733 would become 01:02:03.52733).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import time, timedelta
from decimal import Decimal
from typing import Any

import orjson

from source_warehouse_model.backends.base import Column, Kind
from source_warehouse_model.errors import UnconvertibleValue


def _nullable(json_type: str | list[str], **extra: str) -> dict[str, Any]:
    types = json_type if isinstance(json_type, list) else [json_type]
    return {"type": ["null", *types], **extra}


JSON_SCHEMAS: dict[Kind, dict[str, Any]] = {
    Kind.BOOLEAN: _nullable("boolean"),
    Kind.INTEGER: _nullable("integer"),
    Kind.BIG_INTEGER: _nullable("integer"),
    Kind.NUMBER: _nullable("number"),
    Kind.DECIMAL: _nullable("number"),
    Kind.STRING: _nullable("string"),
    Kind.DATE: _nullable("string", format="date"),
    Kind.TIME: _nullable("string", format="time", airbyte_type="time_without_timezone"),
    Kind.TIME_TZ: _nullable("string", format="time", airbyte_type="time_with_timezone"),
    Kind.TIMESTAMP: _nullable("string", format="date-time", airbyte_type="timestamp_without_timezone"),
    Kind.TIMESTAMP_TZ: _nullable("string", format="date-time", airbyte_type="timestamp_with_timezone"),
    Kind.JSON: _nullable(["object", "array"]),
    Kind.VARIANT: _nullable(["object", "array", "string", "number", "boolean"]),
    Kind.OBJECT: _nullable("object"),
    Kind.ARRAY: _nullable("array"),
    Kind.BINARY: _nullable("string", contentEncoding="base64"),
}


def _exact_number(value: Decimal | int | str) -> orjson.Fragment | None:
    """The value's own digits as a JSON number literal.

    float() would round DECIMAL(38, 9) and wide integers, and orjson writes neither Decimal nor ints
    beyond 64 bits; a Fragment is copied into the output verbatim, so every digit survives (scale
    included: 1.50 stays 1.50). NaN and infinities (Postgres NUMERIC) have no JSON form: null.
    """
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    return orjson.Fragment(str(value))


_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1  # the integers orjson writes itself


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _plain(value: Any) -> Any:
    """A nested value (STRUCT, LIST, MAP, parsed JSON) with every leaf made writable by orjson."""
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return _exact_number(value)
    if isinstance(value, int) and not _INT_MIN <= value <= _UINT_MAX:
        return _exact_number(value)  # a HUGEINT in a STRUCT or LIST: orjson writes 64 bits at most
    if isinstance(value, bytes):
        return _base64(value)
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, time):
        return value.isoformat()
    return value


def _json_value(value: Any) -> Any:
    """Parsed JSON text (DuckDB JSON, Snowflake VARIANT, OBJECT, ARRAY), or a nested value made plain."""
    if not isinstance(value, str | bytes):
        return _plain(value)
    try:
        # orjson parses integers beyond 64 bits as floats; JSON documents rarely hold them.
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(
            f"{exc}: the document is not standard JSON; NaN, Infinity and numbers beyond a double's"
            " range, which DuckDB accepts, have no JSON form"
        ) from None


def _time_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, time) else value


_CONVERTERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.BIG_INTEGER: _exact_number,
    Kind.DECIMAL: _exact_number,
    Kind.TIME: _time_text,
    Kind.TIME_TZ: _time_text,
    Kind.JSON: _json_value,
    Kind.VARIANT: _json_value,
    Kind.OBJECT: _json_value,
    Kind.ARRAY: _json_value,
    Kind.BINARY: _base64,
}

Row = tuple[Any, ...]


def record_builder(columns: Sequence[Column]) -> Callable[[Row], dict[str, Any]]:
    """A function turning a row into record data; only kinds that need it pay for a conversion.

    A value that cannot be converted raises ``UnconvertibleValue`` naming its column.
    """
    names = [column.name for column in columns]
    converted = [(column.name, _CONVERTERS[column.kind]) for column in columns if column.kind in _CONVERTERS]

    def build(row: Row) -> dict[str, Any]:
        data = dict(zip(names, row, strict=True))
        for name, convert in converted:
            value = data[name]
            if value is not None:
                try:
                    data[name] = convert(value)
                except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
                    raise UnconvertibleValue(name, str(exc)) from exc
        return data

    return build
