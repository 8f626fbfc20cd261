"""Clarify's bulk writes: upsert, create and update, up to 25 records per atomic request.

A bulk request is atomic: one bad record fails all of them and nothing is written. So:
- when the errors point at records (``/data/3/attributes/email``), exactly those are rejected with
  Clarify's reason and the rest are sent again at once;
- when they do not, the kernel splits the batch until the bad record stands alone.

Whether creating a record whose unique field (a person's email, a company's domain) already exists
updates it is UNCONFIRMED: Clarify may (a) upsert on create, (b) upsert only when the body says
``"match_on"``, or (c) refuse the duplicate. Upserts therefore always send ``match_on`` (covering a and
b); the first duplicate refused (c) switches the sink to looking records up and updating them by id.

A person stream may map a column to ``company_domain``: per batch, in the order Clarify's import guide
prescribes, the companies with those domains are found (or created, with ``create_missing_companies``),
then the people are written, then each person is related to its company.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from destination_clarify.catalog import (
    COMPANY_DOMAIN,
    DOMAINS,
    RECORD_ID,
    ClarifyObject,
    Field,
    check_fields,
    comparable,
    lookup_operator,
    normal_domain,
)
from destination_clarify.client import ApiError, ClarifyClient, plain_values
from destination_clarify.config import ClarifyStreamMapping
from retl_shared.config import OnDelete, StreamMapping
from retl_shared.errors import ConfigError, OutcomeUnknown, TransientError
from retl_shared.mapping import MappingError
from retl_shared.sink import ACCEPTED, BatchLimits, ObjectSpec, Outcome, Record, Result, Sink, Target

log = logging.getLogger("destination_clarify")

MAX_BULK = 25  # Clarify's documented bulk maximum (maybe 100 by now; 25 is safe either way)

Send = Callable[[list[Any]], requests.Response]
UNRELATED = "written, not related to a company: "


@dataclass
class Settled:
    """What writing some records came to, by their position in the batch."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)  # refused as duplicates, for an upsert to resolve
    ids: dict[int, str] = field(default_factory=dict)  # Clarify's record ids, where known

    def update(self, other: Settled) -> None:
        self.outcomes.update(other.outcomes)
        self.ids.update(other.ids)


class ClarifySink(Sink):
    limits = BatchLimits(max_records=MAX_BULK)

    def __init__(
        self, target: Target, client: ClarifyClient, obj: ClarifyObject, companies: Companies | None = None
    ) -> None:
        super().__init__(target)
        self.client = client
        self.clarify = obj
        self.requires_match_key = target.operation != "create"
        self.match_field = _match_field(target, obj)
        self.idempotent = self.operation != "create"  # an upsert matches, an update addresses by id
        # A row that left a diff-mode model deletes its record, found by id or by the unique field.
        self.removes = frozenset({OnDelete.delete}) if self.operation != "create" else frozenset()
        check_fields(target, obj)
        self.create_upserts = True  # until Clarify refuses a duplicate instead of upserting it
        self.companies = companies  # person streams: relates people to companies by domain
        mapping = target.mapping
        self.create_companies = isinstance(mapping, ClarifyStreamMapping) and mapping.create_missing_companies

    def normalize_key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """Emails match case-insensitively, domains normalised, and a collection by its set of items. A key
        holding an object raises TypeError: the kernel rejects that record."""
        if self.match_field is None:
            return tuple(str(v) for v in key)
        same = comparable(self.match_field)
        try:
            return tuple(tuple(sorted({same(v) for v in collection_items(value)})) for value in key)
        except ValueError as exc:
            raise TypeError(str(exc)) from None

    # --- sending -----------------------------------------------------------------------------------

    def send(self, batch: list[Record]) -> list[Outcome]:
        """Write the batch; records marked deleted (on_delete: delete) delete their record instead."""
        if not any(record.deleted for record in batch):
            return self._send(batch)
        outcomes: list[Outcome] = [ACCEPTED] * len(batch)
        kept = [position for position, record in enumerate(batch) if not record.deleted]
        if kept:
            for position, outcome in zip(kept, self._send([batch[p] for p in kept]), strict=True):
                outcomes[position] = outcome
        for position, record in enumerate(batch):
            if record.deleted:
                outcomes[position] = self._delete(record)
        return outcomes

    def _delete(self, record: Record) -> Outcome:
        """Delete the record the row named (Clarify has no bulk delete); one already gone is fine."""
        record_id = str(record.data[RECORD_ID]) if self.operation == "update" else self.find(record.data)
        if record_id is None:
            return ACCEPTED
        response = self.client.delete(self.clarify.name, record_id)
        if response.status_code < 300 or response.status_code == 404:
            return ACCEPTED
        [error, *_] = self.client.errors(response)
        return Outcome.rejected(self._reason(error), error.field)

    def _send(self, batch: list[Record]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        attributes: dict[int, dict[str, Any]] = {}
        domains: dict[int, list[str]] = {}
        for position, record in enumerate(batch):
            try:
                attrs = self._attributes(record)
                if self.companies is not None and record.data.get(COMPANY_DOMAIN) is not None:
                    domains[position] = company_domains(record.data[COMPANY_DOMAIN])
            except MappingError as exc:
                outcomes[position] = Outcome.rejected(exc.reason, exc.field)
            else:
                attributes[position] = attrs
        # Clarify's import order: companies, then people, then the relationships between them.
        wanted = {domain for listed in domains.values() for domain in listed}
        companies: dict[str, str] = {}
        problems: dict[str, str] = {}
        if self.companies is not None and wanted:
            companies, problems = self.companies.resolve(wanted, self.create_companies)
        settled = self._write(batch, attributes) if attributes else Settled()
        outcomes.update(settled.outcomes)
        for position, listed in domains.items():
            if outcomes.get(position) is ACCEPTED and listed:
                outcomes[position] = self._relate(
                    batch[position], settled.ids.get(position), listed, companies, problems
                )
        return [outcomes[position] for position in range(len(batch))]

    def _write(self, batch: list[Record], attributes: dict[int, dict[str, Any]]) -> Settled:
        if self.operation == "update":
            ids = {p: (str(batch[p].data[RECORD_ID]), a) for p, a in attributes.items()}
            settled = self._atomic(ids, self._patch)
            settled.ids = {p: record_id for p, (record_id, _) in ids.items()}
            return settled
        if self.operation == "upsert" and not self.create_upserts:
            return self._upsert_by_lookup(batch, attributes)
        return self._create(batch, attributes)

    def _attributes(self, record: Record) -> dict[str, Any]:
        out = {}
        for name, value in record.data.items():
            if name == RECORD_ID and self.operation == "update":
                continue  # it addresses the record
            if name == COMPANY_DOMAIN and self.companies is not None:
                continue  # not a field: the company the person is related to
            field = self.clarify.fields.get(name)
            if field is None:
                raise MappingError(name, f"Clarify {self.clarify.name} has no writable field {name!r}")
            out[name] = render(value, field)
        return out

    def _create(self, batch: list[Record], attributes: dict[int, dict[str, Any]]) -> Settled:
        settled = self.create(attributes)
        duplicates = settled.duplicates
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
            settled.duplicates = []
            settled.update(self._upsert_by_lookup(batch, {p: attributes[p] for p in duplicates}))
        return settled

    def _upsert_by_lookup(self, batch: list[Record], attributes: dict[int, dict[str, Any]]) -> Settled:
        """Update the records Clarify has (by id, leaving their unique field alone), create the others."""
        assert self.match_field is not None
        existing: dict[int, tuple[str, dict[str, Any]]] = {}
        new: dict[int, dict[str, Any]] = {}
        for position, attrs in attributes.items():
            record_id = self.find(batch[position].data)
            if record_id is None:
                new[position] = attrs
            else:
                existing[position] = (record_id, {k: v for k, v in attrs.items() if k != self.match_field})
        settled = self._atomic(existing, self._patch) if existing else Settled()
        settled.ids.update({p: record_id for p, (record_id, _) in existing.items()})
        if new:
            created = self.create(new)
            settled.update(created)
            # Created by a concurrent batch since the lookup: the kernel's retry will find it.
            settled.outcomes.update(
                dict.fromkeys(created.duplicates, Outcome.retry("created concurrently; looking it up again"))
            )
        return settled

    def find(self, data: dict[str, Any]) -> str | None:
        """The id of the record Clarify holds with (one of) the unique field's values in ``data``."""
        assert self.match_field is not None
        f = self.clarify.fields.get(self.match_field) or Field(self.match_field, "text")
        same = comparable(self.match_field)
        values = [same(v) for v in plain_values(data.get(self.match_field))]
        return self.client.find(self.clarify.name, self.match_field, values, lookup_operator(f), same)

    def create(self, attributes: dict[int, dict[str, Any]]) -> Settled:
        """Create records (position → attributes), atomically until settled: duplicates are returned, not
        looked up."""
        return self._atomic(attributes, self._post)

    def _post(self, items: list[dict[str, Any]]) -> requests.Response:
        return self.client.bulk_create(self.clarify.name, items, self.match_field)

    def _patch(self, items: list[tuple[str, dict[str, Any]]]) -> requests.Response:
        return self.client.bulk_update(self.clarify.name, items)

    def _atomic(self, entries: dict[int, Any], send: Send) -> Settled:
        """Send ``entries`` (position → item) atomically until they are settled.

        Errors that point at records settle those records (rejected, or returned as duplicates for an
        upsert to resolve) and the rest go again; errors that point at none reject a lone record, or
        split the batch. The record ids of the answer are kept when it lists one per record sent.
        """
        settled = Settled()
        outcomes, duplicates = settled.outcomes, settled.duplicates
        pending = list(entries)
        while pending:
            response = send([entries[p] for p in pending])
            if response.status_code < 300:
                written = self._check_written(response)
                outcomes.update(dict.fromkeys(pending, ACCEPTED))
                data = written.get("data") if isinstance(written, dict) else None
                if isinstance(data, list) and len(data) == len(pending):
                    settled.ids.update(
                        {p: str(item["id"]) for p, item in zip(pending, data, strict=True) if _has_id(item)}
                    )
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
        return settled

    def _check_written(self, response: requests.Response) -> Any:
        """A bulk write's answer must be Clarify's JSON:API document: a 2xx page from a proxy or portal means
        the records may not have reached Clarify (transient), or – for a create, which may have taken effect –
        that their outcome is unknown."""
        if response.status_code == 204:
            return None
        try:
            return self.client.json_body(response)
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
        return ["update" if self.find(r.data) else "create" for r in batch]

    # --- relating people to companies ----------------------------------------------------------------

    def _relate(
        self,
        record: Record,
        record_id: str | None,
        domains: list[str],
        companies: dict[str, str],
        problems: dict[str, str],
    ) -> Outcome:
        """Relate a written person to the companies of its domains, keeping the companies it already has
        (Clarify's PATCH replaces the whole set); what could not be related is noted, the person stays
        written."""
        missing = [domain for domain in domains if domain not in companies]
        why = [
            problems.get(domain, "no company has its domain (create_missing_companies is off)")
            for domain in missing
        ]
        related = [companies[domain] for domain in domains if domain in companies]
        if related:
            record_id = record_id or (self.find(record.data) if self.match_field else None)
            if record_id is None:
                why.append("its Clarify id is unknown (the answer named none and no lookup found it)")
            else:
                why += self._link(record_id, related)
        return Outcome.noted(UNRELATED + "; ".join(dict.fromkeys(why))) if why else ACCEPTED

    def _link(self, person_id: str, company_ids: list[str]) -> list[str]:
        """Add the companies to the person's ``companies`` relationship; the problems, if any."""
        name = self.clarify.name
        response = self.client.relationship(name, person_id, "companies")
        if response.status_code >= 300:
            status, reasons = response.status_code, self.client.reasons(response)
            return [f"Clarify answered HTTP {status} to reading its companies: {reasons}"]
        data = self.client.json_body(response).get("data")
        if not isinstance(data, list) or not all(_has_id(item) for item in data):
            raise self.client.garbled(response, "`data` that is not a list of related records")
        current = [str(item["id"]) for item in data]
        added = [company for company in dict.fromkeys(company_ids) if company not in current]
        if not added:
            return []
        related = [(company, "company") for company in current + added]
        response = self.client.set_relationship(name, person_id, "companies", related)
        if response.status_code >= 300:
            status, reasons = response.status_code, self.client.reasons(response)
            return [f"Clarify refused the relationship (HTTP {status}): {reasons}"]
        return []


class Companies:
    """Clarify company ids by domain, shared by every person stream of a run.

    Lookups and creations are serialised, so two batches naming one new domain create one company. A
    missing company is created (when asked) named after its domain; one that turns out to exist after all
    (created meanwhile) is found again, never renamed.
    """

    def __init__(self, client: ClarifyClient, company: ClarifyObject) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        spec = ObjectSpec(company.name, {"upsert": "append_dedup"}, [[DOMAINS]])
        target = Target(spec, "upsert", StreamMapping(stream="(the companies of people)"), [DOMAINS])
        self._writer = ClarifySink(target, client, company)

    def resolve(self, domains: set[str], create: bool) -> tuple[dict[str, str], dict[str, str]]:
        """The ids of the companies with these (normalised) domains, and why the others have none."""
        with self._lock:
            for domain in sorted(domains - set(self._ids)):
                found = self._writer.find({DOMAINS: domain})
                if found is not None:
                    self._ids[domain] = found
            missing = sorted(domains - set(self._ids))
            problems = self._create(missing) if create and missing else {}
            return {d: self._ids[d] for d in domains if d in self._ids}, problems

    def _create(self, domains: list[str]) -> dict[str, str]:
        """Create companies for the domains (25 per bulk request); the problems of those not created."""
        problems: dict[str, str] = {}
        for start in range(0, len(domains), MAX_BULK):
            chunk = domains[start : start + MAX_BULK]
            settled = self._writer.create(
                {i: {"name": d, DOMAINS: {"items": [d]}} for i, d in enumerate(chunk)}
            )
            unsettled = []
            for position, domain in enumerate(chunk):
                outcome = settled.outcomes.get(position)
                if outcome is not None and outcome.result is Result.rejected:
                    problems[domain] = f"creating its company was refused: {outcome.reason}"
                elif outcome is not None and outcome.result is Result.split_batch and len(chunk) > 1:
                    unsettled.append(domain)  # refused with others, not said which: one by one
                else:
                    record_id = settled.ids.get(position) or self._writer.find({DOMAINS: domain})
                    if record_id is None:
                        problems[domain] = "its company was not found after creating it"
                        continue
                    self._ids[domain] = record_id
                    log.info(
                        "Created the Clarify company %r for people whose company_domain names it.", domain
                    )
            for domain in unsettled:
                problems.update(self._create([domain]))
        return problems


def render(value: Any, field: Field) -> Any:
    """A mapped value as Clarify takes it: collections as ``{"items": [...]}`` (domains normalised, as they
    are matched), select options checked."""
    if field.collection:
        try:
            items = collection_items(value)
        except ValueError as exc:
            raise MappingError(field.name, str(exc)) from None
        if field.name == DOMAINS:
            items = list(dict.fromkeys(d for d in map(normal_domain, items) if d))
        return {"items": items}
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


def company_domains(value: Any) -> list[str]:
    """The normalised domains of a ``company_domain`` value (one value, or a list of them)."""
    try:
        items = collection_items(value)
    except ValueError as exc:
        raise MappingError(COMPANY_DOMAIN, str(exc)) from None
    return list(dict.fromkeys(d for d in map(normal_domain, items) if d))


def _has_id(item: Any) -> bool:
    return isinstance(item, dict) and item.get("id") not in (None, "")


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
