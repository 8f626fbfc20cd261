"""An in-memory fake of Clarify's API (beta): api-key auth, schemas, records with atomic bulk writes, lookups,
relationships and deletes.

It follows the Clarify section of `/work/shared/reference/api-contracts.md` and Clarify's API docs
(https://clarify-api-docs.vercel.app, and the clarify-api skill in github.com/clarifyhq/skills; facts
and sources in `docs/vendor-facts-customerio-clarify.md`). What the sources leave UNCONFIRMED or
contradict is a switch, so the destination can be tested under every variant:

* `upsert` – what creating a record whose unique field (person `email_addresses`, company `domains`, a
  custom object's `"unique": true` field) already exists does: "create" updates it (create upserts on its
  own, as the records reference says), "match_on" updates it only when the body's top-level `match_on`
  names that field and otherwise creates a second record, "reject" fails the request (the import guide).
* `duplicate_status` – the status of that refusal: 400 (the docs' error list; default), 422 (the docs'
  error example: "Validation Error", "Duplicate record found for email: …") or 409. The detail always
  starts "Duplicate record found for"; no error `code` is documented, so none is sent.
* `pointers` – how error objects point at the culprit: "indexed" (`/data/3/attributes/email_addresses`),
  "unindexed" (`/data/attributes/email_addresses`, as in the contract's single-record example) or "none".
* `bulk_limit` – 25 records per bulk request (documented), or 100.
* `filter_form` – the lookup forms `GET /objects/{object}/resources` accepts: "operator"
  (`filter[field][Operator]=v`, operators spelled as documented, e.g. `Contains`, `Is on or after`),
  "bare" (`filter[field]=v`) or "both" (default; both are documented). A form not accepted, an unknown
  field or an operator the field's type does not document answers 400. "Contains" is a substring match
  (on every item of a collection), so `a@x.com` also finds `aa@x.com`; the bare form on a collection
  matches a whole item (case-insensitively) – a reading of ours, the docs list only Contains for them.
* `schemas_layout` – `GET /schemas` as "dict" (`{"data": {"core/person": {"properties": …}}}`, the
  reference's example; default) or "list" (`{"data": [{"id": "core/person", "type": "schema",
  "attributes": {"properties": …}}]}`, the skill's "array of schema JSONs … in the `attributes` field").
* `domain_matching` – "exact" (default: case-insensitive equality) or "normalised" (scheme, `www.`,
  path and case are dropped before storing and comparing domains); Clarify documents neither.
* `record_delete` – `DELETE /objects/{object}/records/{id}` (204) exists (default: the records reference
  is titled "Create, read, update, and delete records" and API keys "can … delete data") or not (404).

Two switches model what stands in front of the API or misbehaves, not documented Clarify behaviour:
`max_body_bytes` answers 413 to a larger request body (a gateway's limit; Clarify documents none), and
`echo_credentials` makes a refused key's error detail quote the Authorization header after that many
characters of filler (a careless server: an excerpt cut before masking would end inside the key).

Relationships (person `companies`; deal `companies` and `people`) are set with
`PATCH …/records/{id}/relationships/{relationship}` (replaces the set), removed with `DELETE` on the same
path (204) and read with `GET`; a person's or deal's `company_id` attribute links a company at create
or update time, as the import guide shows. Lists page with `page[limit]` (default 25, at most 1000) and
`page[offset]`, answering `meta{total_records,total_pages,offset,limit}` and `links{next,prev}`.

Bulk writes are atomic: every item is checked (unknown or read-only attributes, field types, email and
domain formats, select options, required fields on create, duplicates), and a single problem fails the
whole request with every problem listed (422 for validation, `duplicate_status` for duplicates, 404 for
unknown ids); nothing is written. Rate limiting uses FakeServer's sliding window (`throttle()` or
`requests_per_second`): 429 with Retry-After.

Run in the foreground: `python -m tests.fakes.clarify [--port 8104] [--seed FILE]` (`--help` for the rest).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from operator import eq, ge, gt, le, lt
from typing import Any, Literal
from urllib.parse import urlencode

from tests.fakes import cli
from tests.fakes.server import FakeServer, Handler, Reply, Request

UpsertBehaviour = Literal["create", "match_on", "reject"]
PointerStyle = Literal["indexed", "unindexed", "none"]
DuplicateStatus = Literal[400, 409, 422]
FilterForm = Literal["operator", "bare", "both"]
SchemasLayout = Literal["dict", "list"]
DomainMatching = Literal["exact", "normalised"]

DEFAULT_KEY = "clarify-key-good"
DEFAULT_SLUG = "acme"
DEFAULT_PORT = 8104  # `python -m tests.fakes.clarify` and examples/clarify.json
SEED_SHAPE = (
    '{"records": {"person": [{"name": "Ada Lovelace", "email_addresses": ["ada@example.com"]}]}}: records '
    "per object (person, company, deal), as attributes; ids are given out in order"
)
COLLECTIONS = frozenset({"email_addresses", "domains", "phone_numbers"})
UNIQUE = {"person": "email_addresses", "company": "domains"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DOMAIN = re.compile(r"(?i)[a-z0-9-]+(\.[a-z0-9-]+)+")
FILTER = re.compile(r"filter\[(?P<field>[^\]]+)\](?:\[(?P<operator>[^\]]+)\])?")
PREFIX = {"person": "per", "company": "com", "deal": "deal"}
DUPLICATE_TITLES = {400: "Duplicate Record", 409: "Conflict", 422: "Validation Error"}
RELATIONSHIPS = {"person": {"companies": "company"}, "deal": {"companies": "company", "people": "person"}}
FOREIGN_KEYS = {"company_id": "companies"}  # attributes that link a record instead of being stored
PAGE_SIZE, MAX_PAGE_SIZE = 25, 1000
OPERATORS = {  # the operators Clarify documents per field type
    "text": frozenset({"Is", "Is not", "Contains", "Does not contain", "Starts with", "Ends with"}),
    "number": frozenset({"Is", "Greater than", "Less than", "Greater than or equal", "Less than or equal"}),
    "date": frozenset({"Is", "Is after", "Is before", "Is on or after", "Is on or before"}),
    "select": frozenset({"Is", "Is not", "One of", "Not one of"}),
    "boolean": frozenset({"Is", "Is not"}),
    "collection": frozenset({"Contains", "Does not contain"}),
    "id": frozenset({"Is", "Is not"}),
}
KINDS = {"currency": "number", "date-time": "date"}  # field types sharing an operator family

STAGES = ["Lead", "Qualified", "Customer"]
SYSTEM = {"_created_at": {"type": "date-time"}, "_updated_at": {"type": "date-time"}}


def standard_schemas() -> dict[str, dict[str, Any]]:
    """The built-in objects, plus the fields a warehouse model typically writes."""
    return {
        "core/person": {
            "properties": {
                "name": {"type": "text"},
                "email_addresses": {"type": "collection"},
                "phone_numbers": {"type": "collection"},
                "title": {"type": "text"},
                "company_name": {"type": "text"},
                "stage": {"type": "select", "enum": STAGES},
                "lead_score": {"type": "number"},
                "lifetime_value": {"type": "currency"},
                "is_vip": {"type": "boolean"},
                "last_order_date": {"type": "date"},
                **SYSTEM,
            },
            "required": [],
        },
        "core/company": {
            "properties": {
                "name": {"type": "text"},
                "domains": {"type": "collection"},
                "employee_count": {"type": "number"},
                "tier": {"type": "select", "enum": ["bronze", "silver", "gold"]},
                **SYSTEM,
            },
            "required": ["name"],
        },
        "core/deal": {
            "properties": {
                "name": {"type": "text"},
                "amount": {"type": "currency"},
                "stage": {"type": "select", "enum": ["Open", "Won", "Lost"]},
                "close_date": {"type": "date"},
                **SYSTEM,
            },
            "required": ["name"],
        },
    }


def object_name(schema_key: str) -> str:
    kind, _, slug = schema_key.partition("/")
    return f"c_{slug}" if kind == "entities" else slug


class _Fail(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors


def _error(status: int, title: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": str(status), "title": title, "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    return error


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClarifyFake(FakeServer):
    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (DEFAULT_KEY,),
        slug: str = DEFAULT_SLUG,
        upsert: UpsertBehaviour = "create",
        duplicate_status: DuplicateStatus = 400,
        pointers: PointerStyle = "indexed",
        bulk_limit: int = 25,
        filter_form: FilterForm = "both",
        schemas_layout: SchemasLayout = "dict",
        domain_matching: DomainMatching = "exact",
        record_delete: bool = True,
        requests_per_second: int | None = None,
        max_body_bytes: int | None = None,
        echo_credentials: int | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.max_body_bytes = max_body_bytes
        self.echo_credentials = echo_credentials
        self.api_keys = set(api_keys)
        self.slug = slug
        self.upsert = upsert
        self.duplicate_status = duplicate_status
        self.pointers = pointers
        self.bulk_limit = bulk_limit
        self.filter_form = filter_form
        self.schemas_layout = schemas_layout
        self.domain_matching = domain_matching
        self.schemas = standard_schemas()
        self.store: dict[str, dict[str, dict[str, Any]]] = {object_name(k): {} for k in self.schemas}
        # (object, lower-cased unique value) → record id: matching without scanning every record
        self._unique_index: dict[tuple[str, str], str] = {}
        self._indexed: dict[tuple[str, str], list[tuple[str, str]]] = {}  # what each record put there
        self.links: dict[tuple[str, str, str], list[str]] = {}  # (object, id, relationship) -> ids
        self._ids = itertools.count(1)
        self._data = threading.RLock()
        base = r"/v1/workspaces/(?P<slug>[^/]+)"
        records = base + r"/objects/(?P<object>[^/]+)/records"
        record = records + r"/(?P<id>[^/]+)"
        relationship = record + r"/relationships/(?P<relationship>[^/]+)"
        routes = [
            ("GET", base + "/schemas", self._list_schemas),
            ("GET", base + "/users", self._list_users),
            ("POST", records, self._create_one),
            ("POST", records + "/bulk", self._create_bulk),
            ("PATCH", records, self._update_bulk),
            ("GET", record, self._get_record),
            ("PATCH", record, self._update_one),
            ("GET", relationship, self._get_relationship),
            ("PATCH", relationship, self._set_relationship),
            ("DELETE", relationship, self._remove_relationship),
            ("GET", base + r"/objects/(?P<object>[^/]+)/resources", self._list_resources),
        ]
        if record_delete:
            routes.append(("DELETE", record, self._delete_record))
        for method, path, handler in routes:
            self.route(method, path, self._api(handler))
        if requests_per_second is not None:
            self.throttle(requests_per_second)

    # --- test helpers ------------------------------------------------------------------------------

    def add_custom_object(
        self, slug: str, properties: Mapping[str, dict[str, Any]], required: Iterable[str] = ()
    ) -> str:
        """A custom object `c_<slug>`; mark its upsert field with `"unique": True`."""
        with self._data:
            self.schemas[f"entities/{slug}"] = {
                "properties": {**properties, **SYSTEM},
                "required": list(required),
            }
            self.store[f"c_{slug}"] = {}
        return f"c_{slug}"

    def add_record(self, object_name: str, attributes: Mapping[str, Any]) -> str:
        """Store a record directly (collections may be given as a string or a list); return its id."""
        with self._data:
            return self._insert(
                object_name, {k: self._stored(object_name, k, v) for k, v in attributes.items()}
            )

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        """Start with records (`SEED_SHAPE`)."""
        for object_name, records in seed.get("records", {}).items():
            if object_name not in self.store:
                raise ValueError(f"no object {object_name!r}; the objects: {', '.join(self.store)}")
            for attributes in records:
                self.add_record(object_name, attributes)

    def contents(self) -> dict[str, Any]:
        """Every object's records, in the seed's shape (with their ids)."""
        with self._data:
            names = list(self.store)
        return {"records": {name: self.records(name) for name in names}}

    def records(self, object_name: str) -> list[dict[str, Any]]:
        """Every record as plain attributes (collections as lists) plus its `id`."""
        with self._data:
            return [{"id": rid, **deepcopy(attrs)} for rid, attrs in self.store[object_name].items()]

    def record(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        return next((r for r in self.records(object_name) if r["id"] == record_id), None)

    def find_all(self, object_name: str, field: str, value: Any) -> list[dict[str, Any]]:
        return [r for r in self.records(object_name) if _holds(r.get(field), str(value))]

    def find(self, object_name: str, field: str, value: Any) -> dict[str, Any] | None:
        found = self.find_all(object_name, field, value)
        return found[0] if found else None

    def related(self, object_name: str, record_id: str, relationship: str) -> list[str]:
        """The ids a record is linked to, e.g. `related("person", "per_000001", "companies")`."""
        with self._data:
            return list(self.links.get((object_name, record_id, relationship), []))

    def bulk_sizes(self, object_name: str, method: str = "POST") -> list[int]:
        """Records per bulk request received (answered or not), in arrival order."""
        path = rf"/v1/workspaces/[^/]+/objects/{object_name}/records" + ("/bulk" if method == "POST" else "")
        return [len(r.json().get("data") or []) for r in self.requests_matching(method, path)]

    def call_count(self, method: str, path_suffix: str) -> int:
        """Requests whose path ends with `path_suffix` (a regex), e.g. `/objects/person/resources`."""
        return len(self.requests_matching(method, rf"/v1/workspaces/[^/]+{path_suffix}"))

    def throttle(self, max_requests: int | None, per_seconds: float = 1.0) -> None:
        """Answer 429 with Retry-After beyond `max_requests` per sliding window (None: off)."""
        body = {"errors": [_error(429, "Too Many Requests", "Rate limit exceeded; retry after the delay.")]}
        self.rate_limit(max_requests, per_seconds, body=body)

    # --- plumbing ----------------------------------------------------------------------------------

    def _api(self, handler: Callable[[Request, str], Reply]) -> Handler:
        """Authenticate (api-key scheme only), resolve the workspace and object, turn _Fail into errors."""

        def handle(req: Request) -> Reply:
            if self.max_body_bytes is not None and len(req.body) > self.max_body_bytes:
                detail = (
                    f"The request body is {len(req.body)} bytes; at most {self.max_body_bytes} are accepted."
                )
                return 413, {"errors": [_error(413, "Payload Too Large", detail)]}
            sent = req.headers.get("Authorization", "")
            scheme, _, key = sent.partition(" ")
            if scheme.lower() != "api-key":
                detail = "Use the api-key authorization scheme: `Authorization: api-key <KEY>`."
                return 401, {"errors": [_error(401, "Unauthorized", self._echo(detail, sent))]}
            if key.strip() not in self.api_keys:
                return 401, {"errors": [_error(401, "Unauthorized", self._echo("Invalid API key.", sent))]}
            if req.path_params["slug"] != self.slug:
                return 404, {"errors": [_error(404, "Not Found", "Workspace not found.")]}
            name = req.path_params.get("object", "")
            if name and name not in self.store:
                return 404, {"errors": [_error(404, "Not Found", f"Unknown object {name!r}.")]}
            try:
                with self._data:
                    return handler(req, name)
            except _Fail as fail:
                return fail.status, {"errors": fail.errors}

        return handle

    def _echo(self, detail: str, sent: str) -> str:
        """The detail, after what was sent and `echo_credentials` characters of filler before that."""
        return detail if self.echo_credentials is None else f"{'.' * self.echo_credentials}{sent} {detail}"

    def _pointer(self, index: int | None, member: str) -> str | None:
        if self.pointers == "none":
            return None
        if self.pointers == "unindexed" or index is None:
            return f"/data/{member}"
        return f"/data/{index}/{member}"

    def _properties(self, name: str) -> dict[str, dict[str, Any]]:
        return next(s["properties"] for k, s in self.schemas.items() if object_name(k) == name)

    def _required(self, name: str) -> list[str]:
        return next(s.get("required", []) for k, s in self.schemas.items() if object_name(k) == name)

    def _unique(self, name: str) -> str | None:
        props = self._properties(name)
        return UNIQUE.get(name) or next((f for f, p in props.items() if p.get("unique")), None)

    def _collection(self, name: str, field: str) -> bool:
        return field in COLLECTIONS or self._properties(name).get(field, {}).get("type") == "collection"

    def _normalises(self, field: str) -> bool:
        return field == "domains" and self.domain_matching == "normalised"

    def _values(self, field: str, value: Any) -> list[str]:
        """A collection value as its list of strings (domains normalised when the switch says so)."""
        items = _items(value)
        return [_normal_domain(v) for v in items] if self._normalises(field) else items

    def _stored(self, name: str, field: str, value: Any) -> Any:
        """Collections are kept as lists of strings; everything else as sent."""
        return self._values(field, value) if self._collection(name, field) else value

    def _insert(self, name: str, attributes: dict[str, Any]) -> str:
        record_id = f"{PREFIX.get(name, 'rec')}_{next(self._ids):06d}"
        self.store[name][record_id] = {**attributes, "_created_at": _now(), "_updated_at": _now()}
        self._index(name, record_id)
        return record_id

    def _index(self, name: str, record_id: str) -> None:
        """(Re)index a record's unique values after it was stored or changed."""
        self._unindex(name, record_id)
        field = self._unique(name)
        record = self.store[name].get(record_id)
        if field is None or record is None or record.get(field) is None:
            return
        keys = [(name, value.lower()) for value in self._values(field, record[field])]
        self._indexed[(name, record_id)] = keys
        for key in keys:
            self._unique_index.setdefault(key, record_id)

    def _unindex(self, name: str, record_id: str) -> None:
        for key in self._indexed.pop((name, record_id), []):
            if self._unique_index.get(key) == record_id:
                del self._unique_index[key]

    def _json(self, name: str, record_id: str) -> dict[str, Any]:
        attributes = {
            k: {"items": list(v)} if self._collection(name, k) else v
            for k, v in self.store[name][record_id].items()
        }
        return {"id": record_id, "type": name, "attributes": attributes}

    def _match(self, name: str, attributes: Mapping[str, Any]) -> str | None:
        """The id of the record sharing a unique value with these attributes."""
        field = self._unique(name)
        if field is None or attributes.get(field) is None:
            return None
        for value in self._values(field, attributes[field]):
            record_id = self._unique_index.get((name, value.lower()))
            if record_id is not None:
                return record_id
        return None

    def _duplicate(self, name: str, field: str, values: Iterable[str], index: int | None) -> dict[str, Any]:
        """A refused duplicate, worded as Clarify's docs show ("Duplicate record found for email: …")."""
        label = {"email_addresses": "email", "domains": "domain"}.get(field, field)
        detail = f"Duplicate record found for {label}: {', '.join(sorted(values))}"
        title = DUPLICATE_TITLES[self.duplicate_status]
        return _error(self.duplicate_status, title, detail, self._pointer(index, f"attributes/{field}"))

    def _split(self, name: str, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The attributes to store, and the relationships their foreign keys (`company_id`) link."""
        relationships = RELATIONSHIPS.get(name, {})
        links = {
            FOREIGN_KEYS[k]: str(v)
            for k, v in attributes.items()
            if k in FOREIGN_KEYS and FOREIGN_KEYS[k] in relationships
        }
        plain = {k: v for k, v in attributes.items() if FOREIGN_KEYS.get(k) not in links}
        return plain, links

    def _link(self, name: str, record_id: str, links: Mapping[str, str]) -> None:
        for relationship, related_id in links.items():
            ids = self.links.setdefault((name, record_id, relationship), [])
            if related_id not in ids:
                ids.append(related_id)

    # --- validation ----------------------------------------------------------------------------------

    def _check(
        self, name: str, item: Any, index: int | None, creating: bool, updating: bool = False
    ) -> list[dict[str, Any]]:
        """Every problem of one JSON:API resource object, as error objects."""
        if not isinstance(item, dict) or not isinstance(item.get("attributes", {}), dict):
            return [
                _error(
                    422, "Validation Error", "Each item needs an attributes object.", self._pointer(index, "")
                )
            ]
        errors = []
        if item.get("type") not in (None, name, "record"):
            errors.append(
                _error(422, "Validation Error", f"type must be {name!r}.", self._pointer(index, "type"))
            )
        attributes = item.get("attributes") or {}
        if not updating and ("id" in item or "id" in attributes):
            errors.append(
                _error(
                    422,
                    "Validation Error",
                    "Do not send an id: Clarify assigns it.",
                    self._pointer(index, "id"),
                )
            )
        properties = self._properties(name)
        for field, value in attributes.items():
            if field == "id":
                continue
            pointer = self._pointer(index, f"attributes/{field}")
            prop = properties.get(field)
            target = RELATIONSHIPS.get(name, {}).get(FOREIGN_KEYS.get(field, ""))
            if target is not None:
                if not isinstance(value, str) or value not in self.store[target]:
                    errors.append(
                        _error(422, "Validation Error", f"{field} {value!r} is no {target}.", pointer)
                    )
            elif prop is None:
                errors.append(_error(422, "Validation Error", f"Unknown attribute {field!r}.", pointer))
            elif field.startswith("_"):
                errors.append(_error(422, "Validation Error", f"{field} is read-only.", pointer))
            elif value is not None and (
                problem := _type_problem(field, prop, value, self._normalises(field))
            ):
                errors.append(_error(422, "Validation Error", f"{field} {problem}", pointer))
        if creating:
            for field in self._required(name):
                if _empty(attributes.get(field)):
                    pointer = self._pointer(index, f"attributes/{field}")
                    errors.append(_error(422, "Validation Error", f"{field} is required.", pointer))
        return errors

    # --- handlers ------------------------------------------------------------------------------------

    def _list_schemas(self, req: Request, name: str) -> Reply:
        if self.schemas_layout == "list":
            items = [
                {"id": key, "type": "schema", "attributes": schema} for key, schema in self.schemas.items()
            ]
            return 200, {"data": deepcopy(items)}
        return 200, {"data": deepcopy(self.schemas)}

    def _list_users(self, req: Request, name: str) -> Reply:
        user = {"id": "usr_000001", "type": "user", "attributes": {"email": "admin@acme.test"}}
        return 200, {"data": [user], "meta": {"total_records": 1}}

    def _create_bulk(self, req: Request, name: str) -> Reply:
        body = req.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            raise _Fail(400, [_error(400, "Bad Request", "data must be a non-empty array.")])
        if len(data) > self.bulk_limit:
            detail = f"At most {self.bulk_limit} records per bulk request; got {len(data)}."
            raise _Fail(400, [_error(400, "Bad Request", detail)])
        created = self._create(name, data, body.get("match_on"), indexed=True)
        return 201, {"data": created}

    def _create_one(self, req: Request, name: str) -> Reply:
        body = req.json()
        data = body.get("data") if isinstance(body, dict) else None
        return 201, {"data": self._create(name, [data], body.get("match_on"), indexed=False)[0]}

    def _create(self, name: str, data: list[Any], match_on: Any, indexed: bool) -> list[dict[str, Any]]:
        """Check every item, then write all of them or none (upserting per the `upsert` switch)."""
        unique = self._unique(name)
        upserts = self.upsert == "create" or (self.upsert == "match_on" and match_on == unique)
        errors: list[dict[str, Any]] = []
        plans: list[tuple[str | None, dict[str, Any]]] = []
        claimed: set[str] = set()
        for i, item in enumerate(data):
            index = i if indexed else None
            attributes = (item or {}).get("attributes") if isinstance(item, dict) else None
            attributes = attributes if isinstance(attributes, dict) else {}
            existing = self._match(name, attributes) if unique else None
            values = {v.lower() for v in self._values(unique, attributes.get(unique))} if unique else set()
            if self.upsert == "reject" and unique and (existing or values & claimed):
                errors.append(self._duplicate(name, unique, values, index))
            claimed |= values
            target = existing if upserts else None
            errors += self._check(name, item, index, creating=target is None)
            plans.append((target, attributes))
        if errors:
            status = 422 if any(e["status"] == "422" for e in errors) else self.duplicate_status
            raise _Fail(status, errors)
        out = []
        for target, attributes in plans:
            target = target or (self._match(name, attributes) if upserts else None)  # earlier in this request
            plain, links = self._split(name, attributes)
            stored = {k: self._stored(name, k, v) for k, v in plain.items()}
            if target is None:
                target = self._insert(name, stored)
            else:
                self._merge(name, target, stored)
            self._link(name, target, links)
            out.append(self._json(name, target))
        return out

    def _merge(self, name: str, record_id: str, stored: dict[str, Any]) -> None:
        """An upsert adds new collection items to the record's own; other values replace."""
        record = self.store[name][record_id]
        for field, value in stored.items():
            if isinstance(value, list) and isinstance(record.get(field), list):
                have = {v.lower() for v in record[field]}
                value = record[field] + [v for v in value if v.lower() not in have]
            record[field] = value
        record["_updated_at"] = _now()
        self._index(name, record_id)

    def _update_bulk(self, req: Request, name: str) -> Reply:
        body = req.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            raise _Fail(400, [_error(400, "Bad Request", "data must be a non-empty array.")])
        if len(data) > self.bulk_limit:
            detail = f"At most {self.bulk_limit} records per bulk request; got {len(data)}."
            raise _Fail(400, [_error(400, "Bad Request", detail)])
        return 200, {"data": self._update(name, data, indexed=True)}

    def _update_one(self, req: Request, name: str) -> Reply:
        body = req.json()
        data = dict(body.get("data") or {}) if isinstance(body, dict) else {}
        data["id"] = req.path_params["id"]
        return 200, {"data": self._update(name, [data], indexed=False)[0]}

    def _update(self, name: str, data: list[Any], indexed: bool) -> list[dict[str, Any]]:
        """Replace the given attributes of existing records (collections too): all or nothing."""
        errors: list[dict[str, Any]] = []
        for i, item in enumerate(data):
            index = i if indexed else None
            record_id = str(item.get("id")) if isinstance(item, dict) else ""
            if record_id not in self.store[name]:
                detail = f"No {name} with id {record_id!r}."
                errors.append(_error(404, "Not Found", detail, self._pointer(index, "id")))
            errors += self._check(name, item, index, creating=False, updating=True)
        if errors:
            status = 422 if any(e["status"] == "422" for e in errors) else 404
            raise _Fail(status, errors)
        out = []
        for item in data:
            record_id = str(item["id"])
            plain, links = self._split(name, item.get("attributes") or {})
            record = self.store[name][record_id]
            record.update({k: self._stored(name, k, v) for k, v in plain.items()})
            record["_updated_at"] = _now()
            self._index(name, record_id)
            self._link(name, record_id, links)
            out.append(self._json(name, record_id))
        return out

    def _existing(self, req: Request, name: str) -> str:
        """The id in the path, which must name a record of the object."""
        record_id = req.path_params["id"]
        if record_id not in self.store[name]:
            raise _Fail(404, [_error(404, "Not Found", f"No {name} with id {record_id!r}.")])
        return record_id

    def _get_record(self, req: Request, name: str) -> Reply:
        return 200, {"data": self._json(name, self._existing(req, name))}

    def _delete_record(self, req: Request, name: str) -> Reply:
        """Delete one record and every link from or to it (there is no bulk delete)."""
        record_id = self._existing(req, name)
        del self.store[name][record_id]
        self._unindex(name, record_id)
        for key in [key for key in self.links if key[:2] == (name, record_id)]:
            del self.links[key]
        for (source, _, relationship), ids in self.links.items():
            if RELATIONSHIPS[source][relationship] == name and record_id in ids:
                ids.remove(record_id)
        return 204, None

    # --- relationships -------------------------------------------------------------------------------

    def _relationship(self, req: Request, name: str) -> tuple[tuple[str, str, str], str]:
        """The links key of the path's record and relationship, and the object it links to."""
        record_id = self._existing(req, name)
        relationship = req.path_params["relationship"]
        target = RELATIONSHIPS.get(name, {}).get(relationship)
        if target is None:
            detail = f"{name} has no relationship {relationship!r}."
            raise _Fail(404, [_error(404, "Not Found", detail)])
        return (name, record_id, relationship), target

    def _related_ids(self, req: Request, target: str) -> list[str]:
        """The `{"data": [{"id", "type"}]}` of a relationship request, every id naming a `target`."""
        body = req.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise _Fail(400, [_error(400, "Bad Request", "data must be an array of {id, type} objects.")])
        errors, ids = [], []
        for index, item in enumerate(data):
            if not isinstance(item, dict) or item.get("type") != target:
                detail = f"type must be {target!r}."
                errors.append(_error(422, "Validation Error", detail, self._pointer(index, "type")))
            elif str(item.get("id")) not in self.store[target]:
                detail = f"No {target} with id {item.get('id')!r}."
                errors.append(_error(404, "Not Found", detail, self._pointer(index, "id")))
            else:
                ids.append(str(item["id"]))
        if errors:
            raise _Fail(422 if any(e["status"] == "422" for e in errors) else 404, errors)
        return ids

    def _get_relationship(self, req: Request, name: str) -> Reply:
        key, target = self._relationship(req, name)
        return 200, {"data": [{"id": i, "type": target} for i in self.links.get(key, [])]}

    def _set_relationship(self, req: Request, name: str) -> Reply:
        """PATCH replaces the whole set of related records."""
        key, target = self._relationship(req, name)
        self.links[key] = list(dict.fromkeys(self._related_ids(req, target)))
        return 200, {"data": [{"id": i, "type": target} for i in self.links[key]]}

    def _remove_relationship(self, req: Request, name: str) -> Reply:
        """DELETE removes only the records named, leaving the others."""
        key, target = self._relationship(req, name)
        gone = set(self._related_ids(req, target))
        self.links[key] = [i for i in self.links.get(key, []) if i not in gone]
        return 204, None

    # --- lookups -------------------------------------------------------------------------------------

    def _list_resources(self, req: Request, name: str) -> Reply:
        """Filtered, paginated records: see the module docstring for the filter forms and operators."""
        filters = self._filters(req, name)
        found = [
            record_id
            for record_id, record in self.store[name].items()
            if all(self._satisfies(record_id, record, f) for f in filters)
        ]
        limit, offset = _page(req)
        page = [self._json(name, record_id) for record_id in found[offset : offset + limit]]
        meta = {
            "total_records": len(found),
            "total_pages": math.ceil(len(found) / limit),
            "offset": offset,
            "limit": limit,
        }
        links = {}
        if offset + limit < len(found):
            links["next"] = self._page_link(req, limit, offset + limit)
        if offset > 0:
            links["prev"] = self._page_link(req, limit, max(0, offset - limit))
        return 200, {"data": page, "meta": meta, "links": links}

    def _page_link(self, req: Request, limit: int, offset: int) -> str:
        kept = [(k, v) for k, values in req.query_all.items() if not k.startswith("page[") for v in values]
        query = urlencode([*kept, ("page[limit]", str(limit)), ("page[offset]", str(offset))])
        return f"{self.url}{req.path}?{query}"

    def _filters(self, req: Request, name: str) -> list[_Filter]:
        """The request's `filter[…]` parameters, checked against the `filter_form` switch and the schema."""
        filters = []
        for key, value in req.query.items():
            match = FILTER.fullmatch(key)
            if not match:
                continue
            field, operator = match["field"], match["operator"]
            form = "bare" if operator is None else "operator"
            if self.filter_form not in (form, "both"):
                wanted = "filter[field][Operator]=value" if form == "bare" else "filter[field]=value"
                raise _Fail(400, [_error(400, "Bad Request", f"Unsupported filter {key!r}: use {wanted}.")])
            kind = self._kind(name, field)
            if kind is None:
                raise _Fail(
                    400, [_error(400, "Bad Request", f"Cannot filter {name} by unknown field {field!r}.")]
                )
            if operator is not None and operator not in OPERATORS[kind]:
                allowed = ", ".join(sorted(OPERATORS[kind]))
                detail = f"Operator {operator!r} does not apply to {field} (a {kind} field): use {allowed}."
                raise _Fail(400, [_error(400, "Bad Request", detail)])
            try:
                wanted_value = self._filter_value(kind, field, operator, value)
            except ValueError:
                detail = f"{value!r} is no {kind} value for {key}."
                raise _Fail(400, [_error(400, "Bad Request", detail)]) from None
            filters.append(_Filter(field, operator, kind, wanted_value))
        return filters

    def _kind(self, name: str, field: str) -> str | None:
        """Which operator family a field takes (None: no such field)."""
        if field == "id":
            return "id"
        prop = self._properties(name).get(field)
        if prop is None:
            return None
        if self._collection(name, field):
            return "collection"
        kind = KINDS.get(prop.get("type", "text"), prop.get("type", "text"))
        return kind if kind in OPERATORS else "text"

    def _filter_value(self, kind: str, field: str, operator: str | None, value: str) -> Any:
        """The value a filter compares with, parsed for the field's kind (ValueError if it does not parse)."""
        if kind == "collection":
            return (self._values(field, value) or [""])[0].lower()
        if kind == "select":
            return value.split(",") if operator in ("One of", "Not one of") else [value]
        return PARSERS.get(kind, str.lower)(value)

    def _satisfies(self, record_id: str, record: Mapping[str, Any], f: _Filter) -> bool:
        stored = record_id if f.field == "id" else record.get(f.field)
        negated = f.operator in NEGATIONS
        if stored is None or stored == []:
            return negated
        if f.kind == "collection":
            items = [item.lower() for item in stored]
            if f.operator is None:  # the bare form: a whole item
                return f.value in items
            return any(f.value in item for item in items) != negated
        if f.kind == "select":
            return (stored in f.value) != negated
        have = PARSERS.get(f.kind, str.lower)(stored if f.kind in ("number", "boolean") else str(stored))
        positive = NEGATIONS.get(f.operator or "Is", f.operator or "Is")
        return COMPARISONS[positive](have, f.value) != negated


@dataclass(frozen=True)
class _Filter:
    field: str
    operator: str | None  # None: the bare form `filter[field]=v`
    kind: str  # a key of OPERATORS
    value: Any  # parsed by `_filter_value`


def _normal_domain(value: str) -> str:
    """`https://www.Acme.com/about` -> `acme.com` (the `domain_matching="normalised"` reading)."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.strip().lower())
    return host.split("/", 1)[0].rstrip(".").removeprefix("www.")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _instant(value: str) -> dt.datetime:
    """A date or date-time as an aware datetime (a date is its midnight UTC)."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() not in ("true", "false"):
        raise ValueError(value)
    return value.lower() == "true"


PARSERS: dict[str, Callable[[Any], Any]] = {"number": _number, "date": _instant, "boolean": _boolean}
NEGATIONS = {"Is not": "Is", "Does not contain": "Contains", "Not one of": "One of"}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Is": eq,
    "Contains": lambda have, want: want in have,
    "Starts with": lambda have, want: have.startswith(want),
    "Ends with": lambda have, want: have.endswith(want),
    "Greater than": gt,
    "Less than": lt,
    "Greater than or equal": ge,
    "Less than or equal": le,
    "Is after": gt,
    "Is before": lt,
    "Is on or after": ge,
    "Is on or before": le,
}


def _page(req: Request) -> tuple[int, int]:
    """`page[limit]` (default 25, at most 1000) and `page[offset]` (default 0); 400 if not counts."""
    try:
        limit = int(req.query.get("page[limit]", PAGE_SIZE))
        offset = int(req.query.get("page[offset]", 0))
    except ValueError:
        limit = offset = -1
    if limit < 1 or offset < 0:
        raise _Fail(400, [_error(400, "Bad Request", "page[limit] and page[offset] must be counts.")])
    return min(limit, MAX_PAGE_SIZE), offset


def _items(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value.get("items")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _holds(stored: Any, value: str) -> bool:
    """A stored value (or one item of a stored collection) equals the value, case-insensitively."""
    if isinstance(stored, list):
        return any(item.lower() == value.lower() for item in stored)
    return stored is not None and str(stored).lower() == value.lower()


def _empty(value: Any) -> bool:
    return value in (None, "") or (isinstance(value, dict) and not value.get("items"))


def _type_problem(field: str, prop: Mapping[str, Any], value: Any, normalise: bool = False) -> str | None:
    """Why a value does not fit the field's type, or None (`normalise`: check domains normalised)."""
    kind = prop.get("type")
    if kind == "collection" or field in COLLECTIONS:
        items = value.get("items") if isinstance(value, dict) else None
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            return 'must be {"items": [strings]}.'
        pattern = EMAIL if field == "email_addresses" else DOMAIN if field == "domains" else None
        checked = [_normal_domain(v) for v in items] if normalise else items
        bad = [v for v in checked if pattern is not None and not pattern.fullmatch(v)]
        kind_name = "email address" if field == "email_addresses" else "domain"
        return f"has an invalid {kind_name}: {bad[0]!r}." if bad else None
    if kind in ("text", "select") and not isinstance(value, str):
        return "must be a string."
    if kind == "select" and value not in prop.get("enum", []):
        return f"must be one of {', '.join(prop.get('enum', []))}."
    if kind in ("number", "currency") and (isinstance(value, bool) or not isinstance(value, int | float)):
        return "must be a number."
    if kind == "boolean" and not isinstance(value, bool):
        return "must be a boolean."
    if kind == "date" and not _parses(dt.date.fromisoformat, value, length=10):
        return "must be a date (YYYY-MM-DD)."
    if kind == "date-time" and not _parses(dt.datetime.fromisoformat, value):
        return "must be an ISO 8601 date-time."
    return None


def _parses(parse: Callable[[str], Any], value: Any, length: int | None = None) -> bool:
    if not isinstance(value, str) or (length is not None and len(value) != length):
        return False
    try:
        parse(value)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground; the line printed names the base URL, the workspace and the key to use."""
    parser = cli.parser(
        "clarify", DEFAULT_PORT, "Clarify's API (schemas, records, bulk writes), in memory.", SEED_SHAPE
    )
    parser.add_argument("--api-key", default=DEFAULT_KEY, help="API key to accept")
    parser.add_argument("--workspace", default=DEFAULT_SLUG, help="workspace slug")
    args = parser.parse_args(argv)
    fake = ClarifyFake(api_keys=[args.api_key], slug=args.workspace, port=args.port)
    return cli.serve(
        fake, parser, args, "Clarify fake", f"workspace {args.workspace}, API key {args.api_key}"
    )


if __name__ == "__main__":
    sys.exit(main())
