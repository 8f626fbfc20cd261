"""An in-memory fake of Customer.io's Track API: Basic auth, the region probe, v2 batch and entity.

It follows the Customer.io section of `/work/shared/reference/api-contracts.md`. What could not be
confirmed is a constructor switch, each marked UNCONFIRMED:

* `validation_errors`: "per_entry" (default) applies the valid entries of a batch and answers 207 with
  `errors[{batch_index, reason, field, message}]` for the others; "batch" refuses the whole request with
  400 when any entry is invalid, applying nothing (the destination then splits the batch).
* `null_clears` (default True): a null attribute removes the attribute; False stores the null.
* The 200 body (`{}`), and that an event for an unknown id or email creates the person.
* 300 attributes per request: counted as distinct identify attribute names over the request's entries.

Emails are matched case-insensitively and ids exactly, as Customer.io documents.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.server import FakeServer, Reply, Request

SITE_ID = "site-good"
API_KEY = "key-good"  # a test fixture value, not a credential
IDENTIFIERS = frozenset({"id", "email", "cio_id"})
ACTIONS = {"person": {"identify", "delete", "event"}, "object": {"identify", "delete"}}
ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
MILLISECONDS_FROM = 100_000_000_000  # a "seconds" value this large is milliseconds (year 5138 otherwise)

ValidationMode = Literal["per_entry", "batch"]


class EntryError(Exception):
    def __init__(self, reason: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.reason, self.field, self.message = reason, field, message

    def body(self, index: int | None = None) -> dict[str, Any]:
        error = {"reason": self.reason, "field": self.field, "message": self.message}
        return error if index is None else {"batch_index": index, **error}


@dataclass
class Person:
    cio_id: str
    id: str | None = None
    email: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Event:
    person: str  # cio_id
    name: str
    id: str | None
    timestamp: int | None
    attributes: dict[str, Any]


@dataclass
class CustomObject:
    type_id: str
    object_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    relationships: list[dict[str, str]] = field(default_factory=list)  # people's identifiers


class CustomerIoFake(FakeServer):
    def __init__(
        self,
        *,
        credentials: dict[str, str] | None = None,
        data_center: str = "us",
        validation_errors: ValidationMode = "per_entry",
        null_clears: bool = True,
        max_request_bytes: int = 500 * 1024,
        max_entry_bytes: int = 32 * 1024,
        max_attributes: int = 300,
    ) -> None:
        super().__init__()
        self.credentials = credentials if credentials is not None else {SITE_ID: API_KEY}
        self.data_center = data_center
        self.validation_errors = validation_errors
        self.null_clears = null_clears
        self.max_request_bytes = max_request_bytes
        self.max_entry_bytes = max_entry_bytes
        self.max_attributes = max_attributes
        self.people: dict[str, Person] = {}  # by cio_id
        self.events: list[Event] = []
        self.objects: dict[tuple[str, str], CustomObject] = {}
        self.duplicate_events = 0  # events dropped because their id was seen before
        self._event_ids: set[str] = set()
        self._cio_ids = (f"cio_{n:06d}" for n in itertools.count(1))
        self.route("GET", r"/api/v1/accounts/region", self._region)
        self.route("POST", r"/api/v2/batch", self._batch)
        self.route("POST", r"/api/v2/entity", self._entity)

    # -- inspection -------------------------------------------------------------------------------
    def person(self, **identifier: str) -> Person | None:
        """The person with e.g. `id="u1"` or `email="a@x.com"`, if any."""
        ((kind, value),) = identifier.items()
        return self._find(kind, value)

    def events_of(self, **identifier: str) -> list[Event]:
        person = self.person(**identifier)
        return [e for e in self.events if person is not None and e.person == person.cio_id]

    def object(self, type_id: str, object_id: str) -> CustomObject | None:
        return self.objects.get((type_id, object_id))

    @property
    def batches(self) -> list[list[dict[str, Any]]]:
        """The entries of every batch request received, in order (rejected requests included)."""
        requests = self.requests_matching("POST", r"/api/v2/batch")
        return [r.json()["batch"] for r in requests if r.status != 401]

    def add_person(self, id: str | None = None, email: str | None = None, **attributes: Any) -> Person:
        person = Person(next(self._cio_ids), id, email, attributes)
        self.people[person.cio_id] = person
        return person

    # -- routes ---------------------------------------------------------------------------------------
    def _authorized(self, req: Request) -> bool:
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            site_id, _, api_key = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return False
        return site_id in self.credentials and self.credentials[site_id] == api_key

    def _region(self, req: Request) -> Reply:
        if not self._authorized(req):
            return 401, {"meta": {"error": "Unauthorized request"}}
        return 200, {"url": self.url, "data_center": self.data_center, "environment_id": 3}

    def _entity(self, req: Request) -> Reply:
        if not self._authorized(req):
            return 401, {"meta": {"error": "Unauthorized request"}}
        try:
            entry = json.loads(req.body)
            self._check(entry, len(req.body))
            self._check_attribute_count([entry])
            with self._lock:
                self._apply(entry)
        except json.JSONDecodeError:
            return 400, _error("malformed", "the body is not JSON")
        except EntryError as error:
            return 400, {"errors": [error.body()]}
        return 200, {}

    def _batch(self, req: Request) -> Reply:
        if not self._authorized(req):
            return 401, {"meta": {"error": "Unauthorized request"}}
        if len(req.body) >= self.max_request_bytes:
            return 400, _error("request_too_large", f"the request is {len(req.body)} bytes; max 500 KB")
        try:
            batch = json.loads(req.body).get("batch")
        except (json.JSONDecodeError, AttributeError):
            return 400, _error("malformed", "the body is not a JSON object")
        if not isinstance(batch, list) or not batch:
            return 400, _error("malformed", "`batch` must be a non-empty list of entries")
        try:
            self._check_attribute_count(batch)
        except EntryError as error:
            return 400, {"errors": [error.body()]}
        errors: dict[int, EntryError] = {}
        for index, entry in enumerate(batch):
            try:
                self._check(entry, len(_encode(entry)))
            except EntryError as error:
                errors[index] = error
        if errors and self.validation_errors == "batch":
            return 400, {"errors": [error.body(index) for index, error in errors.items()]}
        with self._lock:
            for index, entry in enumerate(batch):
                if index in errors:
                    continue
                try:
                    self._apply(entry)
                except EntryError as error:
                    errors[index] = error
        if errors:
            return 207, {"errors": [error.body(index) for index, error in sorted(errors.items())]}
        return 200, {}

    # -- validation -------------------------------------------------------------------------------------
    def _check(self, entry: Any, size: int) -> None:
        if not isinstance(entry, dict):
            raise EntryError("invalid_entry", None, "an entry must be an object")
        kind, action = entry.get("type"), entry.get("action")
        if kind not in ACTIONS:
            raise EntryError("invalid_type", "type", f"unknown type {kind!r}")
        if action not in ACTIONS[kind]:
            raise EntryError("invalid_action", "action", f"unsupported action {action!r} for {kind}")
        if size > self.max_entry_bytes:
            raise EntryError("entry_too_large", None, f"the entry is {size} bytes; max 32 KB")
        identifiers = entry.get("identifiers")
        if kind == "person":
            _check_person_identifiers(identifiers, "identifiers")
        elif not isinstance(identifiers, dict) or set(identifiers) != {"object_type_id", "object_id"}:
            raise EntryError("invalid_identifiers", "identifiers", "need object_type_id and object_id")
        elif not all(isinstance(v, str) and v for v in identifiers.values()):
            raise EntryError("invalid_identifiers", "identifiers", "object ids must be non-empty strings")
        attributes = entry.get("attributes", {})
        if not isinstance(attributes, dict):
            raise EntryError("invalid_attributes", "attributes", "attributes must be an object")
        if action == "identify":
            for name, value in attributes.items():
                if len(name.encode()) > 150:
                    raise EntryError("attribute_too_long", f"attributes.{name}", "attribute name > 150 bytes")
                size = len(value.encode()) if isinstance(value, str) else len(_encode(value))
                if value is not None and size > 1000:
                    raise EntryError(
                        "attribute_too_long",
                        f"attributes.{name}",
                        f"value for attribute '{name}' cannot be longer than 1000 bytes",
                    )
        if action == "event":
            _check_event(entry)
        for index, relation in enumerate(entry.get("cio_relationships") or []):
            ids = relation.get("identifiers") if isinstance(relation, dict) else None
            _check_person_identifiers(ids, f"cio_relationships.{index}.identifiers")

    def _check_attribute_count(self, batch: list[Any]) -> None:
        names = {
            name
            for entry in batch
            if isinstance(entry, dict) and entry.get("action") == "identify"
            for name in entry.get("attributes") or {}
        }
        if len(names) > self.max_attributes:
            raise EntryError(
                "too_many_attributes", "attributes", "cannot identify more than 300 attributes in one request"
            )

    # -- effects --------------------------------------------------------------------------------------
    def _find(self, kind: str, value: str) -> Person | None:
        for person in self.people.values():
            mine = getattr(person, kind)
            if kind == "email" and mine is not None and mine.lower() == value.lower():
                return person
            if kind != "email" and mine == value:
                return person
        return None

    def _person(self, identifiers: dict[str, str], create: bool = True) -> Person | None:
        ((kind, value),) = identifiers.items()
        person = self._find(kind, value)
        if person is None and kind == "cio_id":
            raise EntryError("not_found", "identifiers.cio_id", f"no person has cio_id {value!r}")
        if person is None and create:
            person = self.add_person(**{kind: value})
        return person

    def _apply(self, entry: dict[str, Any]) -> None:
        action, identifiers = entry["action"], entry["identifiers"]
        attributes = entry.get("attributes") or {}
        if entry["type"] == "object":
            key = (identifiers["object_type_id"], identifiers["object_id"])
            if action == "delete":
                self.objects.pop(key, None)
                return
            obj = self.objects.setdefault(key, CustomObject(*key))
            self._merge(obj.attributes, attributes)
            for relation in entry.get("cio_relationships") or []:
                if relation["identifiers"] not in obj.relationships:
                    obj.relationships.append(dict(relation["identifiers"]))
            return
        person = self._person(identifiers, create=action != "delete")
        if person is None:
            return
        if action == "delete":
            del self.people[person.cio_id]
        elif action == "identify":
            self._merge(person.attributes, attributes)
            for kind in ("id", "email"):  # identifying by one identifier may set the other
                if isinstance(attributes.get(kind), str):
                    setattr(person, kind, attributes[kind])
        elif entry.get("id") in self._event_ids:
            self.duplicate_events += 1
        else:
            if entry.get("id"):
                self._event_ids.add(entry["id"])
            self.events.append(
                Event(person.cio_id, entry["name"], entry.get("id"), entry.get("timestamp"), dict(attributes))
            )

    def _merge(self, stored: dict[str, Any], attributes: dict[str, Any]) -> None:
        for name, value in attributes.items():
            if value is None and self.null_clears:
                stored.pop(name, None)
            else:
                stored[name] = value


def _check_person_identifiers(identifiers: Any, where: str) -> None:
    if not isinstance(identifiers, dict) or len(identifiers) != 1 or not set(identifiers) <= IDENTIFIERS:
        raise EntryError("invalid_identifiers", where, "exactly one of id, email or cio_id is required")
    ((kind, value),) = identifiers.items()
    if not isinstance(value, str) or not value.strip():
        raise EntryError("invalid_identifiers", f"{where}.{kind}", f"{kind} must be a non-empty string")


def _check_event(entry: dict[str, Any]) -> None:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise EntryError("invalid_name", "name", "event name must not be blank")
    if len(name.encode()) > 100:
        raise EntryError("invalid_name", "name", "event name cannot be longer than 100 bytes")
    timestamp = entry.get("timestamp")
    if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
        raise EntryError("invalid_timestamp", "timestamp", "timestamp must be unix seconds (an integer)")
    if timestamp is not None and abs(timestamp) >= MILLISECONDS_FROM:
        raise EntryError("invalid_timestamp", "timestamp", "timestamp looks like milliseconds; send seconds")
    if "id" in entry and not (isinstance(entry["id"], str) and ULID.fullmatch(entry["id"])):
        raise EntryError("invalid_id", "id", "an event id must be a ULID")


def _error(reason: str, message: str) -> dict[str, Any]:
    return {"errors": [{"reason": reason, "message": message}]}


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
