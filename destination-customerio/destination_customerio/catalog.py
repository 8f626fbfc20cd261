"""Customer.io's three writable objects: people, their events, and custom objects.

The Track API has no schema endpoint (attributes are free-form and created on first write), so the
catalog is fixed; each object lists only the fields Customer.io gives a meaning to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retl_shared.config import FieldType
from retl_shared.sink import ObjectSpec

PERSON_IDENTIFIERS = ("id", "email", "cio_id")
OBJECT_ID = "object_id"

_STRING: dict[str, Any] = {"type": "string"}
_IDENTIFIER_FIELDS = {
    "id": {**_STRING, "description": "Your id for the person (case-sensitive)."},
    "email": {**_STRING, "format": "email", "description": "The person's email (case-insensitive)."},
    "cio_id": {**_STRING, "description": "Customer.io's own id for the person."},
}
# Customer.io refuses numeric identifiers ("id attribute must be a string value"); the kernel coerces.
_IDENTIFIER_TYPES = dict.fromkeys(PERSON_IDENTIFIERS, FieldType.string)


@dataclass
class CustomerIoObject(ObjectSpec):
    """An object whose operations may serve several sync modes (identify serves append_dedup and append).

    The kernel's ``ObjectSpec`` pairs each operation with one sync mode, which discover shows; the
    others are listed in ``sync_modes``. A sync mode no operation serves is a config error naming the
    operations, rather than the kernel's fallback to an object's only operation (an events stream in
    soft_delete mode must not track events).
    """

    sync_modes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # operation → sync modes

    def operation_for(self, sync_mode: str) -> str | None:
        return next((op for op, modes in self.sync_modes.items() if sync_mode in modes), None)


def _object(
    name: str,
    sync_modes: dict[str, tuple[str, ...]],
    keys: list[list[str]],
    fields: dict[str, dict[str, Any]],
    field_types: dict[str, FieldType],
) -> CustomerIoObject:
    return CustomerIoObject(
        name=name,
        operations={operation: modes[0] for operation, modes in sync_modes.items()},
        matching_keys=keys,
        fields=fields,
        field_types=field_types,
        sync_modes=sync_modes,
    )


PERSON = _object(
    "person",
    {"identify": ("append_dedup", "append"), "delete": ("soft_delete",)},
    [[name] for name in PERSON_IDENTIFIERS],
    {
        **_IDENTIFIER_FIELDS,
        "timestamp": {
            "type": ["string", "integer", "number"],
            "description": "When the row was updated (ISO 8601, or epoch seconds or milliseconds): orders "
            "attribute updates in Customer.io; not an attribute. Defaults to a date-time cursor column.",
        },
    },
    dict(_IDENTIFIER_TYPES),
)
EVENT = _object(
    "event",
    {"track": ("append", "append_dedup")},
    [[name] for name in PERSON_IDENTIFIERS],
    {
        **_IDENTIFIER_FIELDS,
        "name": {**_STRING, "description": "The event name (at most 100 bytes)."},
        "timestamp": {
            "type": ["string", "integer", "number"],
            "description": "When it happened: ISO 8601, or epoch seconds or milliseconds.",
        },
        "event_id": {**_STRING, "description": "The source's id for the event; replays then dedupe by it."},
    },
    {**_IDENTIFIER_TYPES, "name": FieldType.string, "event_id": FieldType.string},
)
CUSTOM_OBJECT = _object(
    "object",
    {"identify": ("append_dedup", "append")},
    [[OBJECT_ID]],
    {OBJECT_ID: {**_STRING, "description": "The object's id within its type."}},
    {OBJECT_ID: FieldType.string},
)
OBJECTS = (PERSON, EVENT, CUSTOM_OBJECT)
