"""Source record → destination fields: renames, static values, templates, coercion, null policy, match key.

A ``Mapper`` is built once per stream; ``map`` runs once per record, so it does no lookups it
could have done at build time.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from retl_shared.config import (
    CHANGE_COLUMN,
    Change,
    FieldType,
    NullPolicy,
    OnDelete,
    StreamMapping,
    UnmappedColumns,
)
from retl_shared.templates import TemplateFailed, compile_template


class MappingError(ValueError):
    """A record that cannot be mapped; ``field`` names the destination field at fault."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --- coercion -------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_EXCESS_FRACTION = re.compile(r"(\.\d{6})\d+")  # Python's datetime keeps microseconds only


def _to_key(value: Any) -> str:
    """A match key value as text: one value, never an object or a list serialised into an id."""
    if isinstance(value, dict | list):
        raise ValueError(
            f"the match key holds {'an object' if isinstance(value, dict) else 'a list'}, not one value"
        )
    return _to_string(value)


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            raise ValueError("the value is nested more than 254 levels deep: JSON cannot hold it") from None
    return str(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{_excerpt(value)} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value} is not a finite number")
    return number


def _to_integer(value: Any) -> int:
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"{value} is not a whole number")
    return int(number)


def _to_number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        _to_decimal(value)  # rejects NaN and infinities
        return value
    number = _to_decimal(value)
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    if not math.isfinite(as_float):  # 1.5E+999 is finite as a decimal, not as a float
        raise ValueError(f"{_excerpt(value)} is out of the range of a number")
    return as_float


def _to_decimal_string(value: Any) -> str:
    """Exact digits, no exponent, no float noise (0.1 stays "0.1", 1E+2 becomes "100")."""
    text = format(_to_decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{_excerpt(value)} is not a boolean")


def parse_datetime(value: Any) -> dt.datetime:
    """A timezone-aware datetime from ISO 8601 text or epoch seconds/milliseconds; naive means UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 100_000_000_000 else value  # epoch ms from 1973 on
        parsed = dt.datetime.fromtimestamp(seconds, dt.UTC)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(_EXCESS_FRACTION.sub(r"\1", value.strip()))
        except ValueError:
            raise ValueError(f"{_excerpt(value)} is not an ISO 8601 date-time") from None
    else:
        raise ValueError(f"{_excerpt(value)} is not a date-time")
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _to_datetime(value: Any) -> str:
    # isoformat, not strftime: %Y does not zero-pad years before 1000 on glibc
    return parse_datetime(value).replace(tzinfo=None).isoformat() + "Z"


def _to_date(value: Any) -> str:
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(f"{_excerpt(value)} is not an ISO 8601 date") from None
    return parse_datetime(value).date().isoformat()


def _to_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError(f"{_excerpt(value)} is not JSON") from None
    return value


COERCIONS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.string: _to_string,
    FieldType.integer: _to_integer,
    FieldType.number: _to_number,
    FieldType.decimal: _to_decimal_string,
    FieldType.boolean: _to_boolean,
    FieldType.date: _to_date,
    FieldType.datetime: _to_datetime,
    FieldType.json: _to_json,
}


def _excerpt(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the mapper -----------------------------------------------------------------------------------


class Mapper:
    """Maps one stream's records to destination fields and extracts their match key."""

    def __init__(
        self,
        mapping: StreamMapping,
        field_types: Mapping[str, FieldType] | None = None,
        match_key: list[str] | None = None,
    ) -> None:
        self.renames = dict(mapping.fields)
        self.pass_through = mapping.unmapped_columns is UnmappedColumns.pass_through
        self.clear_nulls = mapping.nulls is NullPolicy.clear
        self.static_values = dict(mapping.static_values)
        self.templates = {
            target: compile_template(source, f"stream {mapping.stream!r}: the template for {target!r}")
            for target, source in mapping.templates.items()
        }
        self.match_key = list(match_key or [])
        self.on_delete = mapping.on_delete
        self.send = frozenset(mapping.send)
        types = {**(field_types or {}), **mapping.field_types}
        self.coercions = {name: COERCIONS[kind] for name, kind in types.items() if kind in COERCIONS}
        for name in self.match_key:
            if self.coercions.get(name) is _to_string:
                self.coercions[name] = _to_key

    def treatment(self, record: Mapping[str, Any]) -> tuple[str | None, bool, bool]:
        """What to do with a record of a diff-mode source, by its `_retl_change`: (why it is skipped, or
        None; whether it deletes its entity; whether its mapped fields are cleared). Records without
        the column (cursor mode) are written as they are."""
        change = record.get(CHANGE_COLUMN)
        if change is None:
            return None, False, False
        if change not in self.send:
            return f"{change} rows are not in `send`", False, False
        if change != Change.deleted:
            return None, False, False
        if self.on_delete is OnDelete.ignore:
            return "deleted from the model; on_delete is ignore", False, False
        return None, self.on_delete in (OnDelete.archive, OnDelete.delete), self.on_delete is OnDelete.clear

    def map(
        self, record: Mapping[str, Any], clear: bool = False
    ) -> tuple[dict[str, Any], tuple[Any, ...] | None]:
        """The mapped fields and the match key (None when the stream has none); raises MappingError.
        ``clear`` sends every null as a null (a deleted row's fields), whatever the null policy."""
        out: dict[str, Any] = {}
        renames = self.renames
        put = self._put_clearing if clear else self._put
        for column, value in record.items():
            target = renames.get(column)
            if target is None:
                if not self.pass_through:
                    continue
                target = column
            put(out, target, value)
        for target, template in self.templates.items():
            try:
                rendered = template.render(record=record)
            except TemplateFailed as exc:
                raise MappingError(target, f"template failed: {str(exc).split(':')[0]}") from None
            put(out, target, rendered or None)  # an empty rendering is no value, like a null
        for target, value in self.static_values.items():
            self._put(out, target, value)
        return out, self._key(out)

    def _put_clearing(self, out: dict[str, Any], target: str, value: Any) -> None:
        if value is None:
            out[target] = None
        else:
            self._put(out, target, value)

    def _put(self, out: dict[str, Any], target: str, value: Any) -> None:
        if value is None:
            if self.clear_nulls:
                out[target] = None
            return
        coerce = self.coercions.get(target)
        if coerce is None:
            out[target] = value
            return
        try:
            out[target] = coerce(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise MappingError(target, str(exc)) from None

    def _key(self, out: dict[str, Any]) -> tuple[Any, ...] | None:
        if not self.match_key:
            return None
        key = tuple(out.get(name) for name in self.match_key)
        missing = [name for name, value in zip(self.match_key, key, strict=True) if value in (None, "")]
        if missing:
            raise MappingError(missing[0], f"no value for match key {', '.join(missing)}")
        return key


# --- checks against the stream's columns ---------------------------------------------------------------


def mapping_problems(mapping: StreamMapping, columns: Mapping[str, Any], match_key: list[str]) -> list[str]:
    """What in a mapping cannot work with the stream's columns (from the configured catalog).

    Nothing is checked when the catalog lists no columns. Found at write start, before anything is
    sent: such a mistake would otherwise reject every record.
    """
    if not columns:
        return []
    label = f"stream {mapping.stream!r}"
    problems = [
        f"{label}: `fields` names column {column!r}, which the stream does not have{_hint(column, columns)}"
        for column in mapping.fields
        if column not in columns
    ]
    produced = set(mapping.fields.values()) | set(mapping.static_values) | set(mapping.templates)
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        produced |= {column for column in columns if column not in mapping.fields}
    problems += [
        f"{label}: match key {name!r} is not a field this mapping produces{_hint(name, produced)}"
        for name in match_key
        if name not in produced
    ]
    return problems


def _hint(name: str, names: Iterable[str]) -> str:
    """The closest names, saying so when only the case differs (Snowflake upper-cases unquoted names)."""
    names = list(names)
    same_case = [n for n in names if n.lower() == name.lower()]
    if same_case:
        return (
            f" (did you mean {same_case[0]!r}? names are compared exactly, and warehouses differ in case: "
            "Snowflake upper-cases unquoted names, DuckDB keeps them as written)"
        )
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f" (closest: {', '.join(close)})"
    shown = ", ".join(sorted(names)[:20])
    return f" (it has: {shown})" if shown else ""
