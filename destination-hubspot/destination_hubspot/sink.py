"""One HubSpot batch call per batch: create, update, upsert or archive, with per-record outcomes.

HubSpot answers a batch in one of these ways, and each maps to the kernel's outcomes:
- 200/201/204 without errors: every input was written;
- 207 (or, on 2026-09, a 200/201 whose body lists `errors`: its descriptions fold the multi-status
  body into the success one): some inputs failed; each error names its inputs (`objectWriteTraceId`
  or `context.ids`), those are rejected with HubSpot's category and message, the rest accepted;
- 400/409 for the whole batch. When it is a VALIDATION_ERROR naming properties (a 2026-09 required-
  property rule, an invalid value), the records that can have caused it (those lacking a required
  property, those sending an invalid one) are split off and the others resent at once; otherwise
  HubSpot does not say which input is at fault, and the kernel splits the batch until the bad records
  stand alone and are rejected with the message.

A create is idempotent when it can be an upsert by `retl_source_key`, the sync-owned unique property
holding the stream's key; otherwise it is at-least-once (a lost answer rejects its records as "outcome
unknown", a resumed sync creates the last window's records again).
"""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal
from typing import Any

import orjson
import requests

from destination_hubspot.associations import AssociationWriter
from destination_hubspot.catalog import RECORD_ID, SOURCE_KEY, HubSpotObject, ObjectCatalog, Property
from destination_hubspot.client import HubSpotClient, object_scopes, schema_scopes, texts
from destination_hubspot.config import HubSpotStreamMapping
from destination_hubspot.properties import (
    SOURCE_KEY_DEFINITION,
    UNTYPABLE,
    check_source_key,
    create,
    definition,
    schema_kind,
    untypable_error,
    validate,
    values_kind,
    written_properties,
)
from retl_shared.config import OnDelete, UnmappedColumns
from retl_shared.errors import ConfigError, OutcomeUnknown, TransientError
from retl_shared.mapping import MappingError
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Result, Sink, Target

log = logging.getLogger("destination_hubspot")

# "When the value is added through the CRM, the character limit is 65,536 characters" (text properties,
# https://knowledge.hubspot.com/contacts/property-field-types-in-hubspot): longer values are rejected
# before sending rather than cut by HubSpot or failing the batch.
MAX_VALUE_CHARACTERS = 65_536
WRITTEN = (200, 201, 204, 207)
_CREATING = threading.Lock()  # properties are created by one sink at a time

Answer = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # a batch answer's results and errors
Scopes = tuple[tuple[str, ...], str]  # scopes of which one is needed, and what for


class HubSpotSink(Sink):
    limits = BatchLimits(max_records=100)
    removes = frozenset({OnDelete.archive})  # a row that left a diff-mode model archives its record

    def __init__(
        self,
        target: Target,
        client: HubSpotClient,
        catalog: ObjectCatalog,
        obj: HubSpotObject,
        to_paths: dict[str, str],
        create_missing: bool,
        property_group: str,
    ) -> None:
        super().__init__(target)
        mapping = target.mapping
        assert isinstance(mapping, HubSpotStreamMapping)
        self.client = client
        self.catalog = catalog
        self.hubspot = obj
        self.create_missing = create_missing
        self.property_group = property_group
        self.key_field = target.match_key[0] if target.match_key else None
        creating = target.operation == "create"
        # A create becomes an upsert by retl_source_key when the stream has a key to put in it and the
        # property exists (unique) or may be created.
        has_source_key = creating and check_source_key(obj) is not None
        self.source_key_wanted = creating and (has_source_key or create_missing)
        self.by_source_key = self.source_key_wanted and bool(target.match_key)
        self.id_property = SOURCE_KEY if self.by_source_key else self._id_property(target, obj)
        # A create's key columns feed retl_source_key; they are written only where HubSpot has them.
        key_only = {f for f in target.match_key if f not in obj.properties} if creating else set()
        wanted = {n: s for n, s in written_properties(target, mapping).items() if n not in key_only}
        to_create = validate(target, obj, wanted, create_missing)
        self.to_create = {name: kind for name, s in to_create.items() if (kind := schema_kind(s))}
        self.untyped = {name for name in to_create if name not in self.to_create}  # typed by values
        columns_unknown = mapping.unmapped_columns is UnmappedColumns.pass_through and not target.columns
        self.discovers_fields = create_missing and columns_unknown
        self.skip = {a.column for a in mapping.associations} | key_only
        if self.id_property is None or creating:
            self.skip.add(RECORD_ID)
        operation = "upsert" if self.by_source_key else target.operation
        self.path = client.path("objects", obj.path_name, "batch", operation)
        # A plain create has no key HubSpot could match a resent record by: sent twice, it is created twice.
        self.idempotent = not creating or self.by_source_key
        self.requires_match_key = not creating
        self.associations = [
            (a.column, AssociationWriter(client, obj.path_name, a, to_paths[a.to_object]))
            for a in mapping.associations
        ]

    @staticmethod
    def _id_property(target: Target, obj: HubSpotObject) -> str | None:
        """The ``idProperty`` to send: None addresses records by their id (hs_object_id)."""
        operation, key = target.operation, target.match_key
        if operation == "create":
            return None
        if len(key) != 1:
            raise ConfigError(f"{target.label}: match_key must be one property, not {key}")
        if key[0] == RECORD_ID and operation in ("update", "archive"):
            return None
        if operation == "archive":
            raise ConfigError(f"{target.label}: archive addresses records by {RECORD_ID}; map the id to it")
        if key[0] not in obj.unique_properties:
            allowed = ", ".join(([RECORD_ID] if operation == "update" else []) + obj.unique_properties)
            raise ConfigError(
                f"{target.label}: match_key {key[0]!r} is not a unique property of {obj.name}; "
                f"use one of: {allowed or 'none (add a property with unique values)'}"
            )
        return key[0]

    def normalize_key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """HubSpot matches emails (and unique text) case-insensitively. retl_source_key values are
        compared exactly: merging keys that differ in case would lose a record if HubSpot tells them
        apart; if it does not, the batch's duplicate-id refusal is split and both are still written."""
        if self.by_source_key:
            return tuple(as_text(v) for v in key)
        return tuple(v.strip().lower() if isinstance(v, str) else str(v) for v in key)

    # --- what check reports ----------------------------------------------------------------------

    def needed_scopes(self) -> list[Scopes]:
        """The scopes this stream needs beyond reading properties (which check has done)."""
        obj, label = self.hubspot, self.target.label
        needed = [(object_scopes(obj.path_name, "write"), label)]
        source_key_missing = self.source_key_wanted and SOURCE_KEY not in obj.properties
        if self.to_create or self.untyped or source_key_missing or self.discovers_fields:
            needed.append((schema_scopes(obj.path_name, "write"), f"{label}: creating properties"))
        for column, writer in self.associations:
            needed.append((object_scopes(writer.to_path, "read"), f"{label}: finding {column}'s records"))
        return needed

    def check_note(self) -> str | None:
        """What a create stream guarantees, said in check (which has no catalog, so no primary key)."""
        if self.operation != "create":
            return None
        stream = self.target.mapping.stream
        if self.source_key_wanted:
            return (
                f"Stream {stream!r}: creates are upserts by {SOURCE_KEY} (the stream's primary key), so "
                "retries and resumed syncs never duplicate; a stream without a primary key is created "
                "at-least-once."
            )
        return self._at_least_once()

    def _at_least_once(self) -> str:
        stream = self.target.mapping.stream
        fix = (
            "give the stream a primary key"
            if self.source_key_wanted
            else "set create_missing_properties: true (with a primary key on the stream)"
        )
        return (
            f"Stream {stream!r}: creates are at-least-once: after a lost answer its records are rejected "
            "(outcome unknown), and a sync resumed after a crash creates the last window's records again. "
            f"To make them upserts by {SOURCE_KEY}, {fix}."
        )

    # --- before the first batch, and typing from values --------------------------------------------

    def prepare(self) -> None:
        definitions = [definition(name, kind, self.property_group) for name, kind in self.to_create.items()]
        if self.by_source_key:
            definitions.append(dict(SOURCE_KEY_DEFINITION))
        elif self.operation == "create":
            log.warning(self._at_least_once())
        with _CREATING:
            definitions = [spec for spec in definitions if spec["name"] not in self.hubspot.properties]
            if definitions:
                create(self.client, self.catalog, self.hubspot, definitions, self.property_group)
        self.to_create = {}

    def _type_from_values(self, batch: list[Record]) -> None:
        """Create the properties whose source gave no type, from the first values seen (numbers stay
        numbers); until a value shows up they are left out (a missing property holds no value to clear).
        A pass-through stream whose catalog lists no columns has its fields known only from its records."""
        with _CREATING:
            candidates = set(self.untyped)  # other workers read self.untyped: it is replaced, never changed
            if self.discovers_fields:
                candidates |= {name for record in batch for name in record.data if name not in self.skip}
            pending = {name for name in candidates if name not in self.hubspot.properties}
            kinds = {name: values_kind(record.data.get(name) for record in batch) for name in pending}
            mixed = [name for name, kind in kinds.items() if kind == UNTYPABLE]
            if mixed:
                why = "their values are objects, lists, or of several kinds (numbers and text)"
                raise untypable_error(self.target, self.hubspot, mixed, why)
            ready = {name: kind for name, kind in kinds.items() if kind is not None}
            if ready:
                definitions = [definition(name, kind, self.property_group) for name, kind in ready.items()]
                create(self.client, self.catalog, self.hubspot, definitions, self.property_group)
            self.untyped = pending - set(ready)

    # --- sending -----------------------------------------------------------------------------------

    def send(self, batch: list[Record]) -> list[Outcome]:
        """Write the batch; records marked deleted (on_delete: archive) are archived instead."""
        if not any(record.deleted for record in batch):
            return self._write(batch)
        outcomes: list[Outcome] = [ACCEPTED] * len(batch)
        for deleted in (False, True):
            positions = [p for p, record in enumerate(batch) if record.deleted is deleted]
            if positions:
                records = [batch[p] for p in positions]
                answered = self._archive(records) if deleted else self._write(records)
                for position, outcome in zip(positions, answered, strict=True):
                    outcomes[position] = outcome
        return outcomes

    def _archive(self, records: list[Record]) -> list[Outcome]:
        """Archive the records the keys name (restorable in HubSpot for 90 days); a key HubSpot has no
        record for is already gone."""
        ids = self._record_ids(records)
        inputs = [{"id": record_id} for record_id in dict.fromkeys(i for i in ids if i is not None)]
        if not inputs:
            return [ACCEPTED] * len(records)
        path = self.client.path("objects", self.hubspot.path_name, "batch", "archive")
        response = self.client.post(path, {"inputs": inputs})
        if response.status_code in WRITTEN:
            return [ACCEPTED] * len(records)
        reason, field = _reason(response, self.client)
        result = Result.rejected if len(records) == 1 else Result.split_batch
        return [Outcome(result, reason, field)] * len(records)

    def _record_ids(self, records: list[Record]) -> list[str | None]:
        """Each record's HubSpot id: its key when it is the record id, else looked up by the unique
        property the stream matches by (None when HubSpot has no such record)."""
        if self.id_property is None:
            return [self._input_id(record) for record in records]
        found = self._existing(records)
        return [found.get(_norm(self._input_id(record))) for record in records]

    def _existing(self, records: list[Record]) -> dict[str, str]:
        """Records HubSpot has, by the normalised value of the stream's idProperty (or record id)."""
        body: dict[str, Any] = {
            "inputs": [{"id": self._input_id(r)} for r in records],
            "properties": [],
            "propertiesWithHistory": [],
        }
        if self.id_property is not None:
            body["idProperty"] = self.id_property
            body["properties"] = [self.id_property]
        response = self.client.post(
            self.client.path("objects", self.hubspot.path_name, "batch", "read"), body
        )
        found = {}
        for result in self.client.listing(response, "id") if response.status_code < 300 else []:
            properties = result.get("properties")
            if self.id_property is None:
                found[_norm(result["id"])] = str(result["id"])
            elif isinstance(properties, dict):
                found[_norm(properties.get(self.id_property))] = str(result["id"])
        return found

    def _write(self, batch: list[Record]) -> list[Outcome]:
        if self.untyped or self.discovers_fields:
            self._type_from_values(batch)
        outcomes: list[Outcome | None] = [None] * len(batch)
        pending: list[tuple[int, dict[str, Any]]] = []
        for position, record in enumerate(batch):
            try:
                pending.append((position, self._input(record, str(position))))
            except MappingError as exc:
                outcomes[position] = Outcome.rejected(exc.reason, exc.field)
        written: list[dict[str, Any]] = []
        while pending:
            response = self.client.post(
                self.path, {"inputs": [i for _, i in pending]}, idempotent=self.idempotent
            )
            results, errors = self._answer(response)
            positions = [p for p, _ in pending]
            records = [batch[p] for p in positions]
            suspects = self._suspects(response, records)
            if suspects is not None:
                # the rest are resent at once; the suspects are split until each stands alone
                indexes, reason, field = suspects
                for i in indexes:
                    outcomes[positions[i]] = Outcome(Result.split_batch, reason, field)
                pending = [item for i, item in enumerate(pending) if i not in indexes]
                continue
            answered = self._outcomes(response, errors, records, positions)
            for position, outcome in zip(positions, answered, strict=True):
                outcomes[position] = outcome
            if response.status_code in WRITTEN:
                written = results
            break
        if self.associations and written:
            self._associate(batch, outcomes, written)
        return [o if o is not None else ACCEPTED for o in outcomes]

    def _input(self, record: Record, trace_id: str) -> dict[str, Any]:
        properties = {}
        for name, value in record.data.items():
            if name in self.skip or name in self.untyped:
                continue
            prop = self.hubspot.properties.get(name)
            if prop is None:
                raise MappingError(name, f"HubSpot {self.hubspot.name} has no property {name!r}")
            properties[name] = render(value, prop)
        if self.by_source_key:
            key = self._source_key(record)
            properties[SOURCE_KEY] = key
            return {
                "id": key,
                "idProperty": SOURCE_KEY,
                "properties": properties,
                "objectWriteTraceId": trace_id,
            }
        if self.operation == "create":
            return {"properties": properties, "associations": [], "objectWriteTraceId": trace_id}
        assert self.key_field is not None
        item: dict[str, Any] = {"id": str(record.data[self.key_field])}
        if self.operation == "archive":
            return item
        if self.id_property is not None:
            item["idProperty"] = self.id_property
        return {**item, "properties": properties, "objectWriteTraceId": trace_id}

    def _source_key(self, record: Record) -> str:
        """The stream and its key, as a JSON array of texts: stable across runs, and two streams creating
        the same object never share a value (`["new_deals","D-17"]`)."""
        values = [as_text(record.data.get(name)) for name in self.target.match_key]
        return orjson.dumps([self.target.mapping.stream, *values]).decode()

    def _input_id(self, record: Record) -> str | None:
        """The id a record was sent under: its retl_source_key, or its match key's value."""
        if self.by_source_key:
            return self._source_key(record)
        return None if self.key_field is None else str(record.data.get(self.key_field))

    def _answer(self, response: requests.Response) -> Answer:
        """The results and errors of a 2xx answer. A garbled one (not JSON, another shape) is a transient
        error, or for a create, which may have taken effect, an unknown outcome for its records."""
        if response.status_code not in (200, 201, 207):
            return [], []
        try:
            body = self.client.json_body(response)
            results, errors = body.get("results", []), body.get("errors", [])
            if not all(
                isinstance(part, list) and all(isinstance(i, dict) for i in part)
                for part in (results, errors)
            ):
                raise self.client.garbled(response, "`results` or `errors` that are not lists of objects")
        except TransientError as exc:
            if self.idempotent:
                raise
            raise OutcomeUnknown(exc.message) from None
        return results, errors

    def _outcomes(
        self,
        response: requests.Response,
        errors: list[dict[str, Any]],
        records: list[Record],
        positions: list[int],
    ) -> list[Outcome]:
        if response.status_code in WRITTEN:
            return self._partial(errors, records, positions) if errors else [ACCEPTED] * len(records)
        # 400/409/422 for the whole batch (the client raises for refusals of the request itself)
        reason, field = _reason(response, self.client)
        result = Result.rejected if len(records) == 1 else Result.split_batch
        return [Outcome(result, reason, field)] * len(records)

    def _suspects(
        self, response: requests.Response, records: list[Record]
    ) -> tuple[set[int], str, str | None] | None:
        """For a whole-batch VALIDATION_ERROR naming properties: the records that can have caused it (they
        lack a required property, or send one whose value is invalid), when some others cannot have."""
        if response.status_code != 400 or len(records) < 2:
            return None
        body = _json(response)
        if body.get("category") != "VALIDATION_ERROR":
            return None
        required, invalid = named_properties(body)
        suspects = {
            i
            for i, record in enumerate(records)
            if any(_empty(record.data.get(name)) for name in required)
            or any(not _empty(record.data.get(name)) for name in invalid)
        }
        if not suspects or len(suspects) == len(records):
            return None
        reason, field = _reason(response, self.client)
        return suspects, reason, field

    def _partial(
        self, errors: list[dict[str, Any]], records: list[Record], positions: list[int]
    ) -> list[Outcome]:
        """Map each error of a partial answer to its inputs: by objectWriteTraceId (the record's position in
        the batch), else by the ids it names."""
        by_trace = {str(p): i for i, p in enumerate(positions)}
        by_id: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            sent_as = self._input_id(record)
            if sent_as is not None:
                by_id.setdefault(_norm(sent_as), []).append(i)
        outcomes = [ACCEPTED] * len(records)
        unplaced = []
        for error in errors:
            context = error.get("context")
            context = context if isinstance(context, dict) else {}
            reason, field = error_reason(error)
            if error.get("category") == "OBJECT_NOT_FOUND" and self.operation == "update":
                reason += " (update never creates records; use upsert to create them)"
            hits = [by_trace[t] for t in texts(context.get("objectWriteTraceId")) if t in by_trace]
            hits += [i for value in texts(context.get("ids")) for i in by_id.get(_norm(value), [])]
            for i in hits:
                outcomes[i] = Outcome.rejected(reason, field)
            if not hits:
                unplaced.append(reason)
        if unplaced:
            # Unattributed errors: resending is safe except for a plain create, where it would duplicate.
            fallback = Outcome.rejected(f"HubSpot reported errors without naming inputs: {unplaced[0]}")
            if self.idempotent:
                fallback = Outcome.split(unplaced[0])
            outcomes = [fallback if o.result is Result.accepted else o for o in outcomes]
        return outcomes

    def _associate(
        self, batch: list[Record], outcomes: list[Outcome | None], results: list[dict[str, Any]]
    ) -> None:
        ids = self._written_ids(batch, results)
        for column, writer in self.associations:
            pairs = [
                (position, ids[position], record.data[column])
                for position, record in enumerate(batch)
                if outcomes[position] is None or outcomes[position] is ACCEPTED
                if position in ids and record.data.get(column) not in (None, "")
            ]
            for position, problem in writer.link(pairs).items():
                outcomes[position] = Outcome.rejected(problem, column)

    def _written_ids(self, batch: list[Record], results: list[dict[str, Any]]) -> dict[int, str]:
        """Position → HubSpot record id, from the echoed trace ids or the key property."""
        ids: dict[int, str] = {}
        by_key = {_norm(self._input_id(r)): i for i, r in enumerate(batch) if self._input_id(r) is not None}
        for result in results:
            record_id, trace = result.get("id"), result.get("objectWriteTraceId")
            if record_id is None:
                continue
            properties = result.get("properties")
            if trace is not None and str(trace).isdigit():
                ids[int(trace)] = str(record_id)
            elif self.id_property is None and _norm(record_id) in by_key:
                ids[by_key[_norm(record_id)]] = str(record_id)
            elif self.id_property is not None and isinstance(properties, dict):
                value = properties.get(self.id_property)
                if _norm(value) in by_key:
                    ids[by_key[_norm(value)]] = str(record_id)
        return ids

    # --- dry run ---------------------------------------------------------------------------------

    def preview(self, batch: list[Record]) -> list[str]:
        """Upserts and updates (creates by retl_source_key too) look their records up to say which would
        be created or updated."""
        if self.operation == "archive" or self.key_field is None:
            return [self.operation] * len(batch)
        if self.operation == "create" and (
            not self.by_source_key or SOURCE_KEY not in self.hubspot.properties
        ):
            return ["create"] * len(batch)
        found = self._existing(batch)
        missing = "reject (no such record)" if self.operation == "update" else "create"
        actions = ["update" if _norm(self._input_id(r)) in found else missing for r in batch]
        return [("archive" if r.deleted else action) for r, action in zip(batch, actions, strict=True)]


def as_text(value: Any) -> str:
    """A value as HubSpot stores it: booleans as true/false, floats without float noise (0.1 stays 0.1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return "" if value is None else str(value)


def render(value: Any, prop: Property) -> str:
    """A mapped value as HubSpot wants it: strings, "" to clear, options checked."""
    text = as_text(value)
    if len(text) > MAX_VALUE_CHARACTERS:
        raise MappingError(
            prop.name, f"{len(text)} characters; HubSpot keeps at most {MAX_VALUE_CHARACTERS} in a property"
        )
    if text and prop.options and prop.type == "enumeration":
        chosen = text.split(";") if prop.field_type == "checkbox" else [text]
        if any(option not in prop.options for option in chosen):
            shown = ", ".join(sorted(prop.options)[:10])
            raise MappingError(prop.name, f"value is not one of the property's options ({shown})")
    return text


def named_properties(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The properties a VALIDATION_ERROR names: those a rule requires (`context.properties`, errors with
    code REQUIRED_PROPERTY: the 2026-09 refusals), and those whose values are invalid (the other errors'
    `context.propertyName`, and the `name`s HubSpot encodes in "Property values were not valid: [...]")."""
    required = texts(_member(body, "context", "properties"))
    invalid: list[str] = []
    for error in body.get("errors") or []:
        names = texts(_member(error, "context", "propertyName"))
        (
            required if isinstance(error, dict) and error.get("code") == "REQUIRED_PROPERTY" else invalid
        ).extend(names)
    message = str(body.get("message", ""))
    prefix = "Property values were not valid: "
    if message.startswith(prefix):
        try:
            results = json.loads(message[len(prefix) :])
        except ValueError:
            results = []
        invalid += (
            [str(r["name"]) for r in results if isinstance(r, dict) and "name" in r]
            if isinstance(results, list)
            else []
        )
    return list(dict.fromkeys(required)), list(dict.fromkeys(n for n in invalid if n not in required))


def error_reason(error: dict[str, Any]) -> tuple[str, str | None]:
    """An error's category and message, plus the required properties a rule names (its message does
    not), and the first property it names as the field at fault."""
    required, invalid = named_properties(error)
    reason = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
    if required:
        reason += f" (required: {', '.join(required)})"
    named = [*required, *invalid]
    return reason, named[0] if named else None


def _reason(response: requests.Response, client: HubSpotClient) -> tuple[str, str | None]:
    body = _json(response)
    if not body:
        return f"HTTP {response.status_code}: {client.body_excerpt(response)}", None
    reason, field = error_reason({**body, "category": body.get("category", f"HTTP {response.status_code}")})
    return client.redactor.excerpt(reason, 600), field


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _member(body: Any, *path: str) -> Any:
    for name in path:
        body = body.get(name) if isinstance(body, dict) else None
    return body


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _norm(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""
