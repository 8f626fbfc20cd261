"""DuckDB SQL that writes each value's JSON text itself, byte for byte as the record builder would.

The record builder (``values.record_builder``) turns the Python values DuckDB returns into JSON with
orjson; building and serialising a dict per row is most of a read's cost. These expressions make
DuckDB write the same text: orjson's layout of floats, Python's of decimals, ISO 8601 dates and
times with microseconds only when there are some, DuckDB's own text where its Python conversion
falls back to text (dates beyond year 9999 or before year 1, TIME '24:00:00'), infinities as the
extreme datetimes Python receives. Nested kinds (JSON, STRUCT, LIST, MAP) have no expression: the
record builder parses and rewrites them, which only Python can do identically.

``tests/source_warehouse_model/test_duckdb_json.py`` holds both paths to the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson

from source_warehouse_model.backends.base import Column, Kind

# JSON's short escapes; other control characters are written \u00XX, in lower case as orjson does.
_SHORT = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}
_ESCAPES = {code: _SHORT.get(code, f"\\u{code:04x}") for code in range(32)}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
# Python holds dates and datetimes from year 1 to 9999; DuckDB hands it others as their text.
_FIRST, _LAST = "TIMESTAMP '0001-01-01'", "TIMESTAMP '9999-12-31 23:59:59.999999'"


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def record_sql(columns: Sequence[Column], values: Sequence[str]) -> str | None:
    """Each row's record data as JSON text (keys in column order); None when a column needs Python.

    ``values`` are the columns' value expressions, already read without loss (``output_sql``).
    """
    pieces = []
    for index, (column, value) in enumerate(zip(columns, values, strict=True)):
        json = value_sql(column, value)
        if json is None:
            return None
        key = orjson.dumps(column.name).decode()
        pieces += [literal(("{" if index == 0 else ",") + key + ":"), f"COALESCE({json}, 'null')"]
    if not pieces:
        return "'{}'"
    return f"concat({', '.join(pieces)}, '}}')"


def value_sql(column: Column, value: str) -> str | None:
    """A value's JSON text (NULL for NULL), or None for the kinds only Python writes identically."""
    if column.kind in (Kind.JSON, Kind.VARIANT, Kind.OBJECT, Kind.ARRAY):
        return None
    if column.kind is Kind.NUMBER:
        return _float_sql(f"CAST({value} AS DOUBLE)")
    if column.kind is Kind.DECIMAL:
        return _decimal_sql(column, value)
    if column.kind in (Kind.BOOLEAN, Kind.INTEGER, Kind.BIG_INTEGER):
        return text_sql(column, value)
    if column.kind is Kind.BINARY:
        return f"'\"' || to_base64({value}) || '\"'"
    if column.kind in (Kind.DATE, Kind.TIME, Kind.TIMESTAMP, Kind.TIMESTAMP_TZ) and _is_python_value(column):
        return f"'\"' || {text_sql(column, value)} || '\"'"  # ISO 8601 or DuckDB's text: nothing to escape
    return _string_sql(value)


def _is_python_value(column: Column) -> bool:
    """Whether DuckDB hands this column to Python as its own type (else ``output_sql`` made it text)."""
    return column.native_type != "TIMESTAMP_NS" and column.kind is not Kind.TIME_TZ


def text_sql(column: Column, value: str) -> str:
    """The value as text that ``decoder(column)`` turns back into exactly the Python value DuckDB returns.

    Numbers are DuckDB's text (a float's keeps NaN and the infinities, a decimal's every digit of its
    scale); temporal values their ISO 8601 text (or DuckDB's where Python receives that); text itself.
    """
    match column.kind:
        case Kind.BOOLEAN | Kind.INTEGER | Kind.BIG_INTEGER | Kind.DECIMAL:
            return f"CAST({value} AS VARCHAR)"
        case Kind.NUMBER:
            return _float_text(f"CAST({value} AS DOUBLE)")
        case Kind.DATE:
            return (
                f"CASE WHEN {value} = DATE 'infinity' THEN '9999-12-31'"
                f" WHEN {value} = DATE '-infinity' THEN '0001-01-01' ELSE CAST({value} AS VARCHAR) END"
            )
        case Kind.TIME:
            # DuckDB drops trailing zeros of the fraction; Python writes all six digits, or none.
            text = f"CAST({value} AS VARCHAR)"
            return f"CASE WHEN length({text}) > 8 THEN rpad({text}, 15, '0') ELSE {text} END"
        case Kind.TIMESTAMP if _is_python_value(column):
            return _timestamp_sql(f"CAST({value} AS TIMESTAMP)", "", value)
        case Kind.TIMESTAMP_TZ:
            # In UTC (the session's time zone), as Python receives it; infinities come without offset.
            return _timestamp_sql(f"CAST({value} AS TIMESTAMP)", "+00:00", value)
    return value


def _float_text(value: str) -> str:
    """SQL for a DOUBLE's text as Python's repr writes it (nan, inf and -inf included)."""
    return f"CAST({value} AS VARCHAR)"


def _float_sql(value: str) -> str:
    """A DOUBLE as orjson writes it: null unless finite, else repr's digits and layout except that
    exponents lose repr's zero padding and 1e-05 to 9.99e-05 are written without exponent."""
    text = _float_text(value)
    mantissa = f"split_part({text}, 'e', 1)"
    plain = (
        f"CASE WHEN {value} < 0 THEN '-' ELSE '' END || '0.0000' || replace(ltrim({mantissa}, '-'), '.', '')"
    )
    # Only values below 1e-4 have an exponent to rewrite (above 1e16 repr's and orjson's agree).
    small = f"CASE WHEN suffix({text}, 'e-05') THEN {plain} ELSE replace({text}, 'e-0', 'e-') END"
    return (
        f"CASE WHEN NOT isfinite({value}) THEN 'null' WHEN abs({value}) < 1e-4 THEN {small} ELSE {text} END"
    )


def _decimal_sql(column: Column, value: str) -> str | None:
    """A DECIMAL as Python's str(Decimal) writes it: every digit of the scale, and below 1e-6 (zero
    included) the exponent form such as 1.20E-7 or 0E-9."""
    match = _DECIMAL.fullmatch(column.native_type)
    if match is None:
        return None
    width, scale = int(match.group(1)), int(match.group(2))
    text = f"CAST({value} AS VARCHAR)"
    if width == scale:  # DuckDB writes .5 where Python writes 0.5
        text = f"regexp_replace({text}, '^(-?)\\.', '\\10.')"
    if scale <= 6:
        return text
    digits = f"ltrim(split_part(CAST({value} AS VARCHAR), '.', 2), '0')"
    fraction = f"CASE WHEN length({digits}) > 1 THEN '.' || substr({digits}, 2) ELSE '' END"
    exponent = f"'E-' || CAST({scale + 1} - length({digits}) AS VARCHAR)"
    tiny = (
        f"CASE WHEN {digits} = '' THEN '0E-{scale}' ELSE CASE WHEN {value} < 0 THEN '-' ELSE '' END"
        f" || left({digits}, 1) || {fraction} || {exponent} END"
    )
    return f"CASE WHEN abs({value}) < 0.000001 THEN {tiny} ELSE {text} END"


def _timestamp_sql(utc: str, offset: str, value: str) -> str:
    """ISO 8601 with a T, microseconds only when there are some (``utc``: the value as a TIMESTAMP)."""
    whole, fraction = "'%Y-%m-%dT%H:%M:%S'", "'%Y-%m-%dT%H:%M:%S.%f'"
    iso = (
        f"CASE WHEN microsecond({utc}) % 1000000 = 0 THEN strftime({utc}, {whole})"
        f" ELSE strftime({utc}, {fraction}) END"
    )
    return (
        f"CASE WHEN {utc} BETWEEN {_FIRST} AND {_LAST} THEN {iso}{f' || {literal(offset)}' if offset else ''}"
        f" WHEN {utc} = TIMESTAMP 'infinity' THEN '9999-12-31T23:59:59.999999'"
        f" WHEN {utc} = TIMESTAMP '-infinity' THEN '0001-01-01T00:00:00' ELSE CAST({value} AS VARCHAR) END"
    )


def _string_sql(value: str) -> str:
    """Text as a JSON string: DuckDB's to_json escapes as orjson does, except that it writes the
    \\u00XX escapes of control characters in upper case; such (rare) text is escaped here instead."""
    escaped = f"replace(replace({value}, '\\', '\\\\'), '\"', '\\\"')"
    for code, escape in _ESCAPES.items():
        escaped = f"replace({escaped}, chr({code}), '{escape}')"
    json = f"to_json({value})"
    return f"CASE WHEN contains({json}, '\\u00') THEN '\"' || {escaped} || '\"' ELSE {json} END"


def decoder(column: Column) -> Callable[[str], Any]:
    """What turns ``text_sql``'s text back into the Python value."""
    if not _is_python_value(column):
        return str
    return _DECODERS.get(column.kind, str)


def _iso(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """ISO 8601 text as its value; DuckDB's text of what Python cannot hold stays text, as DuckDB gives it."""

    def decode(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            return text

    return decode


_DECODERS: dict[Kind, Callable[[str], Any]] = {
    Kind.BOOLEAN: lambda text: text == "true",
    Kind.INTEGER: int,
    Kind.BIG_INTEGER: int,
    Kind.DECIMAL: Decimal,
    Kind.NUMBER: float,
    Kind.DATE: _iso(date.fromisoformat),
    Kind.TIME: _iso(time.fromisoformat),
    Kind.TIMESTAMP: _iso(datetime.fromisoformat),
    Kind.TIMESTAMP_TZ: _iso(datetime.fromisoformat),
}
