"""One HubSpot batch call per batch: create, update, upsert or archive, with per-record outcomes.

HubSpot answers a batch in one of three ways, and each maps to the kernel's outcomes:
- 200/201/204: every input was written;
- 207: some inputs failed; each error names its inputs (``objectWriteTraceId`` or ``context.ids``),
  those are rejected with HubSpot's category and message, the rest accepted;
- 400/409 for the whole batch: HubSpot does not say which input is at fault, so the kernel splits
  the batch until the bad records stand alone and are rejected with the message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from destination_hubspot.associations import AssociationWriter
from destination_hubspot.catalog import RECORD_ID, HubSpotObject, Property
from destination_hubspot.client import HubSpotClient, texts
from destination_hubspot.config import HubSpotStreamMapping
from destination_hubspot.properties import create, validate, written_properties
from retl_shared.errors import ConfigError, OutcomeUnknown, TransientError
from retl_shared.mapping import MappingError
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Result, Sink, Target

# "When the value is added through the CRM, the character limit is 65,536 characters" (text properties,
# https://knowledge.hubspot.com/contacts/property-field-types-in-hubspot): longer values are rejected
# before sending rather than cut by HubSpot or failing the batch.
MAX_VALUE_CHARACTERS = 65_536

Answer = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # a batch answer's results and errors


class HubSpotSink(Sink):
    limits = BatchLimits(max_records=100)

    def __init__(
        self,
        target: Target,
        client: HubSpotClient,
        obj: HubSpotObject,
        to_paths: dict[str, str],
        create_missing: bool,
        property_group: str,
    ) -> None:
        super().__init__(target)
        mapping = target.mapping
        assert isinstance(mapping, HubSpotStreamMapping)
        self.client = client
        self.hubspot = obj
        self.key_field = target.match_key[0] if target.match_key else None
        self.id_property = self._id_property(target, obj)
        self.to_create = validate(target, obj, written_properties(target, mapping), create_missing)
        self.property_group = property_group
        self.skip = {a.column for a in mapping.associations}
        if self.id_property is None:
            self.skip.add(RECORD_ID)
        self.path = f"/crm/v3/objects/{obj.path_name}/batch/{target.operation}"
        # A create has no key HubSpot could match a resent record by: sent twice, it is created twice.
        self.idempotent = target.operation != "create"
        self.requires_match_key = target.operation != "create"
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
        """HubSpot matches emails (and unique text) case-insensitively."""
        return tuple(v.strip().lower() if isinstance(v, str) else str(v) for v in key)

    def prepare(self) -> None:
        if self.to_create:
            create(self.client, self.hubspot, self.to_create, self.property_group)
            for name, schema in self.to_create.items():
                kind = "number" if schema.get("type") in ("integer", "number") else "string"
                self.hubspot.properties[name] = Property(name, kind, "text", writable=True, unique=False)
            self.to_create = {}

    # --- sending -----------------------------------------------------------------------------------

    def send(self, batch: list[Record]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(batch)
        inputs, positions = [], []
        for position, record in enumerate(batch):
            try:
                inputs.append(self._input(record, str(position)))
            except MappingError as exc:
                outcomes[position] = Outcome.rejected(exc.reason, exc.field)
                continue
            positions.append(position)
        if inputs:
            response = self.client.post(self.path, {"inputs": inputs}, idempotent=self.idempotent)
            results, errors = self._answer(response)
            answered = self._outcomes(response, errors, [batch[p] for p in positions], positions)
            for position, outcome in zip(positions, answered, strict=True):
                outcomes[position] = outcome
            if self.associations and response.status_code in (200, 201, 207):
                self._associate(batch, outcomes, results)
        return [o if o is not None else ACCEPTED for o in outcomes]

    def _input(self, record: Record, trace_id: str) -> dict[str, Any]:
        properties = {}
        for name, value in record.data.items():
            if name in self.skip:
                continue
            prop = self.hubspot.properties.get(name)
            if prop is None:
                raise MappingError(name, f"HubSpot {self.hubspot.name} has no property {name!r}")
            properties[name] = render(value, prop)
        if self.operation == "create":
            return {"properties": properties, "associations": [], "objectWriteTraceId": trace_id}
        assert self.key_field is not None
        item: dict[str, Any] = {"id": str(record.data[self.key_field])}
        if self.operation == "archive":
            return item
        if self.id_property is not None:
            item["idProperty"] = self.id_property
        return {**item, "properties": properties, "objectWriteTraceId": trace_id}

    def _answer(self, response: requests.Response) -> Answer:
        """The results and errors of a 200/201/207 answer. A garbled one (not JSON, another shape) is a
        transient error, or for a create, which may have taken effect, an unknown outcome for its records."""
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
        status = response.status_code
        if status in (200, 201, 204):
            return [ACCEPTED] * len(records)
        if status == 207:
            return self._partial(errors, records, positions)
        # 400/409/422 for the whole batch (the client raises for refusals of the request itself)
        reason = _reason(response, self.client)
        return [Outcome.rejected(reason) if len(records) == 1 else Outcome.split(reason)] * len(records)

    def _partial(
        self, errors: list[dict[str, Any]], records: list[Record], positions: list[int]
    ) -> list[Outcome]:
        """Map each 207 error to its inputs: by objectWriteTraceId, else by the ids it names."""
        by_trace = {str(p): i for i, p in enumerate(positions)}
        by_id: dict[str, list[int]] = {}
        if self.key_field is not None:
            for i, record in enumerate(records):
                by_id.setdefault(_norm(record.data.get(self.key_field)), []).append(i)
        outcomes = [ACCEPTED] * len(records)
        unplaced = []
        for error in errors:
            context = error.get("context")
            context = context if isinstance(context, dict) else {}
            reason = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
            if error.get("category") == "OBJECT_NOT_FOUND" and self.operation == "update":
                reason += " (update never creates records; use upsert to create them)"
            hits = [by_trace[t] for t in texts(context.get("objectWriteTraceId")) if t in by_trace]
            hits += [i for value in texts(context.get("ids")) for i in by_id.get(_norm(value), [])]
            for i in hits:
                outcomes[i] = Outcome.rejected(reason)
            if not hits:
                unplaced.append(reason)
        if unplaced:
            # Unattributed errors: resending is safe except for create, where it would duplicate records.
            fallback = Outcome.rejected(f"HubSpot reported errors without naming inputs: {unplaced[0]}")
            if self.operation != "create":
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
        by_key = {}
        if self.key_field is not None:
            by_key = {_norm(r.data.get(self.key_field)): i for i, r in enumerate(batch)}
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
        """Upserts and updates look their records up to say which would be created or updated."""
        if self.operation in ("create", "archive") or self.key_field is None:
            return [self.operation] * len(batch)
        body: dict[str, Any] = {
            "inputs": [{"id": str(r.data[self.key_field])} for r in batch],
            "properties": [],
            "propertiesWithHistory": [],
        }
        if self.id_property is not None:
            body["idProperty"] = self.id_property
            body["properties"] = [self.id_property]
        response = self.client.post(f"/crm/v3/objects/{self.hubspot.path_name}/batch/read", body)
        found = set()
        for result in self.client.listing(response, "id") if response.status_code < 300 else []:
            properties = result.get("properties")
            if self.id_property is None:
                found.add(_norm(result["id"]))
            elif isinstance(properties, dict):
                found.add(_norm(properties.get(self.id_property)))
        missing = "create" if self.operation == "upsert" else "reject (no such record)"
        return ["update" if _norm(r.data[self.key_field]) in found else missing for r in batch]


def render(value: Any, prop: Property) -> str:
    """A mapped value as HubSpot wants it: strings, "" to clear, options checked."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = format(Decimal(repr(value)), "f")  # no float noise: 0.1 stays "0.1"
    else:
        text = str(value)
    if len(text) > MAX_VALUE_CHARACTERS:
        raise MappingError(
            prop.name, f"{len(text)} characters; HubSpot keeps at most {MAX_VALUE_CHARACTERS} in a property"
        )
    if prop.options and prop.type == "enumeration":
        chosen = text.split(";") if prop.field_type == "checkbox" else [text]
        if any(option not in prop.options for option in chosen):
            shown = ", ".join(sorted(prop.options)[:10])
            raise MappingError(prop.name, f"value is not one of the property's options ({shown})")
    return text


def _norm(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def _reason(response: requests.Response, client: HubSpotClient) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {client.body_excerpt(response)}"
    category = body.get("category", f"HTTP {response.status_code}")
    return f"{category}: {client.redactor.excerpt(str(body.get('message', '')), 500)}"
