"""Source record → destination fields: renames, static values, templates, coercion, null policy, match key.

A ``Mapper`` is built once per stream; ``map`` runs once per record, so it does no lookups it
could have done at build time.

Column names that differ only in case resolve: Snowflake upper-cases unquoted names, DuckDB keeps
them as written, and PyAirbyte replays its cache's columns in lower case under a catalog that keeps
the source's case. ``resolve_columns`` spells the mapping's column names as the stream does, once
against the catalog's columns at write start, and once more against the stream's first record.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from retl_shared.config import (
    CHANGE_COLUMN,
    CHANGE_COLUMNS,
    Change,
    FieldType,
    NullPolicy,
    OnDelete,
    StreamMapping,
    UnmappedColumns,
)
from retl_shared.errors import ConfigError
from retl_shared.templates import TemplateFailed, compile_template, referenced_columns, rename_columns

log = logging.getLogger("retl.mapping")


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
    """Maps one stream's records to destination fields and extracts their match key.

    Given ``catalog_columns`` (the write path), the column names are resolved once more against the
    stream's first record, for records that spell their columns otherwise than the catalog (or a
    catalog that lists none): see ``resolve_columns``.
    """

    def __init__(
        self,
        mapping: StreamMapping,
        field_types: Mapping[str, FieldType] | None = None,
        match_key: list[str] | None = None,
        catalog_columns: Collection[str] | None = None,
    ) -> None:
        self.mapping = mapping
        self._field_types = field_types
        self.match_key = list(match_key or [])
        self._catalog_columns = catalog_columns
        self._resolve_pending = catalog_columns is not None
        self._build(mapping)

    def _build(self, mapping: StreamMapping) -> None:
        self.renames = dict(mapping.fields)
        self.pass_through = mapping.unmapped_columns is UnmappedColumns.pass_through
        self.clear_nulls = mapping.nulls is NullPolicy.clear
        self.static_values = dict(mapping.static_values)
        self.templates = {
            target: compile_template(source, f"stream {mapping.stream!r}: the template for {target!r}")
            for target, source in mapping.templates.items()
        }
        self.on_delete = mapping.on_delete
        self.send = frozenset(mapping.send)
        types = {**(self._field_types or {}), **mapping.field_types}
        self.coercions = {name: COERCIONS[kind] for name, kind in types.items() if kind in COERCIONS}
        for name in self.match_key:
            if self.coercions.get(name) is _to_string:
                self.coercions[name] = _to_key

    def _resolve_from(self, record: Mapping[str, Any]) -> None:
        """Resolve the column names against a record's (the stream's first; the first few when they are
        deleted rows of a diff, which carry only their keys). Raises ConfigError for an ambiguous name."""
        self._resolve_pending = record.get(CHANGE_COLUMN) == Change.deleted
        # Names the catalog itself has in several cases are left to the exact spelling the config uses.
        ambiguous = _folded(self._catalog_columns or ())
        resolved = resolve_columns(
            self.mapping,
            [column for column in record if column not in CHANGE_COLUMNS],
            self.match_key,
            keep={fold for fold, names in ambiguous.items() if len(names) > 1},
            what="in its first record",
        )
        if resolved.problems:
            raise ConfigError("The stream mapping is not valid: " + "; ".join(resolved.problems))
        if resolved.notes:
            for note in resolved.notes:
                log.info(note)
            self.mapping = resolved.mapping
            self._build(resolved.mapping)

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
        """The mapped fields and the match key (None when the stream has none); raises MappingError
        (ConfigError when the first record makes a column name ambiguous). ``clear`` sends every null
        as a null (a deleted row's fields), whatever the null policy."""
        if self._resolve_pending:
            self._resolve_from(record)
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


# --- resolving column names and checking them against the stream's columns ---------------------------------


@dataclass(frozen=True)
class Resolved:
    """A mapping whose column names are spelled as the stream spells them."""

    mapping: StreamMapping
    notes: list[str] = field(default_factory=list)  # one INFO line per resolved name
    problems: list[str] = field(default_factory=list)  # names that match several columns


def resolve_columns(
    mapping: StreamMapping,
    columns: Collection[str],
    match_key: list[str],
    keep: Collection[str] = (),
    what: str = "",
) -> Resolved:
    """The mapping with each name that means a column and is not one resolved to the one column that
    differs from it only in case; a name that matches several such columns is a problem.

    Names that mean a column: `fields`' keys and the columns templates read (``record.NAME``). The
    match key and `field_types` name destination fields: one that the mapping does not produce, while a
    passed-through column differs from it only in case, gets that column renamed to it, so the field
    keeps the config's spelling. ``keep``: case-folded names left unresolved. Nothing changes without
    columns.
    """
    label = f"stream {mapping.stream!r}" + (f" {what}" if what else "")
    by_fold = _folded(columns)
    present = set(columns)
    notes: list[str] = []
    problems: list[str] = []

    def matches(name: str, candidates: Collection[str], role: str) -> str | None:
        """The one candidate differing from ``name`` only in case (a problem when several do)."""
        if name in present or name.casefold() in keep:
            return None
        found = sorted(c for c in by_fold.get(name.casefold(), []) if c in candidates)
        if len(found) > 1:
            shown = " and ".join(repr(c) for c in found)
            problems.append(
                f"{label}: {role} {name!r} matches the columns {shown}, which differ only in case; "
                "write it exactly as one of them"
            )
        return found[0] if len(found) == 1 else None

    def note(name: str, column: str, role: str) -> None:
        notes.append(f"column {name!r} resolved to {column!r} in {label} ({role}; only the case differs)")

    fields: dict[str, str] = {}
    for column, target in mapping.fields.items():
        actual = matches(column, present, "`fields` names column")
        if actual is None or actual in mapping.fields:
            fields[column] = target
        else:
            note(column, actual, "`fields`")
            fields[actual] = target
    templates: dict[str, str] = {}
    for target, source in mapping.templates.items():
        renames = {}
        for name in referenced_columns(source):
            actual = matches(name, present, f"the template for {target!r} reads column")
            if actual is not None:
                note(name, actual, f"the template for {target!r}")
                renames[name] = actual
        templates[target] = rename_columns(source, renames) if renames else source
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        produced = set(fields.values()) | set(mapping.static_values) | set(templates)
        produced |= present - set(fields)
        for name in dict.fromkeys([*match_key, *mapping.field_types]):
            role = "match key" if name in match_key else "`field_types`"
            actual = None if name in produced else matches(name, present - set(fields), f"{role} field")
            if actual is not None:
                note(name, actual, f"{role}, sent as {name!r}")
                fields[actual] = name
                produced.add(name)
    if not notes:
        return Resolved(mapping, notes, problems)
    return Resolved(mapping.model_copy(update={"fields": fields, "templates": templates}), notes, problems)


def _folded(columns: Iterable[str]) -> dict[str, list[str]]:
    by_fold: dict[str, list[str]] = {}
    for column in columns:
        by_fold.setdefault(column.casefold(), []).append(column)
    return by_fold


def mapping_problems(mapping: StreamMapping, columns: Mapping[str, Any], match_key: list[str]) -> list[str]:
    """What in a mapping cannot work with the stream's columns (from the configured catalog), once
    ``resolve_columns`` spelled them as the stream does (names it found ambiguous, it reported).

    Nothing is checked when the catalog lists no columns. Found at write start, before anything is
    sent: such a mistake would otherwise reject every record.
    """
    if not columns:
        return []
    label = f"stream {mapping.stream!r}"
    twins = {fold for fold, names in _folded(columns).items() if len(names) > 1}
    problems = [
        f"{label}: `fields` names column {column!r}, which the stream does not have{_hint(column, columns)}"
        for column in mapping.fields
        if column not in columns and column.casefold() not in twins
    ]
    produced = set(mapping.fields.values()) | set(mapping.static_values) | set(mapping.templates)
    passing = set()
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        passing = {column for column in columns if column not in mapping.fields}
        produced |= passing
    problems += [
        f"{label}: match key {name!r} is not a field this mapping produces{_hint(name, produced)}"
        for name in match_key
        if name not in produced and not (passing and name.casefold() in twins)
    ]
    return problems


def _hint(name: str, names: Iterable[str]) -> str:
    """The closest names; a destination field that differs only in case is not the same field."""
    names = list(names)
    same_case = [n for n in names if n.casefold() == name.casefold()]
    if same_case:
        return f" (did you mean {same_case[0]!r}? a field's name must match exactly)"
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f" (closest: {', '.join(close)})"
    shown = ", ".join(sorted(names)[:20])
    return f" (it has: {shown})" if shown else ""
