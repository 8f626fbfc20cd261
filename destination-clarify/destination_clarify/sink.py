"""Clarify's bulk writes: upsert, create and update, up to 25 records per atomic request.

A bulk request is atomic: one bad record fails all of them and nothing is written. So:
- when the errors point at records (``/data/3/attributes/email``), exactly those are rejected with
  Clarify's reason and the rest are sent again at once;
- when they do not, the kernel splits the batch until the bad record stands alone.

Whether creating a record whose unique field (a person's email, a company's domain) already exists
updates it is UNCONFIRMED: Clarify may (a) upsert on create, (b) upsert only when the body says
``"match_on"``, or (c) refuse the duplicate. Upserts therefore always send ``match_on`` (covering a and
b); the first duplicate refused (c) switches the sink to looking records up and updating them by id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests

from destination_clarify.catalog import RECORD_ID, ClarifyObject, Field, check_fields
from destination_clarify.client import ApiError, ClarifyClient, plain_values
from retl_shared.errors import ConfigError, OutcomeUnknown, TransientError
from retl_shared.mapping import MappingError
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Sink, Target

log = logging.getLogger("destination_clarify")

MAX_BULK = 25  # Clarify's documented bulk maximum (maybe 100 by now; 25 is safe either way)

Send = Callable[[list[Any]], requests.Response]


class ClarifySink(Sink):
    limits = BatchLimits(max_records=MAX_BULK)

    def __init__(self, target: Target, client: ClarifyClient, obj: ClarifyObject) -> None:
        super().__init__(target)
        self.client = client
        self.clarify = obj
        self.requires_match_key = target.operation != "create"
        self.match_field = _match_field(target, obj)
        self.idempotent = self.operation != "create"  # an upsert matches, an update addresses by id
        check_fields(target, obj)
        self.create_upserts = True  # until Clarify refuses a duplicate instead of upserting it

    def normalize_key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """Emails and domains match case-insensitively, and a collection by its set of items. A key holding
        an object raises TypeError: the kernel rejects that record."""
        if self.match_field is None:
            return tuple(str(v) for v in key)
        try:
            return tuple(tuple(sorted({v.lower() for v in collection_items(value)})) for value in key)
        except ValueError as exc:
            raise TypeError(str(exc)) from None

    # --- sending -----------------------------------------------------------------------------------

    def send(self, batch: list[Record]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        attributes: dict[int, dict[str, Any]] = {}
        for position, record in enumerate(batch):
            try:
                attributes[position] = self._attributes(record)
            except MappingError as exc:
                outcomes[position] = Outcome.rejected(exc.reason, exc.field)
        if attributes:
            outcomes.update(self._write(batch, attributes))
        return [outcomes[position] for position in range(len(batch))]

    def _write(self, batch: list[Record], attributes: dict[int, dict[str, Any]]) -> dict[int, Outcome]:
        if self.operation == "update":
            ids = {p: (str(batch[p].data[RECORD_ID]), a) for p, a in attributes.items()}
            return self._atomic(ids, self._patch)[0]
        if self.operation == "upsert" and not self.create_upserts:
            return self._upsert_by_lookup(batch, attributes)
        return self._create(batch, attributes)

    def _attributes(self, record: Record) -> dict[str, Any]:
        out = {}
        for name, value in record.data.items():
            if name == RECORD_ID and self.operation == "update":
                continue  # it addresses the record
            field = self.clarify.fields.get(name)
            if field is None:
                raise MappingError(name, f"Clarify {self.clarify.name} has no writable field {name!r}")
            out[name] = render(value, field)
        return out

    def _create(self, batch: list[Record], attributes: dict[int, dict[str, Any]]) -> dict[int, Outcome]:
        outcomes, duplicates = self._atomic(attributes, self._post)
        if duplicates:
            if self.create_upserts:
                log.info(
                    "Clarify refused a duplicate %s instead of upserting it: from now on %s records are "
                    "looked up by %s and updated by id.",
                    self.clarify.name,
                    self.clarify.name,
                    self.match_field,
                )
            self.create_upserts = False
            outcomes.update(self._upsert_by_lookup(batch, {p: attributes[p] for p in duplicates}))
        return outcomes

    def _upsert_by_lookup(
        self, batch: list[Record], attributes: dict[int, dict[str, Any]]
    ) -> dict[int, Outcome]:
        """Update the records Clarify has (by id, leaving their unique field alone), create the others."""
        assert self.match_field is not None
        existing: dict[int, tuple[str, dict[str, Any]]] = {}
        new: dict[int, dict[str, Any]] = {}
        for position, attrs in attributes.items():
            values = plain_values(batch[position].data.get(self.match_field))
            record_id = self.client.find(self.clarify.name, self.match_field, values)
            if record_id is None:
                new[position] = attrs
            else:
                existing[position] = (record_id, {k: v for k, v in attrs.items() if k != self.match_field})
        outcomes = self._atomic(existing, self._patch)[0] if existing else {}
        if new:
            created, duplicates = self._atomic(new, self._post)
            outcomes.update(created)
            # Created by a concurrent batch since the lookup: the kernel's retry will find it.
            outcomes.update(
                dict.fromkeys(duplicates, Outcome.retry("created concurrently; looking it up again"))
            )
        return outcomes

    def _post(self, items: list[dict[str, Any]]) -> requests.Response:
        return self.client.bulk_create(self.clarify.name, items, self.match_field)

    def _patch(self, items: list[tuple[str, dict[str, Any]]]) -> requests.Response:
        return self.client.bulk_update(self.clarify.name, items)

    def _atomic(self, entries: dict[int, Any], send: Send) -> tuple[dict[int, Outcome], list[int]]:
        """Send ``entries`` (position → item) atomically until they are settled.

        Errors that point at records settle those records (rejected, or returned as duplicates for an
        upsert to resolve) and the rest go again; errors that point at none reject a lone record, or
        split the batch. Returns the outcomes and the duplicate positions.
        """
        outcomes: dict[int, Outcome] = {}
        duplicates: list[int] = []
        pending = list(entries)
        while pending:
            response = send([entries[p] for p in pending])
            if response.status_code < 300:
                self._check_written(response)
                outcomes.update(dict.fromkeys(pending, ACCEPTED))
                break
            errors = self.client.errors(response)
            named: dict[int, ApiError] = {}
            for error in errors:
                if error.index is not None and error.index < len(pending):
                    named.setdefault(error.index, error)
            if not named:
                if self.operation == "upsert" and all(e.duplicate for e in errors):
                    duplicates += pending  # which ones is not said: the lookup sorts them out
                elif len(pending) == 1:
                    outcomes[pending[0]] = Outcome.rejected(self._reason(errors[0]), errors[0].field)
                else:
                    outcomes.update(dict.fromkeys(pending, Outcome.split(self._reason(errors[0]))))
                break
            for index, error in named.items():
                if self.operation == "upsert" and error.duplicate:
                    duplicates.append(pending[index])
                else:
                    outcomes[pending[index]] = Outcome.rejected(self._reason(error), error.field)
            pending = [p for i, p in enumerate(pending) if i not in named]
        return outcomes, duplicates

    def _check_written(self, response: requests.Response) -> None:
        """A bulk write's answer must be Clarify's JSON:API document: a 2xx page from a proxy or portal means
        the records may not have reached Clarify (transient), or – for a create, which may have taken effect –
        that their outcome is unknown."""
        if response.status_code == 204:
            return
        try:
            self.client.json_body(response)
        except TransientError as exc:
            if self.idempotent:
                raise
            raise OutcomeUnknown(exc.message) from None

    def _reason(self, error: ApiError) -> str:
        if error.status == 404 and self.operation == "update":
            return f"{error.reason} (update never creates records; use upsert to create them)"
        return error.reason

    # --- dry run ---------------------------------------------------------------------------------

    def preview(self, batch: list[Record]) -> list[str]:
        """Upserts look their records up by the unique field, updates by id: "create" or "update"."""
        name = self.clarify.name
        if self.operation == "update":
            return [
                "update" if self.client.exists(name, str(r.data[RECORD_ID])) else "reject (no such record)"
                for r in batch
            ]
        if self.match_field is None:
            return ["create"] * len(batch)
        field = self.match_field
        return [
            "update" if self.client.find(name, field, plain_values(r.data.get(field))) else "create"
            for r in batch
        ]


def render(value: Any, field: Field) -> Any:
    """A mapped value as Clarify takes it: collections as ``{"items": [...]}``, select options checked."""
    if field.collection:
        try:
            return {"items": collection_items(value)}
        except ValueError as exc:
            raise MappingError(field.name, str(exc)) from None
    if value is not None and field.type == "select" and field.options and str(value) not in field.options:
        shown = ", ".join(field.options[:10])
        raise MappingError(field.name, f"value is not one of the field's options ({shown})")
    return value


def collection_items(value: Any) -> list[str]:
    """A record's value for a collection: one value, a list of values, or ``{"items": [...]}``. An object or
    a nested list raises ValueError, rather than becoming an empty or garbled collection."""
    if isinstance(value, dict):
        if set(value) != {"items"}:
            raise ValueError("holds an object, not a value or a list of values")
        value = value["items"]
    if any(isinstance(item, dict | list) for item in (value if isinstance(value, list) else [value])):
        raise ValueError("holds a list with an object or a list in it, not a list of values")
    return plain_values(value)


def _match_field(target: Target, obj: ClarifyObject) -> str | None:
    """The unique field an upsert matches by; refuse keys Clarify cannot address records with."""
    key, operation = target.match_key, target.operation
    if operation == "update" and key != [RECORD_ID]:
        raise ConfigError(
            f"{target.label}: update addresses records by their Clarify id: map the id column to "
            f"`{RECORD_ID}` (match_key [{RECORD_ID!r}]), or use upsert to match by a unique field"
        )
    if operation != "upsert":
        return None
    if obj.match_field is None:
        raise ConfigError(
            f"{target.label}: {obj.name} has no unique field to upsert by; use create or update"
        )
    if key != [obj.match_field]:
        raise ConfigError(
            f"{target.label}: Clarify upserts {obj.name} by {obj.match_field}, not {key}: "
            f"map the column to {obj.match_field} and leave match_key empty"
        )
    return obj.match_field
