"""What a destination implements: its objects (the catalog) and a sink per configured stream.

A sink declares its batch limits and turns a batch into one outcome per record. Everything else
(reading, mapping, merging, batching, per-key ordering, concurrency, retries, splitting, state) is
the kernel's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from retl_shared.config import FieldType, OnDelete, StreamMapping
from retl_shared.mapping import MappingError

# The operation each Airbyte destination sync mode stands for, unless a destination says otherwise.
OPERATION_FOR_SYNC_MODE = {
    "append_dedup": "upsert",
    "append": "create",
    "update": "update",
    "soft_delete": "archive",
    "overwrite": "upsert",
}


class Result(StrEnum):
    accepted = "accepted"  # written; it may carry a note on how (e.g. renamed), counted by note
    rejected = "rejected"  # permanent: the API refused this record; it carries a reason
    retry = "retry"  # transient: send this record again after a backoff
    split_batch = "split"  # the batch failed as a whole: split it to find the bad records
    skipped = "skipped"  # deliberately not sent (e.g. an event older than a backfill guard); it carries why


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    reason: str = ""
    field: str | None = None
    retry_after: float | None = None

    @classmethod
    def rejected(cls, reason: str, field: str | None = None) -> Outcome:
        return cls(Result.rejected, reason, field)

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls(Result.retry, reason, retry_after=retry_after)

    @classmethod
    def split(cls, reason: str) -> Outcome:
        return cls(Result.split_batch, reason)

    @classmethod
    def skipped(cls, reason: str) -> Outcome:
        return cls(Result.skipped, reason)

    @classmethod
    def noted(cls, note: str) -> Outcome:
        """Written, but not quite as mapped (e.g. an old event sent under another name): counted by note."""
        return cls(Result.accepted, note)


ACCEPTED = Outcome(Result.accepted)


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as JSON; one that JSON encoders refuse (nested more than 254 levels deep) is a
    MappingError, so that record alone is rejected."""
    try:
        return len(orjson.dumps(value))
    except TypeError as exc:
        why = "it is nested more than 254 levels deep" if "Recursion" in str(exc) else str(exc)
        raise MappingError(None, f"the record cannot be written as JSON: {why}") from None


@dataclass(slots=True)
class Record:
    """A mapped record on its way to the API."""

    stream: tuple[str | None, str]  # (namespace, name)
    data: dict[str, Any]
    key: tuple[Any, ...] | None
    size: int
    window: int = 0  # which state checkpoint this record comes before
    # The entity it writes, as the API compares it (object, key fields, normalised key); None for
    # occurrences. Two requests holding the same identity are never in flight at once.
    identity: tuple[Any, ...] | None = None
    line: int = 0  # its input line: where it stands in this sync (a message id can be made from it)
    deleted: bool = False  # the row left the model and `on_delete` removes its entity (archive/delete)
    source: dict[str, Any] | None = None  # the data as read: a rejection names its row by it, and keeps it


@dataclass(frozen=True)
class BatchLimits:
    max_records: int
    max_bytes: int | None = None  # whole request body
    max_record_bytes: int | None = None  # one record; larger ones are rejected


@dataclass
class ObjectSpec:
    """One destination object as discover describes it."""

    name: str
    operations: dict[str, str]  # operation → the Airbyte destination sync mode it serves
    matching_keys: list[list[str]] = field(default_factory=list)
    # Keys that differ by operation (HubSpot updates by record id, upserts by a unique property).
    operation_keys: dict[str, list[list[str]]] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # field → JSON schema
    field_types: dict[str, FieldType] = field(default_factory=dict)  # field → kernel coercion

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": True, "properties": self.fields}

    def keys_for(self, operation: str) -> list[list[str]]:
        return self.operation_keys.get(operation, self.matching_keys)

    def operation_for(self, sync_mode: str) -> str | None:
        """The operation serving a sync mode: the object's own, else the kernel's default naming."""
        for operation, mode in self.operations.items():
            if mode == sync_mode:
                return operation
        default = OPERATION_FOR_SYNC_MODE.get(sync_mode)
        if default in self.operations:
            return default
        return next(iter(self.operations)) if len(self.operations) == 1 else None


@dataclass(frozen=True)
class Target:
    """What one stream writes to: the object, the operation, the user's mapping and the match key.

    ``columns`` are the stream's columns and their JSON schemas from the catalog (empty in
    ``check``): destinations that validate or create fields use them for pass-through mappings.
    ``primary_key`` (source columns) and ``cursor_field`` (a source column) come from the configured
    stream, when it has them.
    """

    object: ObjectSpec
    operation: str
    mapping: StreamMapping
    match_key: list[str]
    columns: dict[str, Any] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    cursor_field: str | None = None

    @property
    def label(self) -> str:
        return f"stream {self.mapping.stream!r} → {self.object.name}.{self.operation}"


class Sink(ABC):
    """Writes batches of one stream to one object with one operation."""

    limits: BatchLimits = BatchLimits(max_records=100)
    # Records without a match key are rejected before sending when this is true.
    requires_match_key: bool = True
    # Records with the same match key are one entity: in one batch they merge field-wise (what
    # sending both in order would leave), across batches they are written in the order read.
    # Occurrences (events) set this false: every one is sent, at full concurrency.
    deduplicate: bool = True
    # What `on_delete` may be for this sink, beyond ignore and clear, which every sink takes: the sink
    # then removes the entity of each record marked `deleted`.
    removes: frozenset[OnDelete] = frozenset()
    # Whether records keep the diff columns (_retl_change, _ab_cdc_deleted_at); elsewhere they are dropped
    # before mapping, as no CRM has such fields.
    keeps_change_columns: bool = False
    # Whether sending the same records twice leaves the API as sending them once (upserts, updates,
    # events with a dedupe id). A sink that is not (a create without a unique key) never has a
    # request repeated after an ambiguous failure: its records are rejected as "outcome unknown".
    idempotent: bool = True

    def __init__(self, target: Target) -> None:
        self.target = target
        self.object = target.object
        self.operation = target.operation

    def record_size(self, data: dict[str, Any]) -> int:
        """Bytes this record adds to a request body; override when the API's encoding differs. Raises
        MappingError for a record that cannot be sent at all."""
        return encoded_size(data)

    def normalize_key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """How the API compares match keys (e.g. case-insensitive emails); used to deduplicate."""
        return key

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Runs once before the first batch (e.g. create missing properties)."""

    @abstractmethod
    def send(self, batch: list[Record]) -> list[Outcome]:
        """Write the batch; return one outcome per record, in order.

        Raise ``ConfigError``/``TransientError`` for failures that concern the whole sync; the client's
        ``RequestTooLarge`` and ``OutcomeUnknown`` may pass through (the kernel splits, or rejects).
        """

    def preview(self, batch: list[Record]) -> list[str]:
        """Dry run: what each record would cause (e.g. "create", "update"), without writing."""
        return [self.operation] * len(batch)
