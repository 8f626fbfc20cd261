"""Which properties a stream writes, whether HubSpot has them, and creating the missing ones."""

from __future__ import annotations

import difflib
from typing import Any

from destination_hubspot.catalog import RECORD_ID, HubSpotObject
from destination_hubspot.client import HubSpotClient
from destination_hubspot.config import HubSpotStreamMapping
from retl_shared.config import UnmappedColumns
from retl_shared.errors import ConfigError
from retl_shared.sink import Target


def written_properties(target: Target, mapping: HubSpotStreamMapping) -> dict[str, dict[str, Any]]:
    """Property name → JSON schema of its source (for typing created properties)."""
    columns = target.columns
    names: dict[str, dict[str, Any]] = {}
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        names.update({c: s for c, s in columns.items() if c not in mapping.fields})
    names.update({field: columns.get(column, {}) for column, field in mapping.fields.items()})
    names.update({field: _schema_of(value) for field, value in mapping.static_values.items()})
    names.update({field: {"type": "string"} for field in mapping.templates})
    for association in mapping.associations:
        names.pop(association.column, None)
    if target.operation in ("update", "archive") and target.match_key == [RECORD_ID]:
        names.pop(RECORD_ID, None)  # the record id addresses the record; it is not written
    return names


def validate(
    target: Target, obj: HubSpotObject, wanted: dict[str, dict[str, Any]], create_missing: bool
) -> dict[str, dict[str, Any]]:
    """Refuse read-only properties, and unknown ones unless they may be created; return those to create."""
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
    return {name: wanted[name] for name in unknown}


def create(client: HubSpotClient, obj: HubSpotObject, missing: dict[str, dict[str, Any]], group: str) -> None:
    """Create the group if needed, then the properties, typed from their source column's schema."""
    base = f"/crm/v3/properties/{obj.path_name}"
    groups = {g["name"] for g in client.results(f"{base}/groups")}
    if group not in groups:
        label = group.replace("_", " ").title()
        _ok(client, client.post(f"{base}/groups", {"name": group, "label": label}), group)
    inputs = [
        {"name": name, "label": name.replace("_", " ").title(), "groupName": group, **_hubspot_type(schema)}
        for name, schema in missing.items()
    ]
    _ok(client, client.post(f"{base}/batch/create", {"inputs": inputs}), ", ".join(missing))


def _ok(client: HubSpotClient, response: Any, what: str) -> None:
    if response.status_code >= 300:
        raise ConfigError(
            f"Could not create HubSpot property {what}: HTTP {response.status_code} "
            f"{client.body_excerpt(response)}"
        )


def _schema_of(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int | float):
        return {"type": "number"}
    return {"type": "string"}


def _hubspot_type(schema: dict[str, Any]) -> dict[str, Any]:
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "boolean" in kinds:
        options = [
            {"label": label, "value": value, "hidden": False, "displayOrder": order}
            for order, (label, value) in enumerate((("Yes", "true"), ("No", "false")))
        ]
        return {"type": "bool", "fieldType": "booleancheckbox", "options": options}
    if "integer" in kinds or "number" in kinds:
        return {"type": "number", "fieldType": "number"}
    if schema.get("format") == "date":
        return {"type": "date", "fieldType": "date"}
    if schema.get("format") == "date-time":
        return {"type": "datetime", "fieldType": "date"}
    return {"type": "string", "fieldType": "text"}
