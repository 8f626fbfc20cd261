"""An in-memory fake of Clarify's API (beta): api-key auth, schemas, records with atomic bulk writes, lookups.

It follows the Clarify section of `/work/shared/reference/api-contracts.md`. What the contract marks
UNCONFIRMED or conflicting is a switch, so the destination can be tested under every variant:

* `upsert` – what creating a record whose unique field (person `email_addresses`, company `domains`, a
  custom object's `"unique": true` field) already exists does: "create" updates it (create upserts on its
  own), "match_on" updates it only when the body's top-level `match_on` names that field and otherwise
  creates a second record, "reject" fails the request 400 "Duplicate Record".
* `pointers` – how error objects point at the culprit: "indexed" (`/data/3/attributes/email_addresses`),
  "unindexed" (`/data/attributes/email_addresses`, as in the contract's single-record example) or "none".
* `bulk_limit` – 25 records per bulk request (documented), or 100.

Bulk writes are atomic: every item is checked (unknown or read-only attributes, field types, email and
domain formats, select options, required fields on create, duplicates), and a single problem fails the
whole request with every problem listed (422 for validation, 400 for duplicates, 404 for unknown ids);
nothing is written. Rate limiting uses FakeServer's sliding window (`throttle`): 429 with Retry-After.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from typing import Any, Literal

from tests.fakes.server import FakeServer, Handler, Reply, Request

UpsertBehaviour = Literal["create", "match_on", "reject"]
PointerStyle = Literal["indexed", "unindexed", "none"]

DEFAULT_KEY = "clarify-key-good"
DEFAULT_SLUG = "acme"
COLLECTIONS = frozenset({"email_addresses", "domains", "phone_numbers"})
UNIQUE = {"person": "email_addresses", "company": "domains"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DOMAIN = re.compile(r"(?i)[a-z0-9-]+(\.[a-z0-9-]+)+")
FILTER = re.compile(r"filter\[(?P<field>[^\]]+)\](?:\[(?P<operator>[^\]]+)\])?")
PREFIX = {"person": "per", "company": "com", "deal": "deal"}

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
        pointers: PointerStyle = "indexed",
        bulk_limit: int = 25,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.api_keys = set(api_keys)
        self.slug = slug
        self.upsert = upsert
        self.pointers = pointers
        self.bulk_limit = bulk_limit
        self.schemas = standard_schemas()
        self.store: dict[str, dict[str, dict[str, Any]]] = {object_name(k): {} for k in self.schemas}
        self._ids = itertools.count(1)
        self._data = threading.RLock()
        base = r"/v1/workspaces/(?P<slug>[^/]+)"
        records = base + r"/objects/(?P<object>[^/]+)/records"
        for method, path, handler in (
            ("GET", base + "/schemas", self._list_schemas),
            ("GET", base + "/users", self._list_users),
            ("POST", records, self._create_one),
            ("POST", records + "/bulk", self._create_bulk),
            ("PATCH", records, self._update_bulk),
            ("GET", records + r"/(?P<id>[^/]+)", self._get_record),
            ("PATCH", records + r"/(?P<id>[^/]+)", self._update_one),
            ("GET", base + r"/objects/(?P<object>[^/]+)/resources", self._list_resources),
        ):
            self.route(method, path, self._api(handler))

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
            scheme, _, key = req.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "api-key":
                detail = "Use the api-key authorization scheme: `Authorization: api-key <KEY>`."
                return 401, {"errors": [_error(401, "Unauthorized", detail)]}
            if key.strip() not in self.api_keys:
                return 401, {"errors": [_error(401, "Unauthorized", "Invalid API key.")]}
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

    def _stored(self, name: str, field: str, value: Any) -> Any:
        """Collections are kept as lists of strings; everything else as sent."""
        return _items(value) if self._collection(name, field) else value

    def _insert(self, name: str, attributes: dict[str, Any]) -> str:
        record_id = f"{PREFIX.get(name, 'rec')}_{next(self._ids):06d}"
        self.store[name][record_id] = {**attributes, "_created_at": _now(), "_updated_at": _now()}
        return record_id

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
        values = _items(attributes[field])
        for record_id, stored in self.store[name].items():
            if any(_holds(stored.get(field), v) for v in values):
                return record_id
        return None

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
            if prop is None:
                errors.append(_error(422, "Validation Error", f"Unknown attribute {field!r}.", pointer))
            elif field.startswith("_"):
                errors.append(_error(422, "Validation Error", f"{field} is read-only.", pointer))
            elif value is not None and (problem := _type_problem(field, prop, value)):
                errors.append(_error(422, "Validation Error", f"{field} {problem}", pointer))
        if creating:
            for field in self._required(name):
                if _empty(attributes.get(field)):
                    pointer = self._pointer(index, f"attributes/{field}")
                    errors.append(_error(422, "Validation Error", f"{field} is required.", pointer))
        return errors

    # --- handlers ------------------------------------------------------------------------------------

    def _list_schemas(self, req: Request, name: str) -> Reply:
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
            values = {v.lower() for v in _items(attributes.get(unique))} if unique else set()
            if self.upsert == "reject" and (existing or values & claimed):
                shown = ", ".join(sorted(values))
                detail = f"A {name} with {unique} {shown!r} already exists."
                errors.append(
                    _error(400, "Duplicate Record", detail, self._pointer(index, f"attributes/{unique}"))
                )
            claimed |= values
            target = existing if upserts else None
            errors += self._check(name, item, index, creating=target is None)
            plans.append((target, attributes))
        if errors:
            status = 422 if any(e["status"] == "422" for e in errors) else 400
            raise _Fail(status, errors)
        out = []
        for target, attributes in plans:
            target = target or (self._match(name, attributes) if upserts else None)  # earlier in this request
            stored = {k: self._stored(name, k, v) for k, v in attributes.items()}
            if target is None:
                target = self._insert(name, stored)
            else:
                self._merge(name, target, stored)
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
            record = self.store[name][str(item["id"])]
            record.update({k: self._stored(name, k, v) for k, v in (item.get("attributes") or {}).items()})
            record["_updated_at"] = _now()
            out.append(self._json(name, str(item["id"])))
        return out

    def _get_record(self, req: Request, name: str) -> Reply:
        record_id = req.path_params["id"]
        if record_id not in self.store[name]:
            return 404, {"errors": [_error(404, "Not Found", f"No {name} with id {record_id!r}.")]}
        return 200, {"data": self._json(name, record_id)}

    def _list_resources(self, req: Request, name: str) -> Reply:
        """`filter[field]=v` (and `filter[field][Operator]=v`): collections hold v, text equals it."""
        filters = []
        for key, value in req.query.items():
            match = FILTER.fullmatch(key)
            if match:
                filters.append((match["field"], match["operator"], value))
        found = [
            record_id
            for record_id, record in self.store[name].items()
            if all(_holds(record.get(f), v, contains=op == "Contains") for f, op, v in filters)
        ]
        limit = min(int(req.query.get("page[limit]", 25)), 1000)
        offset = int(req.query.get("page[offset]", 0))
        page = [self._json(name, record_id) for record_id in found[offset : offset + limit]]
        meta = {"total_records": len(found), "offset": offset, "limit": limit}
        return 200, {"data": page, "meta": meta}


def _items(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value.get("items")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _holds(stored: Any, value: str, contains: bool = False) -> bool:
    """A stored value (or collection) equals – or for "Contains" on text, contains – the value."""
    if isinstance(stored, list):
        return any(item.lower() == value.lower() for item in stored)
    if stored is None:
        return False
    text = str(stored).lower()
    return value.lower() in text if contains else text == value.lower()


def _empty(value: Any) -> bool:
    return value in (None, "") or (isinstance(value, dict) and not value.get("items"))


def _type_problem(field: str, prop: Mapping[str, Any], value: Any) -> str | None:
    """Why a value does not fit the field's type, or None."""
    kind = prop.get("type")
    if kind == "collection" or field in COLLECTIONS:
        items = value.get("items") if isinstance(value, dict) else None
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            return 'must be {"items": [strings]}.'
        pattern = EMAIL if field == "email_addresses" else DOMAIN if field == "domains" else None
        bad = [v for v in items if pattern is not None and not pattern.fullmatch(v)]
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
