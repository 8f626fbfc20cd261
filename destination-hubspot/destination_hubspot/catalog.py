"""HubSpot's objects, their operations, matching keys and writable properties, read from the live API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from destination_hubspot.client import HubSpotClient, scope_name
from retl_shared.config import FieldType
from retl_shared.sink import ObjectSpec

STANDARD_OBJECTS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "products": "0-7",
    "line_items": "0-8",
}
OPERATIONS = {"upsert": "append_dedup", "create": "append", "update": "update", "archive": "soft_delete"}
RECORD_ID = "hs_object_id"
# The sync-owned unique property that makes creates idempotent: it holds the stream's key, and a create
# becomes an upsert by it (see sink.py).
SOURCE_KEY = "retl_source_key"

# HubSpot property type → the kernel's coercion; the sink then renders every value as a string.
FIELD_TYPES = {
    "string": FieldType.string,
    "number": FieldType.decimal,  # exact digits, no float noise
    "date": FieldType.date,
    "datetime": FieldType.datetime,
    "bool": FieldType.boolean,
    "enumeration": FieldType.string,
    "phone_number": FieldType.string,
}
JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "bool": {"type": "boolean"},
    "enumeration": {"type": "string"},
    "phone_number": {"type": "string"},
}


@dataclass
class Property:
    name: str
    type: str
    field_type: str
    writable: bool
    unique: bool
    options: frozenset[str] = frozenset()


@dataclass
class HubSpotObject:
    """An object as HubSpot describes it; ``path_name`` is what goes into URLs."""

    name: str
    path_name: str
    properties: dict[str, Property] = field(default_factory=dict)

    @property
    def scope_name(self) -> str:
        """The <name> in its scopes: crm.objects.<name>.write (`custom` for custom objects)."""
        return scope_name(self.path_name)

    @property
    def unique_properties(self) -> list[str]:
        names = [p.name for p in self.properties.values() if p.unique]
        return (["email"] if self.name == "contacts" else []) + names

    def spec(self) -> ObjectSpec:
        writable = {n: p for n, p in self.properties.items() if p.writable}
        fields = {}
        for name, prop in writable.items():
            schema = dict(JSON_TYPES.get(prop.type, {"type": "string"}))
            if prop.options:
                schema["enum"] = sorted(prop.options)
            fields[name] = schema
        unique = [[name] for name in self.unique_properties]
        return ObjectSpec(
            name=self.name,
            operations=dict(OPERATIONS),
            matching_keys=unique,
            # A create matches nothing: its records are keyed by the stream's primary key (which the
            # kernel uses when an operation has no key), the value of retl_source_key.
            operation_keys={
                "update": [[RECORD_ID], *unique],
                "archive": [[RECORD_ID], *unique],
                "create": [],
            },
            fields=fields,
            field_types={n: FIELD_TYPES.get(p.type, FieldType.string) for n, p in writable.items()},
        )


def _property(raw: dict[str, Any]) -> Property:
    """A property as ``GET /crm/v3/properties/{object}`` describes it (``name`` checked by the client)."""
    metadata = raw.get("modificationMetadata")
    options = raw.get("options")
    return Property(
        name=raw["name"],
        type=str(raw.get("type", "string")),
        field_type=str(raw.get("fieldType", "text")),
        writable=not raw.get("calculated")
        and not (isinstance(metadata, dict) and metadata.get("readOnlyValue")),
        unique=bool(raw.get("hasUniqueValue")),
        options=frozenset(str(o["value"]) for o in options if isinstance(o, dict) and "value" in o)
        if isinstance(options, list)
        else frozenset(),
    )


class ObjectCatalog:
    """The portal's objects: the standard ones and the custom ones its schemas list (read once per run),
    each with its properties (read once per object, when a stream or discover needs them)."""

    def __init__(self, client: HubSpotClient) -> None:
        self.client = client
        self._objects: dict[str, HubSpotObject] | None = None
        self._aliases: dict[str, str] = {}

    def _load(self) -> dict[str, HubSpotObject]:
        if self._objects is None:
            objects = {name: HubSpotObject(name, name) for name in STANDARD_OBJECTS}
            aliases = {type_id: name for name, type_id in STANDARD_OBJECTS.items()}
            for schema in self.client.results("schemas"):
                type_id, qualified = schema.get("objectTypeId"), schema.get("fullyQualifiedName")
                path_name = type_id if isinstance(type_id, str) and type_id else schema["name"]
                objects[schema["name"]] = HubSpotObject(schema["name"], path_name)
                for alias in (type_id, qualified):
                    if isinstance(alias, str) and alias:
                        aliases[alias] = schema["name"]
            self._objects, self._aliases = objects, aliases
        return self._objects

    def names(self) -> list[str]:
        """Every object's name (the schemas call only: no properties are read)."""
        return list(self._load())

    def find(self, names: set[str] | None = None) -> dict[str, HubSpotObject]:
        """Objects by the names asked for (name, type id or fully qualified name), with their properties;
        every object when ``names`` is None. Names that match no object are left out."""
        objects = self._load()
        found: dict[str, HubSpotObject] = {}
        for requested in sorted(names) if names is not None else list(objects):
            obj = objects.get(self._aliases.get(requested, requested))
            if obj is None:
                continue
            if not obj.properties:
                self.reload_properties(obj)
            found[requested] = obj
        return found

    def reload_properties(self, obj: HubSpotObject) -> None:
        results = self.client.results("properties", obj.path_name)
        obj.properties = {raw["name"]: _property(raw) for raw in results}
