"""Batches of people, events and custom objects as Customer.io v2 batch entries, with per-record outcomes.

Each sink turns a mapped record into one entry (``entry``); the shared ``TrackSink`` sends a batch
and reads Customer.io's answer:
- 200: every entry was accepted (an answer that is not a JSON object did not come from the Track API:
  a config error naming the URL);
- 207: ``errors[].batch_index`` names the failed entries; those records are rejected with the error's
  reason, message and field, the rest accepted (read from a 200 as well, should one carry errors);
- 400 (or 413, or 409/422): the request as a whole was refused without naming entries, so the kernel
  splits the batch until the bad records stand alone and rejects them with the message.
Resending is always safe: identify and delete are idempotent, and events carry a stable dedupe id.

Before sending, a sink may decide a record's fate (``admit``): an event older than the stream's
``max_event_age`` is skipped, or sent renamed and counted with a note.
"""

from __future__ import annotations

import hashlib
import re
import time
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

import orjson
import requests

from destination_customerio.catalog import OBJECT_ID, PERSON_IDENTIFIERS
from destination_customerio.client import CustomerIoClient, describe
from destination_customerio.config import Backfill, CustomerIoStreamMapping, Relationship, iso_duration
from retl_shared.config import OnDelete, UnmappedColumns
from retl_shared.errors import ConfigError, RequestTooLarge
from retl_shared.mapping import MappingError, parse_datetime
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Result, Sink, Target, encoded_size

# Customer.io's limits (Track API docs and their "Invalid API requests" list).
MAX_REQUEST_BYTES = 500_000  # "< 500 KB": read as 1000-byte kilobytes, the stricter reading
MAX_ENTRY_BYTES = 32_000  # "≤ 32 KB", read the same way
MAX_ATTRIBUTES = 300  # "cannot identify more than 300 attributes in one request"
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_EVENT_NAME_BYTES = 100
# Customer.io sets no entry count. 100 keeps a request near 50 KB for typical rows (10,000 records/s
# at the 100 requests/s fair-use rate), a 400 costs at most 7 halvings to isolate, and a retried
# 5xx resends little.
MAX_ENTRIES = 100
ENVELOPE = b'{"batch":[]}'
TIMESTAMP = "timestamp"  # a person's update time or an event's time, sent as unix seconds
BACKFILL_SUFFIX = "_backfill"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


class TrackSink(Sink):
    """One v2 batch request per batch, or several when the attribute rule needs them."""

    # The kernel counts each record's size plus one byte (its comma); the envelope adds the rest,
    # and the request must stay strictly below the limit.
    limits = BatchLimits(MAX_ENTRIES, MAX_REQUEST_BYTES - len(ENVELOPE) - 1, MAX_ENTRY_BYTES)
    identifiers: tuple[str, ...] = PERSON_IDENTIFIERS  # what the match key may be

    def __init__(self, target: Target, client: CustomerIoClient) -> None:
        super().__init__(target)
        self.client = client
        if len(target.match_key) != 1 or target.match_key[0] not in self.identifiers:
            raise ConfigError(
                f"{target.label}: match_key must be one of {', '.join(self.identifiers)} "
                f"(exactly one identifier per entry), not {target.match_key}"
            )
        self.key = target.match_key[0]

    @abstractmethod
    def entry(self, data: dict[str, Any]) -> dict[str, Any]:
        """The batch entry for a mapped record; raise MappingError to reject it."""

    def record_size(self, data: dict[str, Any]) -> int:
        """The encoded entry's size, which is what Customer.io's request and entry limits count."""
        try:
            return encoded_size(self.entry(data))
        except MappingError:
            return encoded_size(data)  # rejected with its reason when the batch is sent

    def removal(self, data: dict[str, Any]) -> dict[str, Any]:
        """The batch entry deleting a record's entity (on_delete: delete); only sinks in `removes`."""
        raise NotImplementedError

    def admit(self, entry: dict[str, Any]) -> Outcome:
        """The record's outcome if Customer.io accepts its entry (ACCEPTED, or one with a note), or a
        skip: then the entry is not sent."""
        return ACCEPTED

    def send(self, batch: list[Record]) -> list[Outcome]:
        outcomes = [ACCEPTED] * len(batch)
        entries: list[tuple[int, dict[str, Any]]] = []
        for position, record in enumerate(batch):
            try:
                entry = self.removal(record.data) if record.deleted else self.entry(record.data)
            except MappingError as exc:
                outcomes[position] = Outcome.rejected(exc.reason, exc.field)
                continue
            outcomes[position] = self.admit(entry)
            if outcomes[position].result is not Result.skipped:
                entries.append((position, entry))
        for request in _within_attribute_limit(entries):
            try:
                response = self.client.batch([entry for _, entry in request])
                answered = _outcomes(response, len(request), self.client)
            except RequestTooLarge as exc:  # this request only: the batch's others went through
                answered = [Outcome.split(exc.reason)] * len(request)
            for (position, _), outcome in zip(request, answered, strict=True):
                if outcome is not ACCEPTED:  # else the admitted outcome stands, with its note
                    outcomes[position] = outcome
        return outcomes


class PersonSink(TrackSink):
    """identify (create or update a person) or delete, by id, email or cio_id.

    An identify carries the row's update time as ``timestamp``: Customer.io's Track API description says
    of identify's ``timestamp`` "The Unix timestamp for when the attribute update occurred. This can be
    used to control the order of attribute updates when multiple requests are sent in rapid succession."
    (CIO-OAS ``identify_person.timestamp``, docs/vendor-facts-customerio-clarify.md). The kernel already
    writes a person's rows in read order; this lets Customer.io itself keep a newer value when an older
    one arrives later (a resync of old rows, another integration). The time is a mapped ``timestamp``
    field, else the stream's cursor column when the catalog declares it a date or date-time.
    """

    removes = frozenset({OnDelete.delete})  # a row that left a diff-mode model deletes the person

    def __init__(self, target: Target, client: CustomerIoClient) -> None:
        super().__init__(target, client)
        self.updated_at = _cursor_field(target)

    def removal(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": "person", "action": "delete", "identifiers": {self.key: data[self.key]}}

    def normalize_key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """Customer.io compares emails case-insensitively and ids exactly."""
        if self.key == "email":
            return tuple(str(value).strip().lower() for value in key)
        return key

    def entry(self, data: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "person",
            "action": self.operation,
            "identifiers": {self.key: data[self.key]},
        }
        if self.operation == "identify":
            values = {k: v for k, v in data.items() if k not in (self.key, TIMESTAMP)}
            entry["attributes"] = attributes(values)
            field = TIMESTAMP if data.get(TIMESTAMP) not in (None, "") else self.updated_at
            if field is not None and data.get(field) not in (None, ""):
                entry[TIMESTAMP] = unix_seconds(data[field], field)
        return entry


class EventSink(TrackSink):
    """track: one event per record, for the person its identifier names.

    ``name`` is required (map a column to it, or set it in static_values), ``timestamp`` is sent as
    unix seconds, ``event_id`` (the source's id, optional) seeds the dedupe id; every other field
    becomes event data.
    """

    reserved = frozenset({"name", TIMESTAMP, "event_id"})
    # Events are occurrences, not entities: the kernel keeps every one. Deduplication is
    # Customer.io's, by the entry's id, which is the same for a replayed event.
    deduplicate = False

    def __init__(self, target: Target, client: CustomerIoClient) -> None:
        super().__init__(target, client)
        mapping = target.mapping
        assert isinstance(mapping, CustomerIoStreamMapping)
        self.max_event_age = mapping.max_event_age
        self.backfill = mapping.backfill
        # Events from before this instant (the sync's start less max_event_age) are backfill. Fixed once,
        # so an event's fate (and its entry's size) does not change while the sync runs.
        self.live_from: int | None = None
        if mapping.max_event_age:
            self.live_from = int(time.time() - iso_duration(mapping.max_event_age).total_seconds())
            if target.columns and TIMESTAMP not in _produced(mapping, target.columns):
                raise ConfigError(
                    f"{target.label}: max_event_age tells live events from backfill by their timestamp: "
                    "map a column to `timestamp`"
                )

    def entry(self, data: dict[str, Any]) -> dict[str, Any]:
        name = data.get("name")
        if name in (None, ""):
            raise MappingError(
                "name", "an event needs a name: map a column to `name`, or set it in static_values"
            )
        name = str(name)
        if len(name.encode()) > MAX_EVENT_NAME_BYTES:
            raise MappingError("name", f"event name is longer than {MAX_EVENT_NAME_BYTES} bytes")
        entry: dict[str, Any] = {
            "type": "person",
            "action": "event",
            "identifiers": {self.key: data[self.key]},
            "name": name,
        }
        if data.get(TIMESTAMP) not in (None, ""):
            entry[TIMESTAMP] = unix_seconds(data[TIMESTAMP])
        elif self.live_from is not None:
            raise MappingError(
                TIMESTAMP,
                f"no timestamp: max_event_age {self.max_event_age} needs the event's time to tell it from "
                "a backfilled one",
            )
        data_fields = {k: v for k, v in data.items() if k != self.key and k not in self.reserved}
        if data_fields:
            entry["attributes"] = data_fields
        # The id comes from the live name: an event first sent live and replayed once it is old is then
        # dropped by Customer.io as the duplicate it is, not stored a second time under the other name.
        entry["id"] = dedupe_id(entry, data.get("event_id"))
        if self.backfill is Backfill.rename and self._backfilled(entry):
            entry["name"] = name + BACKFILL_SUFFIX
            if len(entry["name"].encode()) > MAX_EVENT_NAME_BYTES:
                raise MappingError(
                    "name",
                    f"event name with {BACKFILL_SUFFIX!r} (for an event older than max_event_age) is longer "
                    f"than {MAX_EVENT_NAME_BYTES} bytes",
                )
        return entry

    def _backfilled(self, entry: dict[str, Any]) -> bool:
        return self.live_from is not None and entry[TIMESTAMP] < self.live_from

    def removal(self, data: dict[str, Any]) -> dict[str, Any]:
        """The batch entry deleting a record's entity (on_delete: delete); only sinks in `removes`."""
        raise NotImplementedError

    def admit(self, entry: dict[str, Any]) -> Outcome:
        """Events older than max_event_age: skipped, or sent renamed; either way counted per event name."""
        if not self._backfilled(entry):
            return ACCEPTED
        if self.backfill is Backfill.skip:
            return Outcome.skipped(f"older than max_event_age {self.max_event_age}: event {entry['name']!r}")
        live = entry["name"].removesuffix(BACKFILL_SUFFIX)
        return Outcome.noted(
            f"older than max_event_age {self.max_event_age}: event {live!r} sent as {entry['name']!r}"
        )

    def preview(self, batch: list[Record]) -> list[str]:
        """Dry run: "track", or for an event older than max_event_age what happens to it, per event name."""
        actions = []
        for record in batch:
            try:
                entry = self.entry(record.data)
            except MappingError:
                actions.append("reject")
                continue
            outcome = self.admit(entry)
            if outcome.result is Result.skipped:
                actions.append(f"skip {entry['name']!r} (older than max_event_age)")
            elif outcome.reason:
                actions.append(f"track as {entry['name']!r} (older than max_event_age)")
            else:
                actions.append("track")
        return actions


class ObjectSink(TrackSink):
    """identify a custom object of the stream's object type, related to people by a column."""

    identifiers = (OBJECT_ID,)
    removes = frozenset({OnDelete.delete})  # a row that left a diff-mode model deletes the object

    def __init__(self, target: Target, client: CustomerIoClient) -> None:
        super().__init__(target, client)
        mapping = target.mapping
        assert isinstance(mapping, CustomerIoStreamMapping)
        if not mapping.object_type_id:
            raise ConfigError(
                f"{target.label}: set object_type_id, the custom object type's id "
                "(Data & Integrations → Objects)"
            )
        self.type_id = mapping.object_type_id
        self.relationship = mapping.relationship

    def removal(self, data: dict[str, Any]) -> dict[str, Any]:
        """Customer.io's object delete ("This also removes relationships from people")."""
        identifiers = {"object_type_id": self.type_id, OBJECT_ID: data[self.key]}
        return {"type": "object", "action": "delete", "identifiers": identifiers}

    def entry(self, data: dict[str, Any]) -> dict[str, Any]:
        skip = {self.key, self.relationship.column if self.relationship else None}
        entry: dict[str, Any] = {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": self.type_id, OBJECT_ID: data[self.key]},
            "attributes": attributes({k: v for k, v in data.items() if k not in skip}),
        }
        if self.relationship is not None:
            related = _related(self.relationship, data.get(self.relationship.column))
            if related:
                entry["cio_relationships"] = related
        return entry


def _related(relationship: Relationship, value: Any) -> list[dict[str, Any]]:
    """The people a relationship column names: one identifier or a list of them, each a single value."""
    people = value if isinstance(value, list) else [value]
    for person in people:
        if isinstance(person, dict | list):
            kind = "an object" if isinstance(person, dict) else "a list"
            raise MappingError(relationship.column, f"holds {kind}, not a person's {relationship.identifier}")
    identifier = relationship.identifier
    return [{"identifiers": {identifier: str(person)}} for person in people if person not in (None, "")]


SINKS: dict[str, type[TrackSink]] = {"person": PersonSink, "event": EventSink, "object": ObjectSink}


# --- entries ------------------------------------------------------------------------------------------


def attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Identify attributes within Customer.io's limits; a record breaking one is rejected, naming it."""
    if len(values) > MAX_ATTRIBUTES:
        raise MappingError(None, f"{len(values)} attributes; Customer.io identifies at most {MAX_ATTRIBUTES}")
    for name, value in values.items():
        if len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
            raise MappingError(name, f"attribute name is longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes")
        try:
            size = len(value.encode()) if isinstance(value, str) else encoded_size(value)
        except MappingError as exc:
            raise MappingError(name, exc.reason) from None
        if value is not None and size > MAX_ATTRIBUTE_VALUE_BYTES:
            raise MappingError(name, f"attribute {name!r} is longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes")
    return values


def unix_seconds(value: Any, field: str = TIMESTAMP) -> int:
    """Whole unix seconds, as Customer.io wants them, from ISO 8601 or epoch seconds or milliseconds."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    try:
        return int(parse_datetime(value).timestamp())
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        raise MappingError(field, str(exc)) from None


def _cursor_field(target: Target) -> str | None:
    """The mapped field holding the stream's cursor column, when the catalog declares that column a date or
    a date-time (an integer cursor may be a version number, not a time) and the mapping keeps it."""
    cursor, mapping = target.cursor_field, target.mapping
    schema = target.columns.get(cursor) if cursor else None
    if cursor is None or not isinstance(schema, dict):
        return None
    airbyte_type = str(schema.get("airbyte_type", ""))
    if schema.get("format") not in ("date", "date-time") and not airbyte_type.startswith("timestamp"):
        return None
    if cursor in mapping.fields:
        return mapping.fields[cursor]
    return cursor if mapping.unmapped_columns is UnmappedColumns.pass_through else None


def _produced(mapping: CustomerIoStreamMapping, columns: dict[str, Any]) -> set[str]:
    """The fields a mapping produces from a stream with these columns."""
    produced = set(mapping.fields.values()) | set(mapping.static_values) | set(mapping.templates)
    if mapping.unmapped_columns is UnmappedColumns.pass_through:
        produced |= {column for column in columns if column not in mapping.fields}
    return produced


def dedupe_id(entry: dict[str, Any], event_id: Any) -> str:
    """The event's id: a ULID (Customer.io requires one) that is the same whenever the event is resent.

    The random part is a hash of the person and the source's ``event_id`` when mapped, else of the
    whole event (person, name, timestamp, data): a replayed event gets the same id and Customer.io
    drops it. The time part is the event's timestamp; Customer.io checks only the format. An
    ``event_id`` that already is a ULID is used as it is.
    """
    if isinstance(event_id, str) and _ULID.fullmatch(event_id.upper()):
        return event_id.upper()
    if event_id not in (None, ""):
        seed: dict[str, Any] = {"identifiers": entry["identifiers"], "event_id": event_id}
    else:
        seed = entry
    try:
        digest = hashlib.sha256(orjson.dumps(seed, option=orjson.OPT_SORT_KEYS)).digest()
    except TypeError as exc:  # nested deeper than JSON encoders go: this record alone is rejected
        raise MappingError(None, f"the record cannot be written as JSON: {exc}") from None
    millis = max(0, entry.get("timestamp", 0)) * 1000 & (2**48 - 1)
    value = millis << 80 | int.from_bytes(digest[:10], "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


# --- requests and answers ------------------------------------------------------------------------


def _within_attribute_limit(
    entries: list[tuple[int, dict[str, Any]]],
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Cut the batch into requests that identify at most 300 distinct attributes each.

    Rows of one model share their columns, so a batch is nearly always one request. Event data does
    not count: the limit is on identify attributes.
    """
    request: list[tuple[int, dict[str, Any]]] = []
    names: set[str] = set()
    for item in entries:
        entry = item[1]
        added = set(entry.get("attributes") or ()) if entry["action"] == "identify" else set()
        if request and len(names | added) > MAX_ATTRIBUTES:
            yield request
            request, names = [], set()
        request.append(item)
        names |= added
    if request:
        yield request


def _outcomes(response: requests.Response, count: int, client: CustomerIoClient) -> list[Outcome]:
    """2xx: written, except the entries the errors name (207; a 200 may carry them too: Segment's
    destination reads them from any 2xx); 400/409/422 for the request: split to find the bad records."""
    status = response.status_code
    if 200 <= status < 300:
        return _partial(client.answer(response), count)
    return [Outcome.split(f"HTTP {status}: {describe(response, client.redactor)}")] * count


def _partial(body: dict[str, Any], count: int) -> list[Outcome]:
    """Each error rejects the entry at its ``batch_index``; errors naming none split the rest."""
    outcomes = [ACCEPTED] * count
    unplaced = []
    errors = body.get("errors")
    for error in errors or []:
        if not isinstance(error, dict):
            continue
        reason = f"{error.get('reason') or 'error'}: {error.get('message') or 'no message'}"
        index = error.get("batch_index")
        if isinstance(index, int) and 0 <= index < count:
            outcomes[index] = Outcome.rejected(reason, error.get("field"))
        else:
            unplaced.append(reason)
    if unplaced:
        # Resending is safe (identify is idempotent, events dedupe by id): split to find the culprits.
        outcomes = [Outcome.split(unplaced[0]) if o is ACCEPTED else o for o in outcomes]
    return outcomes
