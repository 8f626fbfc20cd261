"""Which properties a stream writes, whether HubSpot has them, and creating the missing ones.

A created property gets the HubSpot type of its source: the mapping's `field_types`, else the column's
JSON schema, else (a catalog without column schemas, or a column of several types) the values of the
first records that carry one: numbers stay numbers. A property that cannot be typed (objects or lists,
or values of several kinds) is never created: the sync names it instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from destination_hubspot.catalog import RECORD_ID, SOURCE_KEY, HubSpotObject, ObjectCatalog, Property
from destination_hubspot.client import HubSpotClient
from destination_hubspot.config import HubSpotStreamMapping
from retl_shared.config import FieldType, UnmappedColumns
from retl_shared.errors import ConfigError
from retl_shared.sink import Target

UNTYPABLE = "untypable"  # a property kind: objects, lists, or values of several kinds
# A mapping's `field_types` entry as the JSON schema of what the kernel's coercion produces.
FIELD_TYPE_SCHEMAS: dict[FieldType, dict[str, Any]] = {
    FieldType.integer: {"type": "integer"},
    FieldType.number: {"type": "number"},
    FieldType.decimal: {"type": "number"},
    FieldType.boolean: {"type": "boolean"},
    FieldType.date: {"type": "string", "format": "date"},
    FieldType.datetime: {"type": "string", "format": "date-time"},
    FieldType.string: {"type": "string"},
    FieldType.json: {"type": "string"},
}
# Kind → the property's type and fieldType (HubSpot's properties guide pairs them: datetime shows as date).
DEFINITIONS: dict[str, dict[str, Any]] = {
    "bool": {
        "type": "bool",
        "fieldType": "booleancheckbox",
        # displayOrder and hidden are required on options from 2026-03 on (OptionInput in the descriptions)
        "options": [
            {"label": label, "value": value, "hidden": False, "displayOrder": order}
            for order, (label, value) in enumerate((("Yes", "true"), ("No", "false")))
        ],
    },
    "number": {"type": "number", "fieldType": "number"},
    "date": {"type": "date", "fieldType": "date"},
    "datetime": {"type": "datetime", "fieldType": "date"},
    "string": {"type": "string", "fieldType": "text"},
}
SOURCE_KEY_DEFINITION = {
    "name": SOURCE_KEY,
    "label": "Source key (reverse ETL)",
    "type": "string",
    "fieldType": "text",
    "hasUniqueValue": True,
    "description": "The source row's key, set by the reverse-ETL sync: its creates are upserts by it, so "
    "a retried or resumed sync never duplicates a record. Do not edit.",
}


def written_properties(target: Target, mapping: HubSpotStreamMapping) -> dict[str, dict[str, Any]]:
    """Property name → the JSON schema of its source (for typing created properties); the mapping's
    `field_types` stand in for a column's schema."""
    columns = target.columns
    names: dict[str, dict[str, Any]] = {}
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        names.update({c: s for c, s in columns.items() if c not in mapping.fields})
    names.update({field: columns.get(column, {}) for column, field in mapping.fields.items()})
    names.update({field: _schema_of(value) for field, value in mapping.static_values.items()})
    names.update({field: {"type": "string"} for field in mapping.templates})
    for field, kind in mapping.field_types.items():
        if field in names and kind in FIELD_TYPE_SCHEMAS:
            names[field] = FIELD_TYPE_SCHEMAS[kind]
    for association in mapping.associations:
        names.pop(association.column, None)
    if target.operation in ("update", "archive") and target.match_key == [RECORD_ID]:
        names.pop(RECORD_ID, None)  # the record id addresses the record; it is not written
    return names


def validate(
    target: Target, obj: HubSpotObject, wanted: dict[str, dict[str, Any]], create_missing: bool
) -> dict[str, dict[str, Any]]:
    """Refuse read-only properties, and unknown ones unless they may be created (and can be typed);
    return those to create, by name, with their source's schema."""
    read_only = sorted(n for n in wanted if n in obj.properties and not obj.properties[n].writable)
    if read_only:
        raise ConfigError(
            f"{target.label}: read-only or calculated properties cannot be written: {', '.join(read_only)}"
        )
    unknown = sorted(n for n in wanted if n not in obj.properties)
    if unknown and not create_missing:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, obj.properties, n=3, cutoff=0.6)
            hints.append(f"{name} (closest: {', '.join(close)})" if close else name)
        raise ConfigError(
            f"{target.label}: HubSpot {obj.name} has no properties {'; '.join(hints)}. Rename them in "
            "`fields`, drop them with unmapped_columns: drop, or set create_missing_properties: true."
        )
    untypable = [name for name in unknown if schema_kind(wanted[name]) == UNTYPABLE]
    if untypable:
        raise untypable_error(target, obj, untypable, "their columns hold objects or lists")
    return {name: wanted[name] for name in unknown}


def untypable_error(target: Target, obj: HubSpotObject, names: Iterable[str], why: str) -> ConfigError:
    return ConfigError(
        f"{target.label}: cannot create HubSpot {obj.name} properties {', '.join(sorted(names))}: {why}, and "
        "no HubSpot type fits. Give them a type with `field_types` (e.g. string), create them in HubSpot, or "
        "drop them."
    )


def schema_kind(schema: Mapping[str, Any]) -> str | None:
    """The kind of property a JSON schema calls for; None when it does not say (no type, only null, or
    types of several kinds: the values decide); UNTYPABLE for objects and lists."""
    kinds = _types(schema) - {"null"}
    if not kinds:
        return None
    if kinds <= {"integer", "number"}:
        return "number"
    if kinds == {"boolean"}:
        return "bool"
    if kinds == {"string"}:
        return {"date": "date", "date-time": "datetime"}.get(str(schema.get("format")), "string")
    if kinds <= {"object", "array"}:
        return UNTYPABLE
    return None


def values_kind(values: Iterable[Any]) -> str | None:
    """The kind of property the values call for; None when there is no value yet; UNTYPABLE for objects,
    lists, or values of several kinds (numbers and text: which would be right is a guess)."""
    kinds = {_value_kind(value) for value in values if value is not None}
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else UNTYPABLE


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    return "string" if isinstance(value, str) else UNTYPABLE


def _types(schema: Mapping[str, Any]) -> set[str]:
    kinds = schema.get("type")
    found = (
        {kinds} if isinstance(kinds, str) else {str(k) for k in kinds} if isinstance(kinds, list) else set()
    )
    for alternative in [*(schema.get("anyOf") or []), *(schema.get("oneOf") or [])]:
        if isinstance(alternative, dict):
            found |= _types(alternative)
    return found


def _schema_of(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int | float):
        return {"type": "number"}
    return {"type": "string"}


def definition(name: str, kind: str, group: str) -> dict[str, Any]:
    """A PropertyCreate for one property of a kind."""
    return {"name": name, "label": name.replace("_", " ").title(), "groupName": group, **DEFINITIONS[kind]}


def create(
    client: HubSpotClient,
    catalog: ObjectCatalog,
    obj: HubSpotObject,
    definitions: list[dict[str, Any]],
    group: str,
) -> None:
    """Create the group if needed, then the properties; read back what HubSpot holds. A property that
    already exists (another stream or run made it meanwhile) is fine when it is what was asked for."""
    groups = {g["name"] for g in client.results("properties", obj.path_name, "groups")}
    if group not in groups:
        label = group.replace("_", " ").title()
        response = client.post(
            client.path("properties", obj.path_name, "groups"), {"name": group, "label": label}
        )
        if response.status_code >= 300 and response.status_code != 409:  # 409: made meanwhile
            raise _not_created(client, response, f"group {group}")
    inputs = [{**spec, "groupName": group} for spec in definitions]
    response = client.post(client.path("properties", obj.path_name, "batch", "create"), {"inputs": inputs})
    # 200 (2026-09) or 201, 207 when some failed; errors may also come in a 200 on 2026-09.
    failures = []
    if response.status_code < 300:
        errors = client.json_body(response).get("errors")
        failures = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    elif response.status_code != 409:
        raise _not_created(client, response, ", ".join(spec["name"] for spec in definitions))
    catalog.reload_properties(obj)
    missing = [spec["name"] for spec in definitions if spec["name"] not in obj.properties]
    if missing:
        reasons = "; ".join(f"{e.get('category', 'ERROR')}: {e.get('message', '')}" for e in failures)
        raise ConfigError(
            f"Could not create HubSpot {obj.name} properties {', '.join(missing)}: "
            f"{client.redactor.excerpt(reasons, 500) or client.body_excerpt(response)}"
        )
    check_source_key(obj)


def check_source_key(obj: HubSpotObject) -> Property | None:
    """retl_source_key as HubSpot holds it; refused when it exists without unique values (made by hand)."""
    prop = obj.properties.get(SOURCE_KEY)
    if prop is not None and not prop.unique:
        raise ConfigError(
            f"HubSpot {obj.name} has a property {SOURCE_KEY} without unique values, so creates cannot be "
            f"upserts by it: delete it (the sync creates it with unique values) or rename it."
        )
    return prop


def _not_created(client: HubSpotClient, response: Any, what: str) -> ConfigError:
    return ConfigError(
        f"Could not create HubSpot property {what}: "
        f"HTTP {response.status_code} {client.body_excerpt(response)}"
    )
