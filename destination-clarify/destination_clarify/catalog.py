"""Clarify's objects, their operations, matching keys and writable fields, read from ``GET /schemas``.

``GET /schemas`` answers ``{"data": {"core/person": {"properties": {...}}, "entities/investor": ...}}``:
``core/*`` are the built-in objects (their path name is the part after the slash), ``entities/*`` the
custom ones (path name ``c_<slug>``). Clarify's clarify-api skill describes the other layout, a list whose
``entities/*`` are "the objects (company, deal, meeting, meeting_recording, person, task, user)" with "JSON
Schema definition in the `attributes` field": built-in names under ``entities/`` stay built-in, and JSON
Schema types are read as Clarify's (an unconfirmed reading: the skill shows no example).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from retl_shared.config import FieldType, UnmappedColumns
from retl_shared.errors import ConfigError
from retl_shared.sink import ObjectSpec, Target

RECORD_ID = "id"
# The unique field Clarify upserts by; custom objects mark theirs with "unique": true in the schema.
MATCH_FIELDS = {"person": "email_addresses", "company": "domains"}
# Fields whose value is a collection, written as {"items": [...]}; a plain column value becomes one item.
COLLECTIONS = frozenset({"email_addresses", "domains", "phone_numbers"})
DOMAINS = "domains"
# A person stream may map a column to this (not a Clarify field): the person is related to the company
# with that domain.
COMPANY_DOMAIN = "company_domain"
BUILT_IN = frozenset({"company", "deal", "meeting", "meeting_recording", "person", "task", "user"})
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")

# Clarify field type → the kernel's coercion (collections and multi-selects pass through as they are).
FIELD_TYPES = {
    "text": FieldType.string,
    "long_text": FieldType.string,
    "email": FieldType.string,
    "url": FieldType.string,
    "phone": FieldType.string,
    "select": FieldType.string,
    "number": FieldType.number,
    "currency": FieldType.number,
    "integer": FieldType.integer,
    "boolean": FieldType.boolean,
    "checkbox": FieldType.boolean,
    "date": FieldType.date,
    "date-time": FieldType.datetime,
    "datetime": FieldType.datetime,
    "json": FieldType.json,
}
JSON_TYPES: dict[str, dict[str, Any]] = {
    "number": {"type": "number"},
    "currency": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "checkbox": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
    "datetime": {"type": "string", "format": "date-time"},
    "json": {},
    "collection": {"type": ["string", "array"], "items": {"type": "string"}},
    "multi_select": {"type": "array", "items": {"type": "string"}},
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    options: tuple[str, ...] = ()
    unique: bool = False

    @property
    def collection(self) -> bool:
        return self.type == "collection" or self.name in COLLECTIONS


@dataclass
class ClarifyObject:
    """An object as Clarify describes it; ``name`` is what goes into URLs (person, c_investor)."""

    name: str
    fields: dict[str, Field] = field(default_factory=dict)  # writable fields only

    @property
    def match_field(self) -> str | None:
        if self.name in MATCH_FIELDS:
            return MATCH_FIELDS[self.name]
        return next((f.name for f in self.fields.values() if f.unique), None)

    def spec(self) -> ObjectSpec:
        operations: dict[str, str] = {"create": "append", "update": "update"}
        keys: list[list[str]] = []
        if self.match_field:
            operations = {"upsert": "append_dedup", **operations}
            keys = [[self.match_field]]
        properties = {}
        for f in self.fields.values():
            schema = dict(
                JSON_TYPES["collection"] if f.collection else JSON_TYPES.get(f.type, {"type": "string"})
            )
            if f.type == "select" and f.options:
                schema["enum"] = list(f.options)
            properties[f.name] = schema
        if self.name == "person":
            properties[COMPANY_DOMAIN] = {
                "type": "string",
                "description": "Not a Clarify field: the person is related to the company with this domain.",
            }
        return ObjectSpec(
            name=self.name,
            operations=operations,
            matching_keys=keys,
            operation_keys={"update": [[RECORD_ID]], "create": []},
            fields={RECORD_ID: {"type": "string"}, **properties},
            field_types={
                f.name: FIELD_TYPES[f.type]
                for f in self.fields.values()
                if f.type in FIELD_TYPES and not f.collection
            },
        )


def object_name(schema_key: str) -> str:
    """``core/person`` → ``person``; ``entities/investor`` → ``c_investor``; ``entities/person`` (the list
    layout's built-ins) → ``person``."""
    kind, _, slug = schema_key.partition("/")
    if kind == "entities" and not slug.startswith("c_") and slug not in BUILT_IN:
        return f"c_{slug}"
    return slug or kind


def field_type(name: str, raw: dict[str, Any]) -> str:
    """Clarify's type of a field descriptor; a JSON Schema one (``string`` with a ``format``, ``array``…)
    is read as the Clarify type it stands for."""
    kind = raw.get("type", "text")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "text")
    kind = str(kind)
    if kind == "string":
        if raw.get("enum"):
            return "select"
        return {"date": "date", "date-time": "date-time"}.get(str(raw.get("format")), "text")
    if kind == "array":
        return "collection" if name in COLLECTIONS else "multi_select"
    return "json" if kind == "object" else kind


def normal_domain(value: str) -> str:
    """A domain as companies are matched and written: ``https://www.Acme.com/about`` → ``acme.com``
    (scheme, ``www.``, port, path and case dropped). Whether Clarify does the same is not documented."""
    host = _SCHEME.sub("", value.strip().lower())
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host.rstrip(".").removeprefix("www.")


def comparable(field_name: str) -> Any:
    """How a unique field's values compare: domains normalised, anything else case-insensitively."""
    if field_name == DOMAINS:
        return normal_domain
    return lambda value: str(value).strip().lower()


def lookup_operator(f: Field) -> str:
    """The documented filter operator that finds a value: ``Contains`` for collections and text (then kept
    only when equal), ``Is`` for other types."""
    return "Contains" if f.collection or f.type in ("text", "long_text", "email", "url", "phone") else "Is"


def read_objects(schemas: dict[str, Any]) -> dict[str, ClarifyObject]:
    """Objects by path name, with their writable fields (system fields start with ``_``)."""
    objects = {}
    for key, schema in schemas.items():
        obj = ClarifyObject(object_name(key))
        for name, raw in ((schema or {}).get("properties") or {}).items():
            if name.startswith("_") or name == RECORD_ID or raw.get("readOnly") or raw.get("read_only"):
                continue
            options = tuple(str(o) for o in raw.get("enum") or ())
            obj.fields[name] = Field(name, field_type(name, raw), options, bool(raw.get("unique")))
        objects[obj.name] = obj
    return objects


def check_fields(target: Target, obj: ClarifyObject) -> None:
    """Refuse a mapping that names fields the object lacks, before anything is sent.

    Clarify's bulk writes are atomic: one unknown field would fail every batch, so it is a config error
    here, with the closest field names as hints. Columns of a pass-through mapping are checked when the
    catalog lists them; otherwise each record is checked as it is written.
    """
    mapping = target.mapping
    names = set(mapping.fields.values()) | set(mapping.static_values) | set(mapping.templates)
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        names |= {column for column in target.columns if column not in mapping.fields}
    if target.operation == "update":
        names.discard(RECORD_ID)
    if obj.name == "person":
        names.discard(COMPANY_DOMAIN)
    unknown = sorted(names - set(obj.fields))
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, obj.fields, n=3, cutoff=0.6)
        hints.append(f"{name} (closest: {', '.join(close)})" if close else name)
    why = " (record ids are assigned by Clarify; map one only to update)" if RECORD_ID in unknown else ""
    raise ConfigError(
        f"{target.label}: Clarify {obj.name} has no writable fields {'; '.join(hints)}{why}. "
        "Rename them in `fields` or drop them with unmapped_columns: drop."
    )
