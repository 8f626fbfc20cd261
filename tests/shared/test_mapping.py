"""Mapping: renames, statics, templates, coercion, null policy, match keys."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retl_shared.config import FieldType, StreamMapping
from retl_shared.mapping import Mapper, MappingError


def mapper(
    key: list[str] | None = None, types: dict[str, FieldType] | None = None, **mapping: object
) -> Mapper:
    return Mapper(StreamMapping(stream="s", **mapping), types, key)  # type: ignore[arg-type]


def test_renames_pass_through_and_drop() -> None:
    record = {"EMAIL": "a@x.com", "score": 3}
    assert mapper(fields={"EMAIL": "email"}).map(record)[0] == {"email": "a@x.com", "score": 3}
    assert mapper(fields={"EMAIL": "email"}, unmapped_columns="drop").map(record)[0] == {"email": "a@x.com"}


def test_null_policy() -> None:
    record = {"a": None, "b": 1}
    assert mapper().map(record)[0] == {"b": 1}
    assert mapper(nulls="clear").map(record)[0] == {"a": None, "b": 1}


def test_static_values_and_templates() -> None:
    m = mapper(static_values={"src": "dwh"}, templates={"name": "{{ record.first }} {{ record.last }}"})
    assert m.map({"first": "Ada", "last": "Lovelace"})[0] == {
        "first": "Ada",
        "last": "Lovelace",
        "name": "Ada Lovelace",
        "src": "dwh",
    }


def test_template_failure_is_a_rejection() -> None:
    with pytest.raises(MappingError) as raised:
        mapper(templates={"x": "{{ record.a / 0 }}"}).map({"a": 1})
    assert raised.value.field == "x"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (FieldType.integer, "42", 42),
        (FieldType.integer, 42.0, 42),
        (FieldType.number, "1.5", 1.5),
        (FieldType.number, 7, 7),
        (FieldType.decimal, 0.1, "0.1"),
        (FieldType.decimal, "1E+2", "100"),
        (FieldType.decimal, "12.3400", "12.34"),
        (FieldType.boolean, "Yes", True),
        (FieldType.boolean, 0, False),
        (FieldType.date, "2024-03-01T23:30:00-05:00", "2024-03-02"),
        (FieldType.date, "2024-03-01", "2024-03-01"),
        (FieldType.datetime, "2024-03-01T23:30:00-05:00", "2024-03-02T04:30:00Z"),
        (FieldType.datetime, "2024-03-01 10:00:00", "2024-03-01T10:00:00Z"),
        (FieldType.datetime, "2024-03-01T10:00:00.123456789Z", "2024-03-01T10:00:00.123456Z"),
        (FieldType.datetime, 1_700_000_000_000, "2023-11-14T22:13:20Z"),
        (FieldType.json, '{"a": [1]}', {"a": [1]}),
        (FieldType.string, {"a": 1}, '{"a":1}'),
        (FieldType.string, True, "true"),
    ],
)
def test_coercions(kind: FieldType, value: object, expected: object) -> None:
    assert mapper(types={"f": kind}).map({"f": value})[0] == {"f": expected}


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (FieldType.integer, "4.5"),
        (FieldType.number, "n/a"),
        (FieldType.number, "NaN"),
        (FieldType.boolean, "maybe"),
        (FieldType.date, "03/01/2024"),
        (FieldType.json, "{nope"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(kind: FieldType, value: object) -> None:
    with pytest.raises(MappingError) as raised:
        mapper(types={"f": kind}).map({"f": value})
    assert raised.value.field == "f"


def test_config_field_types_override_the_destination_schema() -> None:
    m = Mapper(StreamMapping(stream="s", field_types={"f": FieldType.string}), {"f": FieldType.integer}, None)
    assert m.map({"f": 5})[0] == {"f": "5"}


def test_match_key_after_renames_and_missing_key() -> None:
    m = mapper(key=["email"], fields={"EMAIL": "email"})
    assert m.map({"EMAIL": "a@x.com"})[1] == ("a@x.com",)
    with pytest.raises(MappingError, match="no value for match key email"):
        m.map({"EMAIL": None})
    with pytest.raises(MappingError):
        m.map({"EMAIL": ""})


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_decimal_strings_keep_every_digit(value: Decimal) -> None:
    text = mapper(types={"f": FieldType.decimal}).map({"f": str(value)})[0]["f"]
    assert Decimal(text) == value and "E" not in text


@given(st.datetimes(timezones=st.just(dt.UTC)))
def test_datetimes_round_trip_in_utc(value: dt.datetime) -> None:
    text = mapper(types={"f": FieldType.datetime}).map({"f": value.isoformat()})[0]["f"]
    assert text.endswith("Z")
    assert dt.datetime.fromisoformat(text) == value
