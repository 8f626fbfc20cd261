"""An in-memory fake of Customer.io's Track API: Basic auth, the region probe, v2 batch and entity.

It follows the Customer.io section of `/work/shared/reference/api-contracts.md` and Customer.io's Track
API OpenAPI description (https://docs.customer.io/integrations/api/track/; facts and sources in
`docs/vendor-facts-customerio-clarify.md`). Confirmed there and modelled as such:

* `GET /api/v1/accounts/region` answers `{url, region, environment_id}` (the OpenAPI names `region`).
* An identify `timestamp` (unix seconds) can "control the order of attribute updates when multiple
  requests are sent in rapid succession": the fake keeps, per attribute, the value of the newest
  update and ignores an older one that arrives later. An identify without a timestamp always applies
  and counts as made on arrival.
* For objects and relationship attributes, `null` or `""` removes the attribute.
* `delete` of a person removes them (and their relationships); `delete` of an object removes it and so
  its relationships with people. Deleting what does not exist is accepted and does nothing.
* 200 answers `{}` ("an empty object"); 207 lists `errors[{batch_index, reason, field, message}]`; 400
  refuses a malformed request.

What could not be confirmed (UNCONFIRMED) is a constructor switch, or a choice of ours:

* `region_field`: which member names the region: "region" (the OpenAPI; default), "data_center" (one
  client library's mock, github.com/mrz1836/go-customerio) or "both".
* `validation_errors`: "per_entry" (default) applies the valid entries of a batch and reports the others;
  "batch" refuses the whole request with 400 when any entry is invalid, applying nothing.
* `partial_status`: the status of an answer reporting failed entries: 207 (the OpenAPI; default) or 200
  with the same `errors` body (Segment's Customer.io destination parses errors out of any 2xx).
* `person_null`: "remove" (default) treats a person's `null` or `""` attribute as the documented object
  rule does; "store" keeps both as sent.
* `event_creates_person`: True (default) creates the person an event names; False accepts the event
  and drops it (counted in `dropped_events`), as `_update: true` identifies do for unknown people.
* The 429 body: none is documented.
* 300 attributes per request: counted as distinct identify attribute names over the request's entries.

Emails are matched case-insensitively and ids exactly, as Customer.io documents. `stats` holds what
each batch or entity request did; `throttle()` or `requests_per_second` enforce an exact rate.

Run in the foreground: `python -m tests.fakes.customerio [--port 8103] [--seed FILE]` (`--help` for the
rest).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tests.fakes import cli
from tests.fakes.server import FakeServer, Reply, Request

SITE_ID = "site-good"
API_KEY = "key-good"  # a test fixture value, not a credential
DEFAULT_PORT = 8103  # `python -m tests.fakes.customerio` and examples/customerio.json
SEED_SHAPE = (
    '{"people": [{"id": "1001", "email": "ada@example.com", "attributes": {"plan": "pro"}}]}: people the '
    "workspace holds (id, email or both)"
)
IDENTIFIERS = frozenset({"id", "email", "cio_id"})
ACTIONS = {"person": {"identify", "delete", "event"}, "object": {"identify", "delete"}}
ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
MILLISECONDS_FROM = 100_000_000_000  # a "seconds" value this large is milliseconds (year 5138 otherwise)
REMOVES = (None, "")  # attribute values that remove the attribute from an object or a relationship

ValidationMode = Literal["per_entry", "batch"]
RegionField = Literal["region", "data_center", "both"]
PersonNull = Literal["remove", "store"]


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
    stamps: dict[str, float] = field(default_factory=dict)  # attribute -> time of its newest update

    def named_by(self, identifiers: dict[str, str]) -> bool:
        ((kind, value),) = identifiers.items()
        mine = getattr(self, kind, None)
        if kind == "email":
            return mine is not None and mine.lower() == value.lower()
        return mine == value


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
    relationship_attributes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def relationship(self, **identifier: str) -> dict[str, Any] | None:
        """The attributes of the relationship with e.g. `id="u1"`, if the object has one."""
        if identifier not in self.relationships:
            return None
        ((kind, value),) = identifier.items()
        return self.relationship_attributes.get((kind, value), {})


@dataclass
class RequestStats:
    """What one batch or entity request did (authorized requests only), for per-request assertions."""

    path: str
    status: int
    entries: int
    size: int  # bytes of the request body
    failed: dict[int, str] = field(default_factory=dict)  # entry index -> reason
    stale_attributes: int = 0  # attribute updates ignored: an update with a newer timestamp came first
    duplicate_events: int = 0  # events dropped because their id was seen before
    dropped_events: int = 0  # events for unknown people, with event_creates_person=False


class CustomerIoFake(FakeServer):
    def __init__(
        self,
        *,
        credentials: dict[str, str] | None = None,
        data_center: str = "us",
        region_field: RegionField = "region",
        validation_errors: ValidationMode = "per_entry",
        partial_status: Literal[207, 200] = 207,
        person_null: PersonNull = "remove",
        event_creates_person: bool = True,
        max_request_bytes: int = 500 * 1024,
        max_entry_bytes: int = 32 * 1024,
        max_attributes: int = 300,
        requests_per_second: int | None = None,
        port: int = 0,
    ) -> None:
        """`data_center` is the account's region ("us" or "eu"), answered by the region probe."""
        super().__init__(port)
        self.credentials = credentials if credentials is not None else {SITE_ID: API_KEY}
        self.data_center = data_center
        self.region_field = region_field
        self.validation_errors = validation_errors
        self.partial_status = partial_status
        self.person_null = person_null
        self.event_creates_person = event_creates_person
        self.max_request_bytes = max_request_bytes
        self.max_entry_bytes = max_entry_bytes
        self.max_attributes = max_attributes
        self.people: dict[str, Person] = {}  # by cio_id
        self._index: dict[tuple[str, str], str] = {}  # (identifier kind, value as compared) -> cio_id
        self.events: list[Event] = []
        self.objects: dict[tuple[str, str], CustomObject] = {}
        self.stats: list[RequestStats] = []
        self._event_ids: set[str] = set()
        self._cio_ids = (f"cio_{n:06d}" for n in itertools.count(1))
        self.route("GET", r"/api/v1/accounts/region", self._region)
        self.route("POST", r"/api/v2/batch", self._batch)
        self.route("POST", r"/api/v2/entity", self._entity)
        if requests_per_second is not None:
            self.throttle(requests_per_second)

    # -- inspection -------------------------------------------------------------------------------
    def person(self, **identifier: str) -> Person | None:
        """The person with e.g. `id="u1"` or `email="a@x.com"`, if any (the first one, should two share it).
        Found through an index: a scan of every person per entry would make the fake, not the client, the
        bottleneck of a benchmark writing tens of thousands of people."""
        ((kind, value),) = identifier.items()
        cio_id = self._index.get(_indexed(kind, value))
        return self.people.get(cio_id) if cio_id is not None else None

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

    @property
    def duplicate_events(self) -> int:
        return sum(s.duplicate_events for s in self.stats)

    @property
    def dropped_events(self) -> int:
        return sum(s.dropped_events for s in self.stats)

    def add_person(self, id: str | None = None, email: str | None = None, **attributes: Any) -> Person:
        person = Person(next(self._cio_ids), id, email, attributes)
        self.people[person.cio_id] = person
        for kind in ("cio_id", "id", "email"):
            self._set_identifier(person, kind, getattr(person, kind))
        return person

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        """Start with people (`SEED_SHAPE`)."""
        with self._lock:
            for person in seed.get("people", []):
                self.add_person(person.get("id"), person.get("email"), **person.get("attributes", {}))

    def contents(self) -> dict[str, Any]:
        """People (with their cio_id), events and objects, the people in the seed's shape."""
        with self._lock:
            people = [
                {"cio_id": p.cio_id, "id": p.id, "email": p.email, "attributes": dict(p.attributes)}
                for p in self.people.values()
            ]
            events = [asdict(event) for event in self.events]
            objects = [
                {"type_id": o.type_id, "object_id": o.object_id, "attributes": dict(o.attributes)}
                for o in self.objects.values()
            ]
        return {"people": people, "events": events, "objects": objects}

    def _set_identifier(self, person: Person, kind: str, value: str | None) -> None:
        """Give a person an identifier, keeping the index in step."""
        self._unindex(person, kind)
        setattr(person, kind, value)
        if value:
            self._index.setdefault(_indexed(kind, value), person.cio_id)

    def _unindex(self, person: Person, kind: str) -> None:
        value = getattr(person, kind)
        if value and self._index.get(_indexed(kind, value)) == person.cio_id:
            del self._index[_indexed(kind, value)]

    # -- switches -----------------------------------------------------------------------------------
    def throttle(self, max_requests: int | None, per_seconds: float = 1.0) -> None:
        """Answer 429 with Retry-After beyond `max_requests` per sliding window (None: off).
        Customer.io documents no 429 body; this one has the shape of its other errors (UNCONFIRMED)."""
        body = {"errors": [{"reason": "rate_limited", "message": "too many requests"}]}
        self.rate_limit(max_requests, per_seconds, body=body)

    def refuse_with_echo(self, status: int, at: int = 262) -> None:
        """Answer every request with ``status`` and an error whose message echoes the request's
        Authorization header (base64 of ``site_id:api_key``) from character ``at`` on, then the decoded
        pair: a credential placed where messages cut their excerpts of an answer."""

        def echo(req: Request) -> Reply:
            authorization = req.headers.get("Authorization", "")
            try:
                pair = base64.b64decode(authorization.partition(" ")[2]).decode()
            except ValueError:
                pair = ""
            message = f"{'.' * at}{authorization} refused (credentials {pair})"
            return status, {"errors": [{"reason": "refused", "message": message}]}

        self.route("*", r".*", echo)

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
        names = ["region", "data_center"] if self.region_field == "both" else [self.region_field]
        return 200, {"url": self.url, **dict.fromkeys(names, self.data_center), "environment_id": 3}

    def _entity(self, req: Request) -> Reply:
        if not self._authorized(req):
            return 401, {"meta": {"error": "Unauthorized request"}}
        stats = self._record(req, entries=1)
        try:
            entry = json.loads(req.body)
            self._check(entry, len(req.body))
            self._check_attribute_count([entry])
            with self._lock:
                self._apply(entry, stats)
        except json.JSONDecodeError:
            return self._answer(stats, 400, _error("malformed", "the body is not JSON"))
        except EntryError as error:
            stats.failed[0] = error.reason
            return self._answer(stats, 400, {"errors": [error.body()]})
        return self._answer(stats, 200, {})

    def _batch(self, req: Request) -> Reply:
        if not self._authorized(req):
            return 401, {"meta": {"error": "Unauthorized request"}}
        stats = self._record(req, entries=0)
        if len(req.body) >= self.max_request_bytes:
            message = f"the request is {len(req.body)} bytes; max 500 KB"
            return self._answer(stats, 400, _error("request_too_large", message))
        try:
            batch = json.loads(req.body).get("batch")
        except (json.JSONDecodeError, AttributeError):
            return self._answer(stats, 400, _error("malformed", "the body is not a JSON object"))
        if not isinstance(batch, list) or not batch:
            return self._answer(
                stats, 400, _error("malformed", "`batch` must be a non-empty list of entries")
            )
        stats.entries = len(batch)
        try:
            self._check_attribute_count(batch)
        except EntryError as error:
            return self._answer(stats, 400, {"errors": [error.body()]})
        errors: dict[int, EntryError] = {}
        for index, entry in enumerate(batch):
            try:
                self._check(entry, len(_encode(entry)))
            except EntryError as error:
                errors[index] = error
        if errors and self.validation_errors == "batch":
            stats.failed = {index: error.reason for index, error in errors.items()}
            return self._answer(
                stats, 400, {"errors": [error.body(index) for index, error in errors.items()]}
            )
        with self._lock:
            for index, entry in enumerate(batch):
                if index in errors:
                    continue
                try:
                    self._apply(entry, stats)
                except EntryError as error:
                    errors[index] = error
        if errors:
            stats.failed = {index: error.reason for index, error in sorted(errors.items())}
            body = {"errors": [error.body(index) for index, error in sorted(errors.items())]}
            return self._answer(stats, self.partial_status, body)
        return self._answer(stats, 200, {})

    def _record(self, req: Request, entries: int) -> RequestStats:
        stats = RequestStats(req.path, 0, entries, len(req.body))
        with self._lock:
            self.stats.append(stats)
        return stats

    @staticmethod
    def _answer(stats: RequestStats, status: int, body: dict[str, Any]) -> Reply:
        stats.status = status
        return status, body

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
            _check_attribute_sizes(attributes, "attributes")
            _check_timestamp(entry)
        if action == "event":
            _check_event(entry)
        for index, relation in enumerate(entry.get("cio_relationships") or []):
            where = f"cio_relationships.{index}"
            ids = relation.get("identifiers") if isinstance(relation, dict) else None
            _check_person_identifiers(ids, f"{where}.identifiers")
            related = relation.get("relationship_attributes", {})
            if not isinstance(related, dict):
                message = "relationship_attributes must be an object"
                raise EntryError("invalid_attributes", f"{where}.relationship_attributes", message)
            _check_attribute_sizes(related, f"{where}.relationship_attributes")

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
    def _person(self, identifiers: dict[str, str], create: bool = True) -> Person | None:
        ((kind, value),) = identifiers.items()
        person = self.person(**identifiers)
        if person is None and kind == "cio_id":
            raise EntryError("not_found", "identifiers.cio_id", f"no person has cio_id {value!r}")
        if person is None and create:
            person = self.add_person(**{kind: value})
        return person

    def _apply(self, entry: dict[str, Any], stats: RequestStats) -> None:
        action, identifiers = entry["action"], entry["identifiers"]
        attributes = entry.get("attributes") or {}
        if entry["type"] == "object":
            self._apply_object(entry)
            return
        creates = action == "identify" or (action == "event" and self.event_creates_person)
        person = self._person(identifiers, create=creates)
        if person is None:
            stats.dropped_events += action == "event"
            return
        if action == "delete":
            del self.people[person.cio_id]
            for kind in ("cio_id", "id", "email"):
                self._unindex(person, kind)
            for obj in self.objects.values():
                for ids in [ids for ids in obj.relationships if person.named_by(ids)]:
                    obj.relationships.remove(ids)
                    obj.relationship_attributes.pop(_key(ids), None)
        elif action == "identify":
            stats.stale_attributes += self._update_person(person, attributes, entry.get("timestamp"))
        elif entry.get("id") in self._event_ids:
            stats.duplicate_events += 1
        else:
            if entry.get("id"):
                self._event_ids.add(entry["id"])
            self.events.append(
                Event(person.cio_id, entry["name"], entry.get("id"), entry.get("timestamp"), dict(attributes))
            )

    def _apply_object(self, entry: dict[str, Any]) -> None:
        identifiers = entry["identifiers"]
        key = (identifiers["object_type_id"], identifiers["object_id"])
        if entry["action"] == "delete":
            self.objects.pop(key, None)  # its relationships with people go with it
            return
        obj = self.objects.setdefault(key, CustomObject(*key))
        _merge(obj.attributes, entry.get("attributes") or {}, removes=True)
        for relation in entry.get("cio_relationships") or []:
            ids = dict(relation["identifiers"])
            if ids not in obj.relationships:
                obj.relationships.append(ids)
            related = obj.relationship_attributes.setdefault(_key(ids), {})
            _merge(related, relation.get("relationship_attributes") or {}, removes=True)

    def _update_person(self, person: Person, attributes: dict[str, Any], timestamp: int | None) -> int:
        """Apply an identify attribute by attribute, skipping those a newer update already set.
        Returns how many were skipped."""
        when = float(timestamp) if timestamp is not None else time.time()
        fresh = {
            name: value
            for name, value in attributes.items()
            if timestamp is None or person.stamps.get(name, when) <= when
        }
        for name in fresh:
            person.stamps[name] = max(person.stamps.get(name, when), when)
        _merge(person.attributes, fresh, removes=self.person_null == "remove")
        for kind in ("id", "email"):  # identifying by one identifier may set the other
            if isinstance(fresh.get(kind), str) and fresh[kind]:
                self._set_identifier(person, kind, fresh[kind])
        return len(attributes) - len(fresh)


def _merge(stored: dict[str, Any], attributes: dict[str, Any], removes: bool) -> None:
    """Set attributes; with `removes`, `null` and `""` remove theirs instead."""
    for name, value in attributes.items():
        if removes and value in REMOVES:
            stored.pop(name, None)
        else:
            stored[name] = value


def _indexed(kind: str, value: str) -> tuple[str, str]:
    """An identifier as Customer.io compares it: emails case-insensitively, ids exactly."""
    return kind, value.lower() if kind == "email" else value


def _key(identifiers: dict[str, str]) -> tuple[str, str]:
    ((kind, value),) = identifiers.items()
    return kind, value


def _check_person_identifiers(identifiers: Any, where: str) -> None:
    if not isinstance(identifiers, dict) or len(identifiers) != 1 or not set(identifiers) <= IDENTIFIERS:
        raise EntryError("invalid_identifiers", where, "exactly one of id, email or cio_id is required")
    ((kind, value),) = identifiers.items()
    if not isinstance(value, str) or not value.strip():
        raise EntryError("invalid_identifiers", f"{where}.{kind}", f"{kind} must be a non-empty string")


def _check_attribute_sizes(attributes: dict[str, Any], where: str) -> None:
    for name, value in attributes.items():
        if len(name.encode()) > 150:
            raise EntryError("attribute_too_long", f"{where}.{name}", "attribute name > 150 bytes")
        size = len(value.encode()) if isinstance(value, str) else len(_encode(value))
        if value is not None and size > 1000:
            raise EntryError(
                "attribute_too_long",
                f"{where}.{name}",
                f"value for attribute '{name}' cannot be longer than 1000 bytes",
            )


def _check_timestamp(entry: dict[str, Any]) -> None:
    timestamp = entry.get("timestamp")
    if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
        raise EntryError("invalid_timestamp", "timestamp", "timestamp must be unix seconds (an integer)")
    if timestamp is not None and abs(timestamp) >= MILLISECONDS_FROM:
        raise EntryError("invalid_timestamp", "timestamp", "timestamp looks like milliseconds; send seconds")


def _check_event(entry: dict[str, Any]) -> None:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise EntryError("invalid_name", "name", "event name must not be blank")
    if len(name.encode()) > 100:
        raise EntryError("invalid_name", "name", "event name cannot be longer than 100 bytes")
    _check_timestamp(entry)
    if "id" in entry and not (isinstance(entry["id"], str) and ULID.fullmatch(entry["id"])):
        raise EntryError("invalid_id", "id", "an event id must be a ULID")


def _error(reason: str, message: str) -> dict[str, Any]:
    return {"errors": [{"reason": reason, "message": message}]}


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground; the line printed names the base URL and the credentials to use."""
    parser = cli.parser("customerio", DEFAULT_PORT, "Customer.io's Track API, in memory.", SEED_SHAPE)
    parser.add_argument("--site-id", default=SITE_ID, help="Track API site id to accept")
    parser.add_argument("--api-key", default=API_KEY, help="Track API key paired with it")
    parser.add_argument("--region", choices=["us", "eu"], default="us", help="the account's data center")
    args = parser.parse_args(argv)
    fake = CustomerIoFake(credentials={args.site_id: args.api_key}, data_center=args.region, port=args.port)
    return cli.serve(
        fake,
        parser,
        args,
        "Customer.io fake",
        f"site id {args.site_id}, API key {args.api_key}, region {args.region}",
    )


if __name__ == "__main__":
    sys.exit(main())
